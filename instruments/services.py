"""Every write about questionnaires goes through here, in a transaction, with its audit event."""
from __future__ import annotations

import copy
import csv
import datetime
import io
import logging
import time
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from audit import services as audit
from instruments import links, scoring
from instruments.exceptions import (
    AlreadySubmitted,
    Incomplete,
    InvalidAnswers,
    InvalidKey,
    InvalidWording,
    NotOpen,
    PaperEntryRefused,
    WindowUnknown,
    WordingMissing,
)
from instruments.keys import InvalidDefinition, Key
from instruments.models import (
    Administration,
    Answer,
    Instrument,
    ItemWording,
    PaperEntry,
    ParticipantLink,
    Reminder,
    ReminderAttempt,
    Score,
    Submission,
    TimePointInstrument,
    TimePointWindow,
)
from trial.models import Participant, TimePoint

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 3
WORDING_MAX_CHARS = 2000
WORDING_MAX_ROWS = 5000


def key_of(instrument: Instrument) -> Key:
    return Key.from_definition(instrument.definition)


def instruments_of(time_point: TimePoint) -> list[Instrument]:
    links_ = TimePointInstrument.objects.filter(time_point=time_point).select_related("instrument")
    return [link.instrument for link in links_]


# Windows ------------------------------------------------------------------------------------


def _session_dates(trial) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """First start and last end of the trial's live, analysed group sessions (sessions app)."""
    from django.apps import apps

    try:
        group_session = apps.get_model("group_sessions", "GroupSession")
    except LookupError:
        return None, None
    sessions = group_session.objects.filter(group__arm__trial=trial, group__outside_analysis=False).exclude(
        status="cancelled"
    )
    first = sessions.order_by("starts_at").first()
    last = sessions.order_by("-starts_at").first()
    if first is None:
        return None, None
    return first.starts_at, last.starts_at + datetime.timedelta(minutes=last.duration_minutes)


def anchor_date(time_point: TimePoint) -> datetime.datetime | None:
    """When the time point's window opens, as far as the schedule is known (None if not yet)."""
    opened = TimePointWindow.objects.filter(time_point=time_point).first()
    if opened is not None:
        return opened.opens_at
    offset = datetime.timedelta(days=time_point.offset_days)
    if time_point.anchor == TimePoint.Anchor.AFTER_TIME_POINT and time_point.anchor_time_point_id:
        base = anchor_date(time_point.anchor_time_point)
        return base + offset if base else None
    first, last = _session_dates(time_point.trial)
    if time_point.anchor == TimePoint.Anchor.BEFORE_FIRST_SESSION and first:
        return first + offset - datetime.timedelta(days=time_point.window_days)
    if time_point.anchor == TimePoint.Anchor.AFTER_LAST_SESSION and last:
        return last + offset
    return None


def window_of(time_point: TimePoint) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    opened = TimePointWindow.objects.filter(time_point=time_point).first()
    if opened is not None:
        return opened.opens_at, opened.closes_at
    opens_at = anchor_date(time_point)
    if opens_at is None:
        return None, None
    return opens_at, opens_at + datetime.timedelta(days=time_point.window_days)


def missing_wording(time_point: TimePoint) -> list[str]:
    """Why the time point cannot open: licensed instruments without imported wording."""
    language = time_point.trial.language
    problems = []
    for instrument in instruments_of(time_point):
        if not instrument.definition.get("licensed"):
            continue
        item_ids = {item["id"] for item in instrument.definition["items"]}
        worded = set(
            ItemWording.objects.filter(
                trial=time_point.trial, instrument_code=instrument.code, language=language, item_id__in=item_ids
            ).values_list("item_id", flat=True)
        )
        if worded != item_ids:
            problems.append(
                f"{instrument.name} is licensed and its wording is not shipped: {len(item_ids - worded)} of "
                f"{len(item_ids)} items have no text in '{language}'. A researcher who holds the licence "
                f"imports it as CSV (columns item_id, language, text)."
            )
    return problems


# Administrations and links ------------------------------------------------------------------


