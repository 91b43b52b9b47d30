"""The CONSORT numbers from live data: they add up, and each number's list is exactly its people."""
import pytest

from reports.consort import consort_svg
from reports.selectors import _consort_sets, consort_flow, consort_participants

pytestmark = pytest.mark.django_db


def numbers(flow):
    counts = [flow.assessed, flow.excluded, *flow.exclusion_reasons, flow.randomized]
    for arm in flow.arms:
        counts += [arm.allocated, *arm.allocation_details, *arm.follow_up, *arm.analysed]
    return {count.key: count.n for count in counts if count.key}


def assert_adds_up(flow, built):
    n = numbers(flow)
    assert n["assessed"] == n["excluded"] + n["randomized"]
    top_reasons = [key for key in n if key.startswith("excluded:") and key.count(":") == 1]
    assert sum(n[key] for key in top_reasons) == n["excluded"]
    assert sum(arm.allocated.n for arm in flow.arms) == n["randomized"]
    for arm in built.arms:
        prefix = f"arm:{arm.slug}"
        assert n[f"{prefix}:received"] + n.get(f"{prefix}:not-received", 0) == n[f"{prefix}:allocated"]
        assert n[f"{prefix}:itt"] == n[f"{prefix}:allocated"]
        assert n[f"{prefix}:pp"] + n.get(f"{prefix}:excluded-pp", 0) == n[f"{prefix}:itt"]
    for key, expected in built.expected.items():
        if key in n or expected:
            assert n.get(key) == expected, key


@pytest.mark.parametrize("fixture", ["one_arm_trial", "two_arm_trial", "three_arm_trial"])
def test_consort_counts_add_up_and_each_list_holds_exactly_its_number(fixture, request):
    built = request.getfixturevalue(fixture)
    flow = consort_flow(built.trial)
    assert len(flow.arms) == len(built.arms)
    assert_adds_up(flow, built)
    for key, n in numbers(flow).items():
        people = consort_participants(built.trial, key)
        assert people.count() == n, key
    # Every participant of the trial is counted once at enrollment: assessed is the roster.
    assert consort_participants(built.trial, "assessed").count() == built.trial.participants.count()


def test_people_stopped_before_randomization_each_have_one_reason(three_arm_trial):
    lines, _arms = _consort_sets(three_arm_trial.trial)
    reasons = [set(line.ids) for key, line in lines.items() if key.startswith("excluded:") and key.count(":") == 1]
    everyone = set().union(*reasons)
    assert sum(len(r) for r in reasons) == len(everyone) == three_arm_trial.expected["excluded"]
    criteria = {key: len(line.ids) for key, line in lines.items() if key.startswith("excluded:not-eligible:")}
    assert criteria == {"excluded:not-eligible:attendance": 2, "excluded:not-eligible:education": 1,
                        "excluded:not-eligible:years_of_service": 1}


def test_groups_and_facilitators_per_arm_are_in_the_diagram(three_arm_trial):
    flow = consort_flow(three_arm_trial.trial)
    plain = {arm.name: [c.label for c in arm.allocation_details if c.n is None] for arm in flow.arms}
    assert plain == {"Compassion": ["1 group, 1 facilitator"], "Mentalization": ["1 group, 1 facilitator"],
                     "Waitlist": ["0 groups, 0 facilitators"]}
    withdrawal_reasons = [c.label.strip(" ·") for c in flow.arms[0].follow_up if c.key == "arm:compassion:withdrawn:1"]
    assert withdrawal_reasons == ["too busy"]


def test_a_trial_without_screening_has_no_screening_reasons(one_arm_trial):
    flow = consort_flow(one_arm_trial.trial)
    keys = {count.key for count in flow.exclusion_reasons}
    assert "excluded:below-cutoff" not in keys and "excluded:not-screened" not in keys
    assert "Randomized (n = 6)" in consort_svg(flow).replace('<tspan class="n">', "").replace("</tspan>", "")


def test_unknown_key_has_no_list(two_arm_trial):
    assert consort_participants(two_arm_trial.trial, "arm:nobody:allocated") is None
