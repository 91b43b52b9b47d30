"""Reads for the trial report: the CONSORT flow from live data, the stored analysis results per
outcome, the scales' reliability in this sample and treatment fidelity.

Every number of the CONSORT diagram is the size of a set of participants computed once in
`_consort_sets`; `consort_participants` returns the same set, so a number and its list agree.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pandas as pd
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from analysis.models import AnalysisRun
from analysis.selectors import analysable_choices
from analysis.services import current_input_hash
from analysis.stats import ENGINE_VERSION, AnalysisInputError
from analysis.stats.reliability import cronbach_alpha
from instruments.keys import Key
from instruments.models import Answer, Score, Submission
from reports.consort import ArmFlow, ConsortFlow, Count
from sessions.models import Group, GroupSession
from sessions.selectors import doses, per_protocol_participants, treatment_fidelity
from trial.models import Consent, Participant, TimePoint

MANAGE = "trial.manage_trial"
MONITOR = "trial.monitor_trial"


def can_read_report(user) -> bool:
    """The aggregate report: researchers, and monitors (who see pseudonyms, never identities)."""
    return user.has_perm(MANAGE) or user.has_perm(MONITOR)


def can_list_participants(user) -> bool:
    """The participants behind a CONSORT number carry names: researchers only."""
    return user.has_perm(MANAGE)


# CONSORT -------------------------------------------------------------------------------------


@dataclass
class _Line:
    label: str
    ids: list[int] = field(default_factory=list)


def _screening_used(trial) -> bool:
    return trial.time_points.filter(is_screening=True).exists()


def _last_time_point(trial) -> TimePoint | None:
    return trial.time_points.filter(is_screening=False).order_by("-order", "-id").first()


def _consort_sets(trial) -> tuple[dict[str, _Line], list[tuple]]:
    """Every CONSORT number as a labelled set of participant ids, keyed for its list page.

    Enrollment: each participant not randomized falls into exactly one exclusion reason (the
    first that applies, in the order of the trial's steps), so assessed = excluded + randomized.
    Per arm: received + did not receive = allocated; analysed per protocol + excluded from it =
    allocated (= analysed ITT). Sub-reasons (criteria, withdrawal reasons) may overlap.
    Returns the sets and, per arm, (arm, groups, facilitators).
    """
    participants = list(
        Participant.objects.filter(trial=trial)
        .select_related("allocation__arm", "eligibility", "exclusion_decision")
        .annotate(has_consent=Exists(Consent.objects.filter(participant=OuterRef("pk"))))
        .order_by("pseudonym")
    )
    screening = _screening_used(trial)
    lines: dict[str, _Line] = {
        "assessed": _Line(_("Assessed for eligibility")),
        "excluded": _Line(_("Excluded")),
    }
    reasons = {}
    if screening:
        reasons["not-screened"] = _Line(_("Did not complete the screening questionnaire"))
        reasons["below-cutoff"] = _Line(_("Below the screening cutoff"))
    reasons["not-eligible"] = _Line(_("Not meeting inclusion criteria"))
    reasons["declined"] = _Line(_("Declined to take part (no consent)"))
    reasons["pending"] = _Line(_("Eligibility not yet confirmed"))
    reasons["withdrew-before"] = _Line(_("Withdrew before randomization"))
    reasons["awaiting"] = _Line(_("Enrolled, not yet randomized"))
    criteria: dict[str, _Line] = {}
    randomized = _Line(_("Randomized"))

    allocated_by_arm: dict[int, list[Participant]] = defaultdict(list)
    for participant in participants:
        lines["assessed"].ids.append(participant.pk)
        allocation = _related(participant, "allocation")
        if allocation is not None:
            randomized.ids.append(participant.pk)
            allocated_by_arm[allocation.arm_id].append(participant)
            continue
        lines["excluded"].ids.append(participant.pk)
        reason = _exclusion_reason(participant, screening=screening)
        reasons[reason].ids.append(participant.pk)
        if reason == "not-eligible":
            check = _related(participant, "eligibility")
            for code in (check.reasons if check else []) or ["unknown"]:
                criteria.setdefault(code, _Line(_criterion_label(code, trial))).ids.append(participant.pk)

    lines.update({f"excluded:{key}": line for key, line in reasons.items()})
    lines.update({f"excluded:not-eligible:{code}": line for code, line in sorted(criteria.items())})
    lines["randomized"] = randomized

    facts = _ArmFacts.of(trial)
    arms_info = []
    for arm in trial.arms.order_by("order", "id"):
        arm_groups = [g for g in facts.groups if g.arm_id == arm.pk]
        facilitators = {user.pk for g in arm_groups for user in g.facilitators.all()}
        arms_info.append((arm, len(arm_groups), len(facilitators)))
        delivered = arm.kind == arm.Kind.ACTIVE or bool(arm_groups)  # a waitlist "receives" waiting
        lines.update(_arm_lines(trial, arm, allocated_by_arm.get(arm.pk, []), facts, delivered=delivered))
    return lines, arms_info


@dataclass
class _ArmFacts:
    """What the per-arm numbers are computed from, read once for all arms."""

    doses: dict
    per_protocol_ids: set
    last: TimePoint | None  # the last time point, once anyone has been given it
    answered_last: set
    groups: list
    held_by_arm: Counter

    @classmethod
    def of(cls, trial) -> _ArmFacts:
        last = _last_time_point(trial)
        if last is not None and not last.administrations.exists():
            last = None  # follow-up not reached: nobody is lost to it yet
        answered = set(Submission.objects.filter(administration__time_point=last)
                       .values_list("administration__participant_id", flat=True)) if last else set()
        groups = list(Group.objects.in_analysis().filter(arm__trial=trial).prefetch_related("facilitators"))
        return cls(
            doses={row.participant.pk: row for row in doses(trial)},
            per_protocol_ids=set(per_protocol_participants(trial).values_list("pk", flat=True)),
            last=last, answered_last=answered, groups=groups,
            held_by_arm=Counter(GroupSession.objects.held().filter(group__in=groups).values_list("group__arm_id", flat=True)),
        )


def _arm_lines(trial, arm, people: list, facts: _ArmFacts, *, delivered: bool) -> dict[str, _Line]:
    """One arm's allocation, follow-up and analysis numbers. Discontinued = withdrew or crossed
    the absence threshold (trial setting); per protocol as sessions.selectors defines it."""
    prefix = f"arm:{arm.slug}"
    lines = {f"{prefix}:allocated": _Line(_("Allocated to %(arm)s") % {"arm": arm.name}, [p.pk for p in people])}

    received, not_received = _Line(_("Received the allocated intervention")), _Line(_("Did not receive the allocated intervention"))
    no_session_yet = _Line(_("No session held yet"))
    never_attended = _Line(_("Attended no session"))
    for person in people:
        row = facts.doses.get(person.pk)
        if not delivered or (row is not None and row.dose.present > 0):
            received.ids.append(person.pk)
        else:
            not_received.ids.append(person.pk)
            (never_attended if facts.held_by_arm.get(arm.pk) else no_session_yet).ids.append(person.pk)
    lines[f"{prefix}:received"] = received
    lines[f"{prefix}:not-received"] = not_received
    lines[f"{prefix}:not-received:no-session"] = no_session_yet
    lines[f"{prefix}:not-received:never-attended"] = never_attended

    withdrawn = [p for p in people if p.withdrawn_at is not None]
    over_threshold = [p for p in people if facts.doses.get(p.pk) is not None and facts.doses[p.pk].passes]
    discontinued = {p.pk for p in withdrawn} | {p.pk for p in over_threshold}
    lines[f"{prefix}:discontinued"] = _Line(_("Discontinued"), [p.pk for p in people if p.pk in discontinued])
    by_reason: dict[str, list[int]] = defaultdict(list)
    for person in withdrawn:
        by_reason[" ".join(person.withdrawal_reason.split()) or _("no reason given")].append(person.pk)
    lines[f"{prefix}:withdrawn"] = _Line(_("Withdrew"), [p.pk for p in withdrawn])
    for index, (reason, ids) in enumerate(sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[0])), start=1):
        lines[f"{prefix}:withdrawn:{index}"] = _Line(reason, ids)
    lines[f"{prefix}:absences"] = _Line(_absence_label(trial), [p.pk for p in over_threshold])
    if facts.last is not None:
        lines[f"{prefix}:lost"] = _Line(
            _("Lost to follow-up (no %(time_point)s)") % {"time_point": facts.last.name},
            [p.pk for p in people if p.pk not in facts.answered_last],
        )

    per_protocol = [p for p in people if p.pk in facts.per_protocol_ids]
    lines[f"{prefix}:itt"] = _Line(_("Analysed, intention to treat"), [p.pk for p in people])
    lines[f"{prefix}:pp"] = _Line(_("Analysed, per protocol"), [p.pk for p in per_protocol])
    kept = {p.pk for p in per_protocol}
    lines[f"{prefix}:excluded-pp"] = _Line(_("Excluded from the per-protocol analysis"), [p.pk for p in people if p.pk not in kept])
    lines[f"{prefix}:excluded-pp:withdrawn"] = _Line(_("Withdrew"), [p.pk for p in withdrawn])
    lines[f"{prefix}:excluded-pp:absences"] = _Line(
        _("Excluded for absences (confirmed)"),
        [p.pk for p in people if p.withdrawn_at is None and p.pk not in kept],
    )
    return lines


def _related(participant, name: str):
    """A one-to-one row of the participant (allocation, eligibility, decision), or None."""
    try:
        return getattr(participant, name)
    except ObjectDoesNotExist:
        return None


def _exclusion_reason(participant, *, screening: bool) -> str:
    """The first step a participant who was not randomized did not pass."""
    if screening and participant.screening_passed is None:
        return "not-screened"
    if screening and participant.screening_passed is False:
        return "below-cutoff"
    if participant.eligible is False:
        return "not-eligible"
    if participant.eligible is None:
        return "pending"
    if not participant.has_consent:
        return "declined"
    if participant.withdrawn_at is not None:
        return "withdrew-before"
    return "awaiting"


def _criterion_label(code: str, trial) -> str:
    labels = {
        "years_of_service": _("fewer than %(n)s years of service") % {"n": trial.min_years_of_service},
        "education": _("education below grade %(n)s") % {"n": trial.min_education_grade},
        "sex": _("not %(sex)s") % {"sex": trial.required_sex},
        "attendance": _("unable to attend the sessions"),
        "screening": _("screening score below the cutoff"),
        "unknown": _("criterion not recorded"),
    }
    return labels.get(code, code)


def _absence_label(trial) -> str:
    if trial.absence_threshold is None:
        return _("Crossed the absence threshold (no threshold set)")
    comparison = "≥" if trial.absence_comparison == "ge" else ">"
    return _("Absences %(comparison)s %(n)s sessions") % {"comparison": comparison, "n": trial.absence_threshold}


def consort_flow(trial) -> ConsortFlow:
    """The CONSORT 2025 flow of the trial from live data (see `_consort_sets` for the rules)."""
    lines, arms_info = _consort_sets(trial)

    def count(key: str) -> Count:
        return Count(lines[key].label, len(lines[key].ids), key)

    def present(keys):
        return tuple(count(key) for key in keys if key in lines and lines[key].ids)

    reason_keys = [key for key in lines if key.startswith("excluded:") and key.count(":") == 1]
    always = {"excluded:below-cutoff", "excluded:not-eligible", "excluded:declined"}
    reasons = []
    for key in reason_keys:
        if lines[key].ids or key in always:
            reasons.append(count(key))
            if key == "excluded:not-eligible":
                reasons += [Count(f"– {c.label}", c.n, c.key) for c in present(
                    k for k in lines if k.startswith("excluded:not-eligible:"))]

    arms = []
    for arm, n_groups, n_facilitators in arms_info:
        prefix = f"arm:{arm.slug}"
        plain = ngettext("%(n)s group", "%(n)s groups", n_groups) % {"n": n_groups} + ", " + ngettext(
            "%(n)s facilitator", "%(n)s facilitators", n_facilitators) % {"n": n_facilitators}
        details = [count(f"{prefix}:received"), count(f"{prefix}:not-received"),
                   *(Count(f"– {c.label}", c.n, c.key) for c in present([f"{prefix}:not-received:no-session",
                                                                     f"{prefix}:not-received:never-attended"])),
                   Count(plain, None)]
        follow_up = []
        if f"{prefix}:lost" in lines:
            follow_up.append(count(f"{prefix}:lost"))
        follow_up.append(count(f"{prefix}:discontinued"))
        withdrawal_reasons = [k for k in lines if k.startswith(f"{prefix}:withdrawn:")]
        follow_up.append(Count(f"– {lines[f'{prefix}:withdrawn'].label}", len(lines[f"{prefix}:withdrawn"].ids), f"{prefix}:withdrawn"))
        follow_up += [Count(f"   · {lines[k].label}", len(lines[k].ids), k) for k in withdrawal_reasons]
        follow_up.append(Count(f"– {lines[f'{prefix}:absences'].label}", len(lines[f"{prefix}:absences"].ids), f"{prefix}:absences"))
        analysed = [count(f"{prefix}:itt"), count(f"{prefix}:pp"), count(f"{prefix}:excluded-pp"),
                    *(Count(f"– {c.label}", c.n, c.key) for c in present([f"{prefix}:excluded-pp:withdrawn",
                                                                      f"{prefix}:excluded-pp:absences"]))]
        arms.append(ArmFlow(arm.name, count(f"{prefix}:allocated"), tuple(details), tuple(follow_up), tuple(analysed)))
    return ConsortFlow(
        assessed=count("assessed"), excluded=count("excluded"), exclusion_reasons=tuple(reasons),
        randomized=count("randomized"), arms=tuple(arms),
        stage_names=(_("Enrollment"), _("Allocation"), _("Follow-up"), _("Analysis")),
    )


def consort_entry(trial, key: str):
    """(label, participants) of one CONSORT number, or None for a key the diagram does not have."""
    lines, _arms = _consort_sets(trial)
    if key not in lines:
        return None
    people = Participant.objects.filter(pk__in=lines[key].ids).select_related("allocation__arm").order_by("pseudonym")
    return lines[key].label, people


def consort_participants(trial, key: str):
    """The participants behind one CONSORT number (None for an unknown key)."""
    entry = consort_entry(trial, key)
    return entry[1] if entry else None


# Outcomes ------------------------------------------------------------------------------------


@dataclass
class OutcomeResults:
    instrument_code: str
    instrument_name: str
    scale: str
    time_points: list[str]
    itt: AnalysisRun | None = None
    pp: AnalysisRun | None = None
    unfinished: list[AnalysisRun] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)  # populations whose data changed since their run

    @property
    def main(self) -> AnalysisRun | None:
        return self.itt or self.pp

    @property
    def complete(self) -> bool:
        return self.itt is not None and self.pp is not None


def outcome_results(trial) -> list[OutcomeResults]:
    """Per outcome (each instrument given at two or more time points, its total, plus any subscale
    analysed), the newest finished ITT and PP runs with every table (a run limited to some tables
    only when there is no full one), queued or running runs, and whether the data changed since."""
    choices = analysable_choices(trial)
    order = {tp.slug: tp.order for tp in trial.time_points.all()}
    runs = list(AnalysisRun.objects.filter(trial=trial, engine_version=ENGINE_VERSION).select_related("trial").order_by("-created"))
    outcomes: dict[tuple[str, str], OutcomeResults] = {}
    for code, entry in choices.items():
        outcomes[(code, "total")] = OutcomeResults(code, entry["name"], "total",
                                                   sorted(entry["time_points"], key=lambda s: order.get(s, 0)))
    for run in runs:
        key = (run.instrument_code, run.scale)
        if key not in outcomes:
            if run.instrument_code not in choices:
                continue
            entry = choices[run.instrument_code]
            outcomes[key] = OutcomeResults(run.instrument_code, entry["name"], run.scale,
                                           sorted(entry["time_points"], key=lambda s: order.get(s, 0)))
    for outcome in outcomes.values():
        mine = [r for r in runs if (r.instrument_code, r.scale) == (outcome.instrument_code, outcome.scale)]
        outcome.unfinished = [r for r in mine if not r.finished]
        for population in ("itt", "pp"):
            done = [r for r in mine if r.population == population and r.status == AnalysisRun.Status.SUCCEEDED]
            done.sort(key=lambda r: (bool(r.analyses), -r.created.timestamp()))
            chosen = done[0] if done else None
            setattr(outcome, population, chosen)
            if chosen is not None and current_input_hash(chosen) != chosen.input_hash:
                outcome.outdated.append(population)
    return sorted(outcomes.values(), key=lambda o: (o.instrument_code, o.scale != "total", o.scale))


def population_comparison(outcome: OutcomeResults) -> list[dict]:
    """ITT and PP side by side: the main effects of each stored result (no recomputation)."""
    rows = []
    results = {name: run.result["tables"] if run else {} for name, run in (("itt", outcome.itt), ("pp", outcome.pp))}

    def cell(tables, picker):
        try:
            return picker(tables)
        except (KeyError, IndexError, TypeError, StopIteration):
            return None

    def within(effect_name, correction):
        def pick(tables):
            rows = tables["rm_anova"]["within"]
            row = next(r for r in rows if r["effect"] == effect_name and r["correction"] == correction)
            error = next(r for r in rows if r["effect"].startswith("error") and r["correction"] == correction)
            return {**row, "df1": row["df"], "df2": error["df"]}
        return pick

    def between(effect_name):
        def pick(tables):
            rows = tables["rm_anova"]["between"]
            row = next(r for r in rows if r["effect"] == effect_name)
            error = next(r for r in rows if r["effect"] == "error")
            return {**row, "df1": row["df"], "df2": error["df"]}
        return pick

    def lmm(*names):
        def pick(tables):
            row = next(r for r in tables["mixed_model"]["anova_type3"] if r["effect"] in names)
            return {**row, "df1": row["num_df"], "df2": row["den_df"]}
        return pick

    effects = []
    sample = results["itt"] or results["pp"]
    between_factor = ((sample.get("rm_anova") or {}).get("design") or {}).get("between")
    effects.append((_("N in the repeated-measures ANOVA"), "n", lambda t: t["rm_anova"]["n_used"]))
    effects.append((_("Time (Greenhouse–Geisser)"), "F", within("time", "gg")))
    if between_factor:
        effects.append((_("Time × group (Greenhouse–Geisser)"), "F", within("time:group", "gg")))
        effects.append((_("Group"), "F", between("group")))
        effects.append((_("Time × group, mixed model"), "F", lmm("group:time", "time:group")))
    else:
        effects.append((_("Time, mixed model"), "F", lmm("time")))
    for label, kind, picker in effects:
        rows.append({"label": label, "kind": kind, "cells": [cell(results["itt"], picker), cell(results["pp"], picker)]})
    return rows


# Reliability in this sample ------------------------------------------------------------------


def scale_reliability(trial, *, instrument_code: str, time_point: str) -> list[dict]:
    """Cronbach's α of the total and each subscale at one time point, from the item answers of
    the randomized participants (reverse-keyed items recoded with the key that scored them).

    The engine computes α (analysis.stats.reliability); this only gathers the answers.
    """
    scores = list(
        Score.objects.current()
        .filter(instrument__code=instrument_code, administration__time_point__trial=trial,
                administration__time_point__slug=time_point, administration__participant__allocation__isnull=False)
        .select_related("instrument")
    )
    if not scores:
        return []
    key = Key.from_definition(scores[0].instrument.definition)
    administration_ids = [s.administration_id for s in scores]
    answers = defaultdict(dict)
    for administration_id, item, value in Answer.objects.filter(
        administration_id__in=administration_ids, instrument_code=instrument_code, value__isnull=False
    ).values_list("administration_id", "item_id", "value"):
        answers[administration_id][item] = key.scored(item, value)
    scales = [("total", key.items)] + [(s.code, s.items) for s in key.subscales]
    rows = []
    frame = pd.DataFrame([answers[a] for a in administration_ids if answers.get(a)], columns=list(key.items))
    for code, items in scales:
        try:
            alpha = cronbach_alpha(frame, items=list(items)) if len(frame) else None
        except AnalysisInputError as problem:
            rows.append({"scale": code, "items": len(items), "n": None, "alpha": None, "reason": str(problem)})
            continue
        if alpha is None:
            rows.append({"scale": code, "items": len(items), "n": 0, "alpha": None,
                         "reason": _("no item-level answers (scores entered as totals)")})
        else:
            rows.append({"scale": code, "items": len(items), "n": alpha.n, "alpha": alpha.alpha, "reason": ""})
    return rows


# Treatment fidelity --------------------------------------------------------------------------


def fidelity_summary(trial) -> list[dict]:
    """Per arm: sessions planned and held, attendance and homework (from the roll calls), and the
    curriculum parts ticked as delivered (sessions.selectors.treatment_fidelity)."""
    groups = list(Group.objects.in_analysis().filter(arm__trial=trial).select_related("arm"))
    meetings = GroupSession.objects.filter(group__in=groups)
    held = Counter(meetings.held().values_list("group__arm_id", flat=True))
    cancelled = Counter(meetings.filter(status=GroupSession.Status.CANCELLED).values_list("group__arm_id", flat=True))
    planned = Counter()
    for group in groups:
        planned[group.arm_id] += group.number_of_sessions or group.arm.session_count
    delivered = treatment_fidelity(trial)
    per_arm = defaultdict(list)
    for row in doses(trial):
        per_arm[row.participant.allocation.arm_id].append(row.dose)
    summary = []
    for arm in trial.arms.order_by("order", "id"):
        arm_doses = per_arm.get(arm.pk, [])
        due = sum(d.held for d in arm_doses)
        present = sum(d.present for d in arm_doses)
        homework_recorded = sum(d.homework_recorded for d in arm_doses)
        homework_credit = sum(d.homework_completion * d.homework_recorded for d in arm_doses if d.homework_completion is not None)
        parts = delivered.get(arm.slug, {})
        summary.append({
            "arm": arm, "groups": sum(1 for g in groups if g.arm_id == arm.pk),
            "planned": planned.get(arm.pk, 0), "held": held.get(arm.pk, 0), "cancelled": cancelled.get(arm.pk, 0),
            "attendance_due": due, "attendance_present": present,
            "attendance_share": present / due if due else None,
            "homework_recorded": homework_recorded,
            "homework_share": homework_credit / homework_recorded if homework_recorded else None,
            "parts_planned": parts.get("planned", 0), "parts_delivered": parts.get("delivered", 0),
            "parts_share": parts.get("share"),
        })
    return summary