@transaction.atomic
def create_administrations(time_point: TimePoint, participants: Iterable[Participant], *, by) -> list[Administration]:
    """One administration per participant at this time point (idempotent), audited as one event.

    The window comes from the time point and the schedule as far as known; it stays empty (not
    open) while a licensed instrument has no imported wording.
    """
    participants = list(participants)
    strangers = [p for p in participants if p.trial_id != time_point.trial_id]
    if strangers:
        raise InvalidAnswers(
            f"{', '.join(map(str, strangers))} do not belong to the trial of {time_point}; "
            "only the trial's own participants can be given its questionnaires."
        )
    opens_at, closes_at = window_of(time_point)
    ready = not missing_wording(time_point)
    if not ready:
        opens_at = closes_at = None
    elif opens_at is None and time_point.anchor == TimePoint.Anchor.SCREENING_OPENS:
        # Screening opens when its questionnaires are handed out; later additions share the window.
        opens_at = timezone.now() + datetime.timedelta(days=time_point.offset_days)
        closes_at = opens_at + datetime.timedelta(days=time_point.window_days)
        TimePointWindow.objects.create(time_point=time_point, opens_at=opens_at, closes_at=closes_at, opened_by=_user(by))
    existing = {a.participant_id: a for a in Administration.objects.filter(time_point=time_point)}
    created, result = [], []
    for participant in participants:
        administration = existing.get(participant.pk)
        if administration is None:
            administration = Administration.objects.create(
                participant=participant, time_point=time_point, opens_at=opens_at, closes_at=closes_at
            )
            existing[participant.pk] = administration
            created.append(participant.pseudonym)
        elif administration.opens_at is None and opens_at is not None:
            administration.opens_at, administration.closes_at = opens_at, closes_at
            administration.save(update_fields=["opens_at", "closes_at"])
        result.append(administration)
    if created:
        audit.record(
            "instruments.administrations.created", time_point, by=by,
            after={"participants": created, "opens_at": opens_at, "closes_at": closes_at},
        )
    return result


@transaction.atomic
def open_time_point(time_point: TimePoint, *, by, opens_at: datetime.datetime | None = None) -> TimePointWindow:
    """Open a time point's window for its participants (at `opens_at`, else the scheduled date)."""
    problems = missing_wording(time_point)
    if problems:
        raise WordingMissing(f"{time_point} cannot open yet. " + " ".join(problems))
    if not instruments_of(time_point):
        raise WordingMissing(f"{time_point} has no questionnaire; add at least one instrument before opening it.")
    opens_at = opens_at or anchor_date(time_point)
    if opens_at is None:
        raise WindowUnknown(
            f"The date {time_point} opens on is not known yet (its anchor's schedule is not set); give the date."
        )
    closes_at = opens_at + datetime.timedelta(days=time_point.window_days)
    window, _ = TimePointWindow.objects.update_or_create(
        time_point=time_point, defaults={"opens_at": opens_at, "closes_at": closes_at, "opened_by": _user(by)}
    )
    participants = time_point.trial.participants.active()
    if not time_point.is_screening:
        participants = participants.enrolled()
    create_administrations(time_point, participants, by=by)
    moved = Administration.objects.filter(time_point=time_point, submission__isnull=True).update(
        opens_at=opens_at, closes_at=closes_at
    )
    audit.record(
        "instruments.time_point.opened", time_point, by=by,
        after={"opens_at": opens_at, "closes_at": closes_at, "administrations": moved},
    )
    return window


@transaction.atomic
def issue_link(administration: Administration, *, by) -> str:
    """A new personal link; returns its URL path with the raw token, which is never stored."""
    token = links.new_token()
    link = ParticipantLink.objects.create(
        administration=administration, token_hash=links.token_hash(token), created_by=_user(by)
    )
    audit.record("instruments.link.issued", administration, by=by, after={"link": link.pk})
    return reverse("instruments:link", args=[token])


def note_link_opened(link: ParticipantLink, *, now) -> None:
    """Remember (and audit) the first time a link was opened; later visits change nothing."""
    if link.first_used_at is not None:
        return
    with transaction.atomic():
        if ParticipantLink.objects.filter(pk=link.pk, first_used_at__isnull=True).update(first_used_at=now):
            link.first_used_at = now
            audit.record("instruments.link.opened", link.administration, by=None, after={"link": link.pk})


