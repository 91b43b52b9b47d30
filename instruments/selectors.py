"""Reads about questionnaires, shaped for who asks.

Answers and scores are for researchers only: facilitators (who must stay blind to outcomes)
and monitors (who see pseudonyms and data quality, not data) get none, from here or anywhere.
"""
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from instruments.models import (
    Administration,
    Answer,
    Instrument,
    ItemWording,
    ParticipantLink,
    Reminder,
    Score,
    Submission,
)
from instruments.services import instruments_of, key_of, missing_wording, unanswered


def sees_answers(user) -> bool:
    """The one rule: only researchers see answers and scores."""
    return user.is_authenticated and user.has_perm("trial.manage_trial")


def visible_administrations(user):
    if not sees_answers(user):
        return Administration.objects.none()
    return Administration.objects.select_related("participant", "time_point__trial")


def visible_submissions(user):
    if not sees_answers(user):
        return Submission.objects.none()
    return Submission.objects.select_related("administration__participant", "administration__time_point")


def visible_scores(user):
    if not sees_answers(user):
        return Score.objects.none()
    return Score.objects.select_related("instrument", "administration__participant")


def visible_instruments(user):
    if not (user.has_perm("trial.manage_trial") or user.has_perm("trial.monitor_trial")):
        return Instrument.objects.none()
    return Instrument.objects.all()


# The participant's pages --------------------------------------------------------------------


def resume_step(administration: Administration) -> int:
    """The first instrument (1-based) with an unanswered item; the last one when all are answered."""
    instruments = instruments_of(administration.time_point)
    gaps = unanswered(administration)
    for number, instrument in enumerate(instruments, start=1):
        if instrument.code in gaps:
            return number
    return max(len(instruments), 1)


def answered_count(administration: Administration) -> int:
    return Answer.objects.filter(administration=administration).count()


def item_texts(trial, instrument: Instrument, language: str) -> dict[str, str]:
    """Imported wording in the language (English as the fallback); placeholders where none."""
    rows = ItemWording.objects.filter(trial=trial, instrument_code=instrument.code, language__in=[language, "en"])
    texts: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r.language == language):
        texts[row.item_id] = row.text
    return texts


def scale_options(instrument: Instrument, language: str) -> list[tuple[int, str]]:
    scale = instrument.definition["scale"]
    labels = scale.get("labels", {})
    chosen = labels.get(language) or labels.get("en") or {}
    return [(value, chosen.get(str(value), str(value))) for value in range(scale["min"], scale["max"] + 1)]


@dataclass
class ItemView:
    id: str
    field: str
    text: str
    value: object
    missing: bool = False
    placeholder: bool = False


def step_context(administration: Administration, instruments, step: int, *, language: str) -> dict:
    instrument = instruments[step - 1]
    trial = administration.participant.trial
    texts = item_texts(trial, instrument, language)
    given = {a.item_id: ("declined" if a.declined else a.value)
             for a in Answer.objects.filter(administration=administration, instrument_code=instrument.code)}
    items = [
        ItemView(id=item["id"], field=f"{instrument.code}:{item['id']}",
                 text=texts.get(item["id"]) or _("Item %(number)s") % {"number": item["id"]},
                 value=given.get(item["id"]), missing=given.get(item["id"]) is None,
                 placeholder=item["id"] not in texts)
        for item in instrument.definition["items"]
    ]
    total_items = sum(len(i.definition["items"]) for i in instruments)
    return {
        "administration": administration,
        "trial": trial,
        "instrument": instrument,
        "instrument_name": instrument.definition.get("title", {}).get(language) or instrument.name,
        "items": items,
        "options": scale_options(instrument, language),
        "prefer_not": key_of(instrument).prefer_not_to_answer,
        "step": step,
        "steps": len(instruments),
        "answered": answered_count(administration),
        "total_items": total_items,
        "placeholders": not texts,
    }


# Staff pages --------------------------------------------------------------------------------


@dataclass
class CompletionRow:
    arm: str
    total: int = 0
    invited: int = 0
    started: int = 0
    submitted: int = 0
    overdue: int = 0


def completion(time_point, *, now=None) -> dict:
    """Invited, started, submitted and overdue per arm, and who is still missing."""
    now = now or timezone.now()
    administrations = (
        Administration.objects.filter(time_point=time_point)
        .select_related("participant__allocation__arm")
        .annotate(
            submitted=Exists(Submission.objects.filter(administration=OuterRef("pk"))),
            invited=Exists(ParticipantLink.objects.filter(administration=OuterRef("pk")))
            | Exists(Reminder.objects.filter(administration=OuterRef("pk"), status=Reminder.Status.SENT)),
            has_answers=Exists(Answer.objects.filter(administration=OuterRef("pk"))),
        )
        .order_by("participant__pseudonym")
    )
    rows: dict[str, CompletionRow] = {}
    missing = []
    for administration in administrations:
        allocation = getattr(administration.participant, "allocation", None)
        arm = allocation.arm.name if allocation else _("Not allocated")
        row = rows.setdefault(arm, CompletionRow(arm=arm))
        status = administration.status_at(now, submitted=administration.submitted)
        row.total += 1
        row.invited += administration.invited
        row.started += bool(administration.started_at or administration.has_answers or administration.submitted)
        row.submitted += administration.submitted
        row.overdue += status == Administration.Status.EXPIRED
        if not administration.submitted:
            missing.append({"administration": administration, "status": status, "arm": arm,
                            "label": Administration.Status(status).label,
                            "remindable": status in (Administration.Status.OPEN, Administration.Status.IN_PROGRESS)
                            and bool(administration.participant.email)
                            and administration.participant.withdrawn_at is None})
    totals = CompletionRow(arm=_("All"))
    for row in rows.values():
        for name in ("total", "invited", "started", "submitted", "overdue"):
            setattr(totals, name, getattr(totals, name) + getattr(row, name))
    return {"rows": list(rows.values()), "totals": totals, "missing": missing,
            "problems": missing_wording(time_point), "instruments": instruments_of(time_point)}


def reminder_log(time_point) -> list[Reminder]:
    return list(
        Reminder.objects.filter(administration__time_point=time_point)
        .select_related("administration__participant").prefetch_related("attempts").order_by("-created")[:200]
    )


def paper_state(administration: Administration) -> dict:
    from instruments.services import paper_mismatches

    entries = list(administration.paper_entries.select_related("entered_by"))
    diffs = paper_mismatches(entries[0], entries[1]) if len(entries) == 2 else []
    return {"entries": entries, "mismatches": diffs}


def scores_by_instrument(administration: Administration) -> dict:
    grouped = defaultdict(list)
    for score in Score.objects.filter(administration=administration).select_related("instrument").order_by("-created"):
        grouped[score.instrument.code].append(score)
    return dict(grouped)
