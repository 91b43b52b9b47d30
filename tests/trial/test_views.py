"""Trial pages: what each role sees, the actions, and the list's constant query count."""
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from tests.trial.conftest import enroll_all
from trial import services
from trial.models import Allocation, Participant, Trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def randomized_trial(screened_trial, researcher):
    enroll_all(screened_trial, list(screened_trial.participants.filter(screening_passed=True)), researcher)
    services.lock_randomization(screened_trial, by=researcher, seed="views")
    services.randomize_cohort(screened_trial, by=researcher)
    return screened_trial


def _list_queries(client, trial):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/trials/{trial.slug}/participants/")
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_participant_list_costs_the_same_queries_for_10_and_200(burnout_trial, researcher, researcher_client, make_participants):
    people = make_participants(burnout_trial, 10)
    services.open_screening(burnout_trial, by=researcher)
    from tests.trial.conftest import give_screening_scores

    give_screening_scores(burnout_trial, {p: 70 for p in people})
    services.close_screening(burnout_trial, by=researcher)
    enroll_all(burnout_trial, people, researcher)
    services.lock_randomization(burnout_trial, by=researcher)
    services.randomize_cohort(burnout_trial, by=researcher)
    small, page = _list_queries(researcher_client, burnout_trial)
    assert page.count('data-testid="participant-row"') == 10
    more = make_participants(burnout_trial, 190)
    Participant.objects.filter(pk__in=[p.pk for p in more[:50]]).update(eligible=True)
    large, page = _list_queries(researcher_client, burnout_trial)
    assert page.count('data-testid="participant-row"') == 50  # one page of 50 of 200
    assert "200 participants" in page
    assert small == large


def test_the_list_filters_by_status_arm_site_and_search(randomized_trial, researcher_client, make_participants):
    make_participants(randomized_trial, 2, site="South")
    url = f"/trials/{randomized_trial.slug}/participants/"
    allocated = researcher_client.get(url, {"stage": "allocated"}).content.decode()
    assert allocated.count('data-testid="participant-row"') == 9
    compassion = researcher_client.get(url, {"arm": "compassion"}).content.decode()
    assert compassion.count('data-testid="participant-row"') == 3 and "Mentalization-based</td>" not in compassion
    south = researcher_client.get(url, {"site": "South"}).content.decode()
    assert south.count('data-testid="participant-row"') == 2
    found = researcher_client.get(url, {"q": "Worker 11"}).content.decode()
    assert found.count('data-testid="participant-row"') == 1 and "W0011" in found
    below = researcher_client.get(url, {"stage": "screened_out"}).content.decode()
    assert below.count('data-testid="participant-row"') == 3


def test_monitors_see_pseudonyms_never_names(randomized_trial, monitor_client):
    person = randomized_trial.participants.get(worker_id="W0005")
    listing = monitor_client.get(f"/trials/{randomized_trial.slug}/participants/").content.decode()
    assert person.pseudonym in listing and "Worker 5" not in listing and "W0005" not in listing
    searched = monitor_client.get(f"/trials/{randomized_trial.slug}/participants/", {"q": "Worker"}).content.decode()
    assert 'data-testid="participant-row"' not in searched
    page = monitor_client.get(f"/trials/{randomized_trial.slug}/participants/{person.pseudonym}/").content.decode()
    assert person.pseudonym in page and "Worker 5" not in page and "W0005" not in page
    assert "eligibility-form" not in page and "Record the withdrawal" not in page


def test_the_participant_page_shows_the_timeline(randomized_trial, researcher_client):
    allocation = Allocation.objects.filter(participant__trial=randomized_trial).select_related("participant", "arm").first()
    page = researcher_client.get(f"/trials/{randomized_trial.slug}/participants/{allocation.participant.pseudonym}/").content.decode()
    timeline = page.split('data-testid="timeline"')[1].split("</ol>")[0]
    for step in ("Added to the roster", "Screening answered", "MBI", "Passed screening", "Eligible", "Consented", "Enrolled", "Randomized"):
        assert step in timeline
    assert allocation.arm.name in timeline
    assert 'data-testid="arm">' + allocation.arm.name in page


def test_actions_from_the_participant_page(screened_trial, researcher_client, researcher):
    person = screened_trial.participants.filter(screening_passed=True).first()
    base = f"/trials/{screened_trial.slug}/participants/{person.pseudonym}"
    researcher_client.post(f"{base}/eligibility/", {"attendance": "yes", "note": "ok"})
    text = services.current_consent_text(screened_trial, "en")
    researcher_client.post(f"{base}/consent/", {"text": text.pk, "signed_on": "2024-03-20", "witness": "Dr. Ahmadi"})
    response = researcher_client.post(f"{base}/enroll/", follow=True)
    assert "Enrolled." in response.content.decode()
    person.refresh_from_db()
    assert person.eligible and person.enrolled_at and person.consents.get().witness == "Dr. Ahmadi"
    response = researcher_client.post(f"{base}/withdraw/", {"on": "2024-04-01", "initiator": "participant", "reason": "moved"}, follow=True)
    assert "data collected so far is kept" in response.content.decode()
    person.refresh_from_db()
    assert person.withdrawn_on.isoformat() == "2024-04-01"