@transaction.atomic
def revoke_links(administration: Administration, *, by) -> int:
    """Every live link of the administration stops working (e.g. a slip was lost)."""
    revoked = ParticipantLink.objects.live().filter(administration=administration).update(revoked_at=timezone.now())
    if revoked:
        audit.record("instruments.links.revoked", administration, by=by, after={"links": revoked})
    return revoked


@transaction.atomic
def issue_links(administrations: Iterable[Administration], *, by, purpose: str) -> list[tuple[Administration, str]]:
    """Links for many administrations (printed slips), audited as one event."""
    issued = []
    for administration in administrations:
        token = links.new_token()
        ParticipantLink.objects.create(
            administration=administration, token_hash=links.token_hash(token), created_by=_user(by)
        )
        issued.append((administration, reverse("instruments:link", args=[token])))
    if issued:
        audit.record(
            "instruments.links.issued", issued[0][0].time_point, by=by,
            after={"purpose": purpose, "participants": [str(a.participant) for a, _ in issued]},
        )
    return issued


def _user(by):
    return by if by is not None and getattr(by, "is_authenticated", False) else None


# Wording ------------------------------------------------------------------------------------


@transaction.atomic
def import_wording(trial, instrument: Instrument, csv_text: str, *, by) -> int:
    """Import item texts from CSV (item_id, language, text); all rows valid or nothing is written."""
    languages = {code for code, _ in settings.LANGUAGES}
    item_ids = [item["id"] for item in instrument.definition["items"]]
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if header[:3] != ["item_id", "language", "text"]:
        raise InvalidWording(
            f"The first line must be the header 'item_id,language,text' (found '{','.join(reader.fieldnames or [])}')."
        )
    errors, rows, seen = [], [], set()
    for line, row in enumerate(reader, start=2):
        if line - 1 > WORDING_MAX_ROWS:
            raise InvalidWording(f"The file has more than {WORDING_MAX_ROWS} rows; import one instrument at a time.")
        values = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        item_id, language, text = values.get("item_id", ""), values.get("language", ""), values.get("text", "")
        if item_id not in item_ids:
            errors.append(f"line {line}: '{item_id}' is not an item of {instrument.code} (items {item_ids[0]}..{item_ids[-1]})")
        if language not in languages:
            errors.append(f"line {line}: language '{language}' is not one of {', '.join(sorted(languages))}")
        if not text:
            errors.append(f"line {line}: the text is empty")
        elif len(text) > WORDING_MAX_CHARS:
            errors.append(f"line {line}: the text is longer than {WORDING_MAX_CHARS} characters")
        if (item_id, language) in seen:
            errors.append(f"line {line}: item {item_id} in '{language}' appears twice")
        seen.add((item_id, language))
        rows.append((item_id, language, text))
    if errors:
        shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise InvalidWording(f"Nothing was imported: {shown}.")
    if not rows:
        raise InvalidWording("Nothing was imported: the file has a header but no rows.")
    for item_id, language, text in rows:
        ItemWording.objects.update_or_create(
            trial=trial, instrument_code=instrument.code, item_id=item_id, language=language,
            defaults={"text": text, "imported_by": _user(by)},
        )
    audit.record(
        "instruments.wording.imported", instrument, by=by,
        after={"trial": trial.slug, "rows": len(rows), "languages": sorted({r[1] for r in rows})},
    )
    return len(rows)


# Answers and submissions --------------------------------------------------------------------


# Autosave is the hot path: the keys of a time point are kept per process for a minute.
# Submitting and scoring always read them afresh, so a stale entry can at worst accept an
# answer the submit then refuses with a clear message (key corrections keep item ids).
_KEYS_TTL_S = 60.0
_keys_cache: dict[int, tuple[float, dict[str, Key]]] = {}


def forget_cached_keys() -> None:
    _keys_cache.clear()


def _cached_keys(time_point_id: int, *, codes=()) -> dict[str, Key]:
    now = time.monotonic()
    cached = _keys_cache.get(time_point_id)
    if cached is None or cached[0] < now or not set(codes) <= set(cached[1]):
        links_ = TimePointInstrument.objects.filter(time_point_id=time_point_id).select_related("instrument")
        cached = (now + _KEYS_TTL_S, {link.instrument.code: key_of(link.instrument) for link in links_})
        _keys_cache[time_point_id] = cached
    return cached[1]


