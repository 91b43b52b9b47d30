"""Reads for the exports: who may export, the trial as plain records, and its audit trail.

Exports are for researchers only: facilitators must stay blind to outcomes and monitors see
pseudonyms, not data. Everything leaves here by pseudonym; names, contacts and worker ids are
never read into the records.
"""
from __future__ import annotations

from collections import defaultdict, deque

from django.apps import apps
from django.db.models import CharField, ForeignKey, OneToOneField, Q
from django.db.models.functions import Cast

from audit.models import AuditEvent
from instruments.keys import Key
from instruments.models import Answer, Instrument, Score, Submission, TimePointInstrument
from sessions.selectors import intention_to_treat_participants, per_protocol_participants
from trial.models import Trial

from . import tables

EXPORT_PERMISSION = "trial.manage_trial"


def can_export(user) -> bool:
    return user.is_authenticated and user.has_perm(EXPORT_PERMISSION)


def exportable_trials(user):
    return Trial.objects.all() if can_export(user) else Trial.objects.none()


def randomized_count(trial: Trial) -> int:
    return intention_to_treat_participants(trial).count()


def recent_exports(trial: Trial):
    """The trial's exports, newest first (the audit trail is the record of them)."""
    return AuditEvent.objects.for_object(trial).filter(action="exports.trial.exported")


def _definition_text(value, language: str = "en") -> str:
    if isinstance(value, dict):
        return str(value.get(language) or next(iter(value.values()), ""))
    return str(value or "")


def _instrument_record(instrument: Instrument, *, scoring_versions, time_points) -> tables.Instrument:
    definition = instrument.definition
    key = Key.from_definition(definition)  # the scoring module's reading of the definition
    names = {}
    for subscale in definition.get("subscales", []):
        names[str(subscale["code"])] = _definition_text(subscale.get("name"))
    for variant in definition.get("key_variants", {}).values():
        for subscale in variant.get("subscales", []):
            names.setdefault(str(subscale["code"]), _definition_text(subscale.get("name")))
    labels = definition.get("scale", {}).get("labels", {})
    return tables.Instrument(
        code=instrument.code,
        name=instrument.name,
        version=instrument.version,
        scoring_versions=tuple(sorted(scoring_versions)),
        scale_min=key.scale_min,
        scale_max=key.scale_max,
        scale_labels=dict(labels.get("en") or next(iter(labels.values()), {})),
        items=key.items,
        reverse=tuple(sorted(key.reverse, key=lambda i: (not i.isdigit(), int(i) if i.isdigit() else 0, i))),
        subscales=tuple(
            tables.Subscale(s.code, names.get(s.code, s.code), s.items, key.subscale_range(s)) for s in key.subscales
        ),
        total_range=key.range,
        method=key.method,
        missing_rule=key.missing.describe(len(key.items)),
        time_points=tuple(time_points),
    )