def test_errors_from_actions_are_shown_and_nothing_is_written(screened_trial, researcher_client):
    person = screened_trial.participants.filter(screening_passed=True).first()
    response = researcher_client.post(f"/trials/{screened_trial.slug}/participants/{person.pseudonym}/enroll/", follow=True)
    assert "not confirmed eligible" in response.content.decode()
    person.refresh_from_db()
    assert person.enrolled_at is None


def test_persian_digits_are_accepted_in_forms(burnout_trial, researcher_client):
    response = researcher_client.post(f"/trials/{burnout_trial.slug}/settings/", {
        "title": burnout_trial.title, "language": "en", "contact": "", "screening_rule": "either",
        "screening_comparison": "ge", "screening_cutoff": "۶۵", "screening_sd_k": "۱٫۵",
        "min_years_of_service": "۵", "min_education_grade": "۹", "required_sex": "", "requires_attendance": "on",
        "absence_threshold": "۲", "absence_comparison": "gt",
    })
    assert response.status_code == 302
    burnout_trial.refresh_from_db()
    assert (float(burnout_trial.screening_cutoff), float(burnout_trial.screening_sd_k)) == (65, 1.5)


def test_the_eligibility_queue_and_enrollment_pages(screened_trial, researcher_client):
    url = f"/trials/{screened_trial.slug}/eligibility/"
    page = researcher_client.get(url).content.decode()
    assert page.count('name="confirm"') == 9  # those below the cutoff are not waiting
    passed = list(screened_trial.participants.filter(screening_passed=True).values_list("pseudonym", flat=True))
    researcher_client.post(url, {"confirm": passed, "attend": passed[:-1]})
    assert screened_trial.participants.filter(eligible=True).count() == 8
    assert screened_trial.participants.get(pseudonym=passed[-1]).eligibility.reasons == ["attendance"]
    enrollment = f"/trials/{screened_trial.slug}/enrollment/"
    assert researcher_client.get(enrollment).content.decode().count('name="participants"') == 8
    response = researcher_client.post(enrollment, {"participants": passed[:-1], "signed_on": "2024-03-20", "witness": "Dr. Ahmadi"}, follow=True)
    assert "8 participants consented and enrolled" in response.content.decode()


def test_the_randomization_page_locks_and_randomizes_the_cohort(screened_trial, researcher, researcher_client):
    enroll_all(screened_trial, list(screened_trial.participants.filter(screening_passed=True)), researcher)
    url = f"/trials/{screened_trial.slug}/randomization/"
    assert 'data-testid="randomization-form"' in researcher_client.get(url).content.decode()
    researcher_client.post(url, {"action": "lock"})
    page = researcher_client.get(url).content.decode()
    assert 'data-testid="locked"' in page and "9 enrolled participants are waiting" in page
    response = researcher_client.post(url, {"action": "cohort"}, follow=True)
    assert "9 participants randomized" in response.content.decode()
    assert Allocation.objects.filter(participant__trial=screened_trial).count() == 9


def test_randomization_settings_errors_are_shown(burnout_trial, researcher_client):
    response = researcher_client.post(f"/trials/{burnout_trial.slug}/randomization/", {
        "action": "save", "method": "blocks", "block_sizes": "4, 8", "imbalance": "range", "p_preferred": "0.8", "list_length": "60",
    })
    assert "multiples of the weight sum 3" in response.content.decode()
    assert Trial.objects.get(pk=burnout_trial.pk).randomization.method == "cohort"


def test_the_sequence_page_is_for_the_unblinded_statistician_and_audited(randomized_trial, researcher, researcher_client):
    url = f"/trials/{randomized_trial.slug}/randomization/sequence/"
    assert researcher_client.get(url).status_code == 403
    researcher.user_permissions.add(Permission.objects.get(codename="view_sequence"))
    page = researcher_client.get(url).content.decode()
    assert 'data-testid="sequence"' in page and "views" in page  # the seed
    assert AuditEvent.objects.filter(action="trial.sequence.viewed").count() == 1


def test_no_page_shows_the_sequence_or_seed_to_researchers(randomized_trial, researcher_client):
    seed = randomized_trial.randomization.seed
    for path in ("", "participants/", "randomization/", "screening/"):
        page = researcher_client.get(f"/trials/{randomized_trial.slug}/{path}").content.decode()
        assert seed not in page and 'data-testid="sequence"' not in page


RANDOMIZATION_ENDPOINTS = [
    ("get", "/trials/{slug}/randomization/"),
    ("post", "/trials/{slug}/randomization/"),
    ("get", "/trials/{slug}/randomization/sequence/"),
    ("post", "/trials/{slug}/participants/{pseudonym}/allocate/"),
    ("post", "/trials/{slug}/participants/{pseudonym}/corrections/"),
    ("post", "/trials/{slug}/participants/{pseudonym}/corrections/1/confirm/"),
    ("get", "/api/trials/{slug}/randomization/"),
    ("post", "/api/trials/{slug}/randomization/lock/"),
    ("post", "/api/trials/{slug}/randomization/cohort/"),
    ("get", "/api/trials/{slug}/sequence/"),
    ("get", "/api/trials/{slug}/participants/{pseudonym}/allocation/"),
    ("post", "/api/trials/{slug}/participants/{pseudonym}/allocation/"),
]