def _checked_answers(administration: Administration, answers: Mapping[str, Mapping[str, object]], *,
                     cached: bool = False) -> list[tuple]:
    """Validate {code: {item: value}} against the time point's instruments; InvalidAnswers says why."""
    if cached:
        keys = _cached_keys(administration.time_point_id, codes=answers.keys())
    else:
        keys = {i.code: key_of(i) for i in instruments_of(administration.time_point)}
    checked, errors = [], []
    for code, items in answers.items():
        key = keys.get(code)
        if key is None:
            errors.append(f"'{code}' is not a questionnaire of this time point ({', '.join(keys) or 'none'})")
            continue
        for item_id, value in items.items():
            declined = value == links.DECLINED
            if declined and not key.prefer_not_to_answer:
                errors.append(f"{code} item {item_id}: 'prefer not to answer' is not offered by this questionnaire")
                continue
            try:
                checked_value = None if declined else scoring.check_answer(key, str(item_id), value)
            except scoring.InvalidAnswer as exc:
                errors.append(str(exc))
                continue
            if checked_value is not None or declined:  # None: not answered, nothing to store
                checked.append((code, str(item_id), checked_value, declined))
    if errors:
        raise InvalidAnswers("; ".join(errors[:10]) + ".")
    return checked


def _lock_open(administration: Administration | None, now, *, rows=None) -> Administration:
    """Lock the administration's row (or the one `rows` selects) and check it takes answers.

    One round trip: the row lock and whether a submission exists (autosave is the hot path).
    """
    rows = rows if rows is not None else Administration.objects.filter(pk=administration.pk)
    locked = (rows.select_for_update(of=("self",))
              .annotate(submitted_at=Subquery(Submission.objects.filter(administration=OuterRef("pk")).values("submitted_at")[:1]))
              .order_by().get())
    if locked.submitted_at is not None:
        raise AlreadySubmitted(
            f"This questionnaire was already submitted on {timezone.localtime(locked.submitted_at):%Y-%m-%d %H:%M}; "
            "it cannot be changed."
        )
    if not locked.is_open_at(now):
        raise NotOpen(_closed_message(locked, now))
    return locked


def _closed_message(administration: Administration, now) -> str:
    if administration.opens_at is None or now < administration.opens_at:
        return "This questionnaire is not open yet."
    return f"This questionnaire closed on {timezone.localtime(administration.closes_at):%Y-%m-%d %H:%M}."


def _store(administration: Administration, checked: list[tuple]) -> None:
    Answer.objects.bulk_create(
        [Answer(administration=administration, instrument_code=code, item_id=item_id, value=value, declined=declined)
         for code, item_id, value, declined in checked],
        update_conflicts=True, unique_fields=["administration", "instrument_code", "item_id"],
        update_fields=["value", "declined", "saved_at"],
    )


def save_answers(administration: Administration, answers: Mapping[str, Mapping[str, object]], *, by=None) -> int:
    """Autosave: store the given answers as they are now (overwriting earlier ones), audited.

    The administration row is locked, so an answer can never land after the submission.
    """
    return _save(answers, by=by, administration=administration)[1]


def save_answers_by_link(link_id: int, answers: Mapping[str, Mapping[str, object]]) -> tuple[Administration, int]:
    """The autosave request's path: the link's check and the row lock are one query
    (the administration comes back with the trial's `language`).

    Administration.DoesNotExist when the link is unknown, revoked, or its participant withdrew.
    """
    # participant and time point: the audit event names the administration by them.
    rows = Administration.objects.select_related("participant", "time_point").annotate(
        language=F("participant__trial__language")
    ).filter(
        links__pk=link_id, links__revoked_at__isnull=True, participant__withdrawn_at__isnull=True
    )
    return _save(answers, by=None, rows=rows)


def _save(answers, *, by, administration=None, rows=None) -> tuple[Administration, int]:
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_open(administration, now, rows=rows)
        checked = _checked_answers(locked, answers, cached=True)
        if not checked:
            return locked, 0
        _store(locked, checked)
        if locked.started_at is None:
            Administration.objects.filter(pk=locked.pk).update(started_at=now)
            locked.started_at = now
            if administration is not None:
                administration.started_at = now
        audit.record(
            "instruments.answers.saved", administration or locked, by=by,
            after={f"{code}.{item}": ("declined" if declined else value) for code, item, value, declined in checked},
        )
    return locked, len(checked)