def trial_data(trial: Trial, *, items: bool = False) -> tables.TrialData:
    """The trial as plain records for exports.tables: the intention-to-treat set (everyone
    randomized, sessions.selectors) with per-protocol membership, current scores, and (when
    asked) the answers of submitted questionnaires."""
    itt = intention_to_treat_participants(trial)
    per_protocol = set(per_protocol_participants(trial).values_list("pk", flat=True))
    time_points = list(trial.time_points.order_by("order", "id"))
    arms = list(trial.arms.order_by("order", "id"))

    submitted = defaultdict(set)
    for participant_id, slug in Submission.objects.filter(administration__participant__in=itt).values_list(
        "administration__participant_id", "administration__time_point__slug"
    ):
        submitted[participant_id].add(slug)

    participants = []
    for p in itt.select_related("allocation__arm").order_by("pseudonym"):
        if p.withdrawn_at is not None:
            status = "withdrawn"
        elif p.pk not in per_protocol:
            status = "excluded"
        else:
            status = "completed"
        participants.append(tables.Participant(
            pseudonym=p.pseudonym, arm=p.allocation.arm.slug, sex=p.sex, education_grade=p.education_grade,
            years_of_service=p.years_of_service, status=status, per_protocol=p.pk in per_protocol,
            submitted=tuple(submitted[p.pk]),
        ))

    scores = []
    scoring_versions = defaultdict(set)
    used_instruments: dict[str, Instrument] = {}
    for score in (
        Score.objects.current()
        .filter(administration__participant__in=itt, administration__time_point__trial=trial)
        .select_related("instrument", "administration__participant", "administration__time_point")
    ):
        code = score.instrument.code
        scores.append(tables.Score(
            pseudonym=score.administration.participant.pseudonym, time_point=score.administration.time_point.slug,
            instrument=code, instrument_version=score.instrument.version, scoring_version=score.scoring_version,
            total=score.total, subscales=dict(score.subscales or {}), missing_items=score.missing_items,
        ))
        scoring_versions[code].add(score.scoring_version)
        _keep_newest(used_instruments, score.instrument)

    given = defaultdict(list)
    order = {tp.pk: i for i, tp in enumerate(time_points)}
    links = sorted(
        TimePointInstrument.objects.filter(time_point__trial=trial).select_related("instrument", "time_point"),
        key=lambda link: (order[link.time_point_id], link.order, link.pk),
    )
    for link in links:
        _keep_newest(used_instruments, link.instrument)
        given[link.instrument.code].append(link.time_point.slug)
    # Instruments in the order the trial first gives them; scored-only ones (an unlinked
    # instrument) after them, by code.
    codes = list(dict.fromkeys([link.instrument.code for link in links] + sorted(used_instruments)))
    instruments = tuple(
        _instrument_record(used_instruments[code], scoring_versions=scoring_versions[code], time_points=given[code])
        for code in codes
    )

    answers = ()
    if items:
        answers = tuple(
            tables.Answer(pseudonym, time_point, code, item_id, None if declined else value)
            for pseudonym, time_point, code, item_id, value, declined in Answer.objects.filter(
                administration__participant__in=itt, administration__submission__isnull=False,
            ).values_list(
                "administration__participant__pseudonym", "administration__time_point__slug",
                "instrument_code", "item_id", "value", "declined",
            )
        )

    return tables.TrialData(
        slug=trial.slug,
        title=trial.title,
        arms=tuple(tables.Arm(a.slug, a.name) for a in arms),
        time_points=tuple(tables.TimePoint(tp.slug, tp.name) for tp in time_points),
        instruments=instruments,
        participants=tuple(participants),
        scores=tuple(scores),
        answers=answers,
        items_included=items,
    )


def _keep_newest(found: dict, instrument: Instrument) -> None:
    current = found.get(instrument.code)
    if current is None or instrument.version > current.version:
        found[instrument.code] = instrument


# The audit trail -------------------------------------------------------------------------------


def _path_to_trial(model, depth: int = 4) -> str | None:
    """The ORM lookup from a model to its trial (e.g. "administration__participant__trial"),
    following foreign keys breadth first; None for models that belong to no trial."""
    if model is Trial:
        return "pk"
    queue = deque([(model, "")])
    seen = {model}
    while queue:
        current, path = queue.popleft()
        if path.count("__") >= depth:
            continue
        for field in current._meta.get_fields():
            if not isinstance(field, ForeignKey | OneToOneField) or field.related_model is None:
                continue
            lookup = f"{path}__{field.name}" if path else field.name
            if field.related_model is Trial:
                return lookup
            if field.related_model not in seen:
                seen.add(field.related_model)
                queue.append((field.related_model, lookup))
    return None


def trial_audit_events(trial: Trial):
    """Every audit event about an object of the trial (the trial itself, its participants,
    allocations, questionnaires, sessions, analyses, exports, ...), oldest first."""
    condition = Q(pk__in=[])
    object_types = AuditEvent.objects.exclude(object_type="").values_list("object_type", flat=True).distinct()
    for object_type in sorted(set(object_types)):
        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):
            continue
        path = _path_to_trial(model)
        if path is None:
            continue
        ids = model._default_manager.filter(**{path: trial.pk if path == "pk" else trial}).annotate(
            exported_id=Cast("pk", CharField())
        ).values("exported_id")
        condition |= Q(object_type=object_type, object_id__in=ids)
    return AuditEvent.objects.filter(condition).order_by("created", "id")


def identities(trial: Trial) -> list[str]:
    """The trial's names, contacts and worker ids: never to appear in an exported file."""
    values = trial.participants.values_list("name", "email", "phone", "worker_id")
    return [value for row in values for value in row if value]
