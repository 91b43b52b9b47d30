"""Exactly one submission per administration: the service, the constraint, and two threads on PostgreSQL."""
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from instruments import services
from instruments.exceptions import AlreadySubmitted, Incomplete, NotOpen
from instruments.models import Answer, Score, Submission
from tests.instruments.conftest import full_answers


def test_the_database_refuses_a_second_submission(administration):
    Submission.objects.create(administration=administration)
    with pytest.raises(IntegrityError), transaction.atomic():
        Submission.objects.create(administration=administration)


def test_submit_twice_raises_already_submitted(administration):
    services.submit_response(administration, answers=full_answers(administration.time_point))
    with pytest.raises(AlreadySubmitted, match="already submitted"):
        services.submit_response(administration, answers=full_answers(administration.time_point))
    assert Submission.objects.count() == 1
    assert AuditEvent.objects.filter(action="instruments.submission.submitted").count() == 1


def test_incomplete_submit_writes_nothing(administration):
    answers = full_answers(administration.time_point)
    answers["pss"]["14"] = None
    with pytest.raises(Incomplete, match="pss: items 14"):
        services.submit_response(administration, answers=answers)
    assert not Submission.objects.exists() and not Score.objects.exists()
    assert not Answer.objects.exists(), "answers sent with a refused submit are not kept half-way"


def test_submit_after_the_window_closed_is_refused(administration):
    from datetime import timedelta

    from django.utils import timezone

    administration.closes_at = timezone.now() - timedelta(minutes=1)
    administration.save()
    with pytest.raises(NotOpen, match="closed on"):
        services.submit_response(administration, answers=full_answers(administration.time_point))
    assert not Submission.objects.exists()


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_yields_exactly_one_submission(opened):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (run with DATABASE_URL=postgres://…)")
    administration = opened[0]
    answers = full_answers(administration.time_point)
    barrier = threading.Barrier(2)
    outcomes = []

    def submit():
        try:
            barrier.wait()
            services.submit_response(administration, answers=answers)
            outcomes.append("submitted")
        except AlreadySubmitted:
            outcomes.append("already submitted")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already submitted", "submitted"]
    assert Submission.objects.filter(administration=administration).count() == 1
    assert Score.objects.filter(administration=administration).count() == 2


def test_prefer_not_to_answer_counts_as_answered_where_the_instrument_allows_it(pretest, participants, researcher):
    from django.utils import timezone

    from instruments.library import get_instrument, read_definition
    from instruments.models import Instrument, TimePointInstrument

    definition = {**read_definition("wssi"), "code": "wssi", "prefer_not_to_answer": True, "version": 2}
    allowing = Instrument.objects.create(code="wssi", version=2, name="WSSI (declinable)", definition=definition)
    TimePointInstrument.objects.filter(time_point=pretest).delete()
    TimePointInstrument.objects.create(time_point=pretest, instrument=allowing)
    services.open_time_point(pretest, opens_at=timezone.now(), by=researcher)
    administration = pretest.administrations.first()
    answers = {"wssi": {str(i): 3 for i in range(1, 21)}}
    answers["wssi"]["20"] = "declined"
    services.submit_response(administration, answers=answers)
    score = Score.objects.get(administration=administration)
    assert score.missing_items == 1 and score.total == 60  # 19 × 3 prorated to 20 items
    assert Answer.objects.get(administration=administration, item_id="20").declined
    assert get_instrument("wssi") == allowing