def answers_of(administration: Administration) -> dict[str, dict[str, object]]:
    result: dict[str, dict[str, object]] = {}
    for answer in Answer.objects.filter(administration=administration):
        result.setdefault(answer.instrument_code, {})[answer.item_id] = links.DECLINED if answer.declined else answer.value
    return result


def unanswered(administration: Administration, answers=None) -> dict[str, list[str]]:
    """Required items without an answer (or an allowed 'prefer not to answer'), per instrument code."""
    answers = answers_of(administration) if answers is None else answers
    missing = {}
    for instrument in instruments_of(administration.time_point):
        given = answers.get(instrument.code, {})
        gaps = [item["id"] for item in instrument.definition["items"]
                if item.get("required", True) and given.get(item["id"]) is None]
        if gaps:
            missing[instrument.code] = gaps
    return missing


def _score(administration: Administration, answers: Mapping[str, Mapping[str, object]]) -> list[Score]:
    scores = []
    for instrument in instruments_of(administration.time_point):
        scores.append(_score_one(administration, instrument, answers.get(instrument.code, {})))
    return scores


def _score_one(administration, instrument: Instrument, given: Mapping[str, object]) -> Score:
    values = {item_id: (None if value == links.DECLINED else value) for item_id, value in given.items()}
    result = scoring.score(key_of(instrument), values)
    return Score.objects.create(
        administration=administration, instrument=instrument,
        scoring_version=instrument.definition.get("scoring_version", 1),
        total=result.total, subscales=dict(result.subscales), missing_items=result.missing_items,
        rule_applied=result.rule_applied,
    )


def submit_response(administration: Administration, *, answers=None, by=None) -> Submission:
    """Store the one submission of an online questionnaire, score it and audit it.

    A second submit (double click, two tabs, a replay) raises AlreadySubmitted: the row lock
    serialises the two requests and the one-to-one column is the backstop.
    """
    checked = _checked_answers(administration, answers or {})
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_open(administration, now)
        if checked:
            _store(locked, checked)
        stored = answers_of(locked)
        gaps = unanswered(locked, stored)
        if gaps:
            listed = "; ".join(f"{code}: items {', '.join(items)}" for code, items in gaps.items())
            raise Incomplete(f"Please answer every question before submitting. Still unanswered: {listed}.")
        try:
            with transaction.atomic():
                submission = Submission.objects.create(administration=locked, provenance=Submission.Provenance.ONLINE)
        except IntegrityError as exc:
            raise AlreadySubmitted("This questionnaire was already submitted; it cannot be submitted twice.") from exc
        scores = _score(locked, stored)
        audit.record(
            "instruments.submission.submitted", locked, by=by,
            after={"provenance": "online", "scores": {s.instrument.code: s.total for s in scores}},
        )
    return submission


# Paper forms --------------------------------------------------------------------------------


def _paper_answers(administration: Administration, answers: Mapping[str, Mapping[str, object]]) -> dict:
    checked = _checked_answers(administration, answers)
    result: dict[str, dict[str, object]] = {}
    for code, item_id, value, declined in checked:
        result.setdefault(code, {})[item_id] = links.DECLINED if declined else value
    return result


def _finalise_paper(administration, answers: dict, *, form_date, entered_by, by) -> Submission:
    checked = [(code, item, None if v == links.DECLINED else v, v == links.DECLINED)
               for code, items in answers.items() for item, v in items.items() if v is not None]
    Answer.objects.filter(administration=administration).delete()
    if checked:
        _store(administration, checked)
    submission = Submission.objects.create(
        administration=administration, provenance=Submission.Provenance.PAPER, entered_by=entered_by, form_date=form_date
    )
    scores = _score(administration, answers)
    audit.record(
        "instruments.submission.entered_from_paper", administration, by=by,
        after={"form_date": form_date, "entered_by": entered_by.get_username(),
               "scores": {s.instrument.code: s.total for s in scores}},
    )
    return submission