@pytest.mark.parametrize("role", ["facilitator_client", "monitor_client"])
@pytest.mark.parametrize("method, path", RANDOMIZATION_ENDPOINTS)
def test_facilitators_and_monitors_are_refused_every_randomization_endpoint(request, randomized_trial, role, method, path):
    client = request.getfixturevalue(role)
    participant = randomized_trial.participants.filter(allocation__isnull=False).first()
    events = AuditEvent.objects.count()
    allocations = Allocation.objects.count()
    response = getattr(client, method)(path.format(slug=randomized_trial.slug, pseudonym=participant.pseudonym), {"action": "lock"} if method == "post" else None)
    assert response.status_code in (403, 404)
    assert randomized_trial.randomization.seed not in response.content.decode()
    assert AuditEvent.objects.count() == events and Allocation.objects.count() == allocations


@pytest.mark.parametrize("path", ["/trials/{slug}/", "/trials/{slug}/participants/", "/trials/{slug}/screening/", "/api/trials/{slug}/participants/"])
def test_facilitators_never_reach_trial_pages(randomized_trial, facilitator_client, path):
    assert facilitator_client.get(path.format(slug=randomized_trial.slug)).status_code == 403


def test_the_overview_page_shows_status_arms_time_points_and_counts(randomized_trial, researcher_client):
    page = researcher_client.get(f"/trials/{randomized_trial.slug}/").content.decode()
    assert 'data-testid="status">Enrolling' in page
    for text in ("Compassion-based", "Mentalization-based", "Waitlist", "Follow-up", "CDRISC", "Randomized per arm"):
        assert text in page
    response = researcher_client.post(f"/trials/{randomized_trial.slug}/status/", {"status": "running"}, follow=True)
    assert 'data-testid="status">Running' in response.content.decode()


def test_arm_and_time_point_pages_save_through_services(burnout_trial, researcher_client):
    researcher_client.post(f"/trials/{burnout_trial.slug}/arms/new/", {
        "slug": "booster", "name": "Booster", "kind": "active", "allocation_weight": "1", "session_count": "4",
        "session_minutes": "60", "session_interval_days": "7", "mode": "online"})
    assert burnout_trial.arms.filter(slug="booster", session_count=4).exists()
    pretest = burnout_trial.time_points.get(slug="pretest")
    researcher_client.post(f"/trials/{burnout_trial.slug}/time-points/pretest/", {
        "slug": "pretest", "name": "Pretest", "anchor": "before_first_session", "offset_days": "-14",
        "window_days": "10", "instruments": ["pss", "ryff"]})
    pretest.refresh_from_db()
    assert pretest.offset_days == -14 and [link.instrument.code for link in pretest.instrument_links.all()] == ["pss", "ryff"]
    assert AuditEvent.objects.filter(action__in=["trial.arm.added", "trial.time_point.changed"]).count() == 2


def test_consent_text_page_adds_a_version(burnout_trial, researcher_client):
    researcher_client.post(f"/trials/{burnout_trial.slug}/consent-texts/", {"language": "fa", "title": "رضایت‌نامه", "body": "متن تازهٔ رضایت‌نامه برای نسخهٔ دوم پژوهش."})
    assert burnout_trial.consent_texts.filter(language="fa").count() == 2


def test_withdrawn_participants_stay_listed(randomized_trial, researcher, researcher_client):
    person = randomized_trial.participants.filter(allocation__isnull=False).first()
    services.withdraw(person, on=timezone.localdate(), reason="left the company", initiator="researcher", by=researcher)
    page = researcher_client.get(f"/trials/{randomized_trial.slug}/participants/", {"stage": "withdrawn"}).content.decode()
    assert page.count('data-testid="participant-row"') == 1 and person.pseudonym in page


def test_the_eligibility_queue_is_all_or_nothing(screened_trial, researcher_client):
    passed = list(screened_trial.participants.filter(screening_passed=True).order_by("pseudonym"))
    passed[-1].education_grade = None  # no data: the checklist cannot be confirmed in bulk
    passed[-1].save()
    response = researcher_client.post(f"/trials/{screened_trial.slug}/eligibility/", {
        "confirm": [p.pseudonym for p in passed], "attend": [p.pseudonym for p in passed]}, follow=True)
    assert "education&#x27; has no data" in response.content.decode()
    assert not screened_trial.participants.filter(eligible__isnull=False).exists()


def test_reserved_and_taken_short_names_are_refused(researcher_client):
    response = researcher_client.post("/trials/new/", {"template": "helping-the-helper", "slug": "new", "language": "en"})
    assert "cannot be a trial" in response.content.decode() and not Trial.objects.exists()