def paper_mismatches(first: PaperEntry, second: PaperEntry) -> list[tuple[str, str, object, object]]:
    """(instrument code, item id, first value, second value) for every item typed differently."""
    diffs = []
    codes = sorted(set(first.answers) | set(second.answers))
    for code in codes:
        a, b = first.answers.get(code, {}), second.answers.get(code, {})
        for item_id in sorted(set(a) | set(b), key=lambda i: (len(i), i)):
            if a.get(item_id) != b.get(item_id):
                diffs.append((code, item_id, a.get(item_id), b.get(item_id)))
    if first.form_date != second.form_date:
        diffs.append(("form", "date", first.form_date.isoformat(), second.form_date.isoformat()))
    return diffs


def enter_paper_form(administration: Administration, *, answers, form_date: datetime.date, by,
                     double_entry: bool = False) -> PaperEntry:
    """Staff typing of a paper form. Single entry is scored at once; double entry waits for a
    second typist (someone else), and differences wait for a third person's adjudication."""
    cleaned = _paper_answers(administration, answers)
    if form_date > timezone.localdate():
        raise InvalidAnswers(f"The date on the form ({form_date}) is in the future; give the date written on the form.")
    with transaction.atomic():
        locked = Administration.objects.select_for_update().get(pk=administration.pk)
        if Submission.objects.filter(administration=locked).exists():
            raise AlreadySubmitted("This questionnaire has a submission already; a paper form cannot be added.")
        entries = list(PaperEntry.objects.filter(administration=locked))
        if len(entries) >= 2:
            raise PaperEntryRefused("This form has been typed twice; the differences are waiting for adjudication.")
        if entries and not entries[0].double_entry:
            raise PaperEntryRefused("This form was entered once without double entry and is already final.")
        if entries and entries[0].entered_by_id == by.pk:
            raise PaperEntryRefused("The second typing of a double-entered form must be done by someone else.")
        entry = PaperEntry.objects.create(
            administration=locked, entry_number=len(entries) + 1,
            double_entry=entries[0].double_entry if entries else double_entry,
            answers=cleaned, form_date=form_date, entered_by=by,
        )
        audit.record(
            "instruments.paper.entered", locked, by=by,
            after={"entry": entry.entry_number, "double_entry": entry.double_entry, "form_date": form_date},
        )
        if not entry.double_entry:
            _finalise_paper(locked, cleaned, form_date=form_date, entered_by=by, by=by)
        elif entries and not paper_mismatches(entries[0], entry):
            _finalise_paper(locked, cleaned, form_date=form_date, entered_by=entries[0].entered_by, by=by)
    return entry


def adjudicate_paper_form(administration: Administration, *, resolved: Mapping[str, Mapping[str, object]],
                          form_date: datetime.date | None = None, by) -> Submission:
    """A third person settles every item the two typists disagree on; only then is it scored."""
    with transaction.atomic():
        locked = Administration.objects.select_for_update().get(pk=administration.pk)
        if Submission.objects.filter(administration=locked).exists():
            raise AlreadySubmitted("This questionnaire has a submission already.")
        entries = list(PaperEntry.objects.filter(administration=locked))
        if len(entries) != 2:
            raise PaperEntryRefused("Adjudication needs two typings of the form; there are "
                                    f"{len(entries)}.")
        first, second = entries
        if by.pk in (first.entered_by_id, second.entered_by_id):
            raise PaperEntryRefused("Adjudication must be done by a third person, not by either typist.")
        diffs = paper_mismatches(first, second)
        needed = {(code, item) for code, item, _, _ in diffs if code != "form"}
        given = {(code, str(item)) for code, items in resolved.items() for item in items}
        if needed - given or given - needed:
            listed = ", ".join(f"{c} {i}" for c, i in sorted(needed)) or "none"
            raise InvalidAnswers(f"Adjudicate exactly the differing items ({listed}).")
        if any(code == "form" for code, *_ in diffs) and form_date is None:
            raise InvalidAnswers(f"The typists gave different form dates ({first.form_date}, {second.form_date}); choose one.")
        cleaned = _paper_answers(locked, {c: {i: v for i, v in items.items() if v is not None} for c, items in resolved.items()})
        merged = copy.deepcopy(first.answers)
        for code, items in resolved.items():
            for item_id in items:
                value = cleaned.get(code, {}).get(str(item_id))
                merged.setdefault(code, {})[str(item_id)] = value
        submission = _finalise_paper(
            locked, merged, form_date=form_date or first.form_date, entered_by=first.entered_by, by=by
        )
        audit.record("instruments.paper.adjudicated", locked, by=by, after={"items": sorted(f"{c}.{i}" for c, i in needed)})
    return submission


# Versions and rescoring ---------------------------------------------------------------------

KEY_FIELDS = ("reverse", "subscales", "scoring", "missing", "scale")


@transaction.atomic
def correct_key(instrument: Instrument, *, changes: Mapping, reason: str, by) -> Instrument:
    """A key correction is a new version (with a new scoring version); old versions stay as they were.

    `changes` replaces top-level key fields (reverse, subscales, scoring, missing, scale) or
    names a `variant` from the definition's key_variants. Time points move to the new version.
    """
    if not reason.strip():
        raise InvalidKey("Say why the key is corrected; the reason is kept in the audit trail.")
    unknown = set(changes) - set(KEY_FIELDS) - {"variant"}
    if unknown:
        raise InvalidKey(f"Only {', '.join(KEY_FIELDS)} or a variant can be corrected; not {', '.join(sorted(unknown))}.")
    latest = Instrument.objects.select_for_update().filter(code=instrument.code).order_by("-version").first()
    definition = copy.deepcopy(latest.definition)
    if "variant" in changes:
        variant = definition.get("key_variants", {}).get(changes["variant"])
        if variant is None:
            raise InvalidKey(f"{instrument.code} has no key variant '{changes['variant']}'; known: "
                             f"{', '.join(definition.get('key_variants', {})) or 'none'}.")
        definition.update({k: copy.deepcopy(v) for k, v in variant.items() if k in KEY_FIELDS})
        definition["variant"] = changes["variant"]
    definition.update({k: copy.deepcopy(v) for k, v in changes.items() if k in KEY_FIELDS})
    definition["version"] = latest.version + 1
    definition["scoring_version"] = latest.definition.get("scoring_version", 1) + 1
    try:
        Key.from_definition(definition)
    except InvalidDefinition as exc:
        raise InvalidKey(f"The corrected key is not valid: {exc}.") from exc
    new = Instrument.objects.create(
        code=latest.code, version=definition["version"], name=latest.name, definition=definition
    )
    moved = TimePointInstrument.objects.filter(instrument__code=latest.code).update(instrument=new)
    audit.record(
        "instruments.instrument.key_corrected", new, by=by, reason=reason,
        before={k: latest.definition.get(k) for k in (*KEY_FIELDS, "variant", "version")},
        after={**{k: definition.get(k) for k in (*KEY_FIELDS, "variant", "version")}, "time_points": moved},
    )
    return new


@transaction.atomic
def rescore(instrument: Instrument, *, reason: str, by) -> int:
    """Score every submission again with this version; the old scores are kept, marked superseded."""
    now = timezone.now()
    old = list(
        Score.objects.current().filter(instrument__code=instrument.code).exclude(instrument=instrument)
        .select_related("administration")
    )
    for score in old:
        answers = answers_of(score.administration).get(instrument.code, {})
        Score.objects.filter(pk=score.pk).update(superseded_at=now)
        _score_one(score.administration, instrument, answers)
    audit.record(
        "instruments.instrument.rescored", instrument, by=by, reason=reason,
        after={"scores": len(old), "scoring_version": instrument.definition.get("scoring_version")},
    )
    return len(old)


# Invitations and reminders ------------------------------------------------------------------


def due_slots(administration: Administration, now) -> list[str]:
    """The schedule's slots (day N of the window) that have come, while the window is open."""
    if not administration.is_open_at(now):
        return []
    days = administration.time_point.reminder_days or [0]
    return [f"day-{day}" for day in sorted(set(days))
            if administration.opens_at + datetime.timedelta(days=day) <= now]


def _skip_reason(administration: Administration, now) -> str:
    participant = administration.participant
    if participant.withdrawn_at is not None:
        return "participant withdrawn"
    if Submission.objects.filter(administration=administration).exists():
        return "already submitted"
    if not administration.is_open_at(now):
        return "window not open"
    if not participant.email:
        return "no e-mail address (print a slip)"
    return ""


def send_reminder(administration_id: int, *, slot: str, by=None) -> Reminder:
    """Send one slot's e-mail at most once; re-checks, under the administration's lock, that it is
    still wanted. Every attempt is logged; a failure is recorded, not raised."""
    now = timezone.now()
    with transaction.atomic():
        # The lock makes a racing submit wait for this send (or this check see its submission),
        # and a racing second sender wait and then find the slot taken.
        administration = (Administration.objects.select_for_update(of=("self",))
                          .select_related("participant__trial", "time_point").get(pk=administration_id))
        reminder = Reminder.objects.filter(administration=administration, slot=slot).first()
        if reminder is not None and (reminder.status in (Reminder.Status.SENT, Reminder.Status.SKIPPED)
                                     or reminder.attempts.count() >= MAX_SEND_ATTEMPTS):
            return reminder
        if reminder is None:
            try:
                with transaction.atomic():
                    reminder = Reminder.objects.create(administration=administration, slot=slot)
            except IntegrityError:
                return Reminder.objects.get(administration=administration, slot=slot)
        reason = _skip_reason(administration, now)
        if reason:
            reminder.status, reminder.detail = Reminder.Status.SKIPPED, reason
            reminder.save(update_fields=["status", "detail"])
            audit.record("instruments.reminder.skipped", administration, by=by, after={"slot": slot, "reason": reason})
            return reminder
        path = issue_link(administration, by=by)
        error = _send_email(administration, slot, links.absolute(path))
        ReminderAttempt.objects.create(reminder=reminder, succeeded=not error, error=error)
        if error:
            reminder.status, reminder.detail = Reminder.Status.FAILED, error[:300]
        else:
            reminder.status, reminder.sent_at, reminder.detail = Reminder.Status.SENT, now, ""
        reminder.save(update_fields=["status", "sent_at", "detail"])
        audit.record(
            "instruments.reminder.failed" if error else "instruments.reminder.sent", administration, by=by,
            after={"slot": slot, "error": error} if error else {"slot": slot},
        )
    return reminder


def _send_email(administration: Administration, slot: str, url: str) -> str:
    participant = administration.participant
    trial = participant.trial
    first = not Reminder.objects.filter(administration=administration, status=Reminder.Status.SENT).exists()
    context = {"participant": participant, "trial": trial, "time_point": administration.time_point, "url": url,
               "closes_at": administration.closes_at, "invitation": first}
    with translation.override(trial.language):
        subject = render_to_string("instruments/email_reminder_subject.txt", context).strip()
        body = render_to_string("instruments/email_reminder.txt", context)
    try:
        send_mail(subject, body, None, [participant.email])
    except Exception as exc:  # any backend error (SMTP, DNS, refused address) is logged and retried later
        log.warning("reminder for administration %s slot %s failed: %s", administration.pk, slot, exc)
        return f"{type(exc).__name__}: {exc}"
    return ""


def send_due_reminders(now=None) -> dict[str, int]:
    """What the beat task does: every due slot of every open, unsubmitted administration."""
    now = now or timezone.now()
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    candidates = (Administration.objects.filter(opens_at__lte=now, closes_at__gt=now, submission__isnull=True,
                                                participant__withdrawn_at__isnull=True)
                  .select_related("time_point"))
    for administration in candidates:
        done = dict(Reminder.objects.filter(administration=administration).values_list("slot", "status"))
        for slot in due_slots(administration, now):
            if done.get(slot) in (Reminder.Status.SENT, Reminder.Status.SKIPPED):
                continue
            reminder = send_reminder(administration.pk, slot=slot)
            counts[reminder.status] = counts.get(reminder.status, 0) + 1
    return counts


@transaction.atomic
def request_reminders(administrations: Iterable[Administration], *, by) -> list[int]:
    """The one-click reminder: one manual slot per administration and day (a second click is a no-op)."""
    from instruments.tasks import send_reminder_task

    slot = f"manual-{timezone.localdate().isoformat()}"
    ids = [a.pk for a in administrations]
    for administration_id in ids:
        send_reminder_task.delay_on_commit(administration_id, slot)
    if ids:
        audit.record("instruments.reminders.requested", None, by=by, after={"administrations": ids, "slot": slot})
    return ids
