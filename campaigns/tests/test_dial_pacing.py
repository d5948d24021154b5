"""Pacing: calls per second per provider account across all workers, and calls in progress per
account across all its campaigns."""

import threading
import time
from decimal import Decimal

import django_rq
import pytest
from django.db import connection

from billing import ledger
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.models import Call
from campaigns.tests.factories import make_campaign
from telephony.rate_limit import KEY, dial_slot_reserve


@pytest.fixture
def paced(settings):
    settings.CALLS_PER_SECOND = {"twilio": 2.0, "simulated": 0}
    django_rq.get_connection("dialing").delete(KEY.format(provider="twilio"))


def test_slots_are_spaced_by_the_rate_for_every_caller_together(paced):
    waits = []
    lock = threading.Lock()

    def reserve():
        wait = dial_slot_reserve("twilio")
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=reserve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    waits.sort()
    assert waits[0] < 0.05
    gaps = [later - earlier for earlier, later in zip(waits, waits[1:], strict=False)]
    assert all(0.45 < gap < 0.55 for gap in gaps), gaps  # 2 per second: half a second apart


def test_a_free_provider_never_waits(paced):
    assert [dial_slot_reserve("simulated") for _ in range(5)] == [0.0] * 5


def test_a_slot_left_unused_is_not_owed_later(paced):
    dial_slot_reserve("twilio")
    time.sleep(1.1)
    assert dial_slot_reserve("twilio") < 0.05  # idle time does not build up a burst


@pytest.mark.django_db
def test_a_dial_that_must_wait_is_requeued_for_its_slot(paced, settings, user):
    settings.TELEPHONY_PROVIDER = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "ACx", "token"
    settings.PUBLIC_BASE_URL = "https://clozit.example.com"
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(1000), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, ["+12025550101", "+12025550102", "+12025550103"], concurrency=3)
    services.campaign_launch(campaign=campaign, by=user)
    call_ids = dialer._claim_calls(campaign.pk)
    # Take every slot of the next two seconds, as other workers would.
    for _ in range(4):
        dial_slot_reserve("twilio")

    dialer.call_place(call_ids[0])

    assert Call.objects.get(pk=call_ids[0]).status == Call.Status.QUEUED  # not dialled yet
    scheduled = django_rq.get_queue("dialing").scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1
    job = django_rq.get_queue("dialing").fetch_job(scheduled[0])
    assert job.args == (call_ids[0],) and job.kwargs == {"slot_reserved": True}


@pytest.mark.django_db
def test_an_account_never_has_more_calls_in_progress_than_its_limit(settings, user):
    settings.ACCOUNT_MAX_CONCURRENT_CALLS = 3
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(5000), kind="staff_adjustment", reference="topup"
    )
    first = make_campaign(user, [f"+1202555010{i}" for i in range(5)], concurrency=5)
    second = make_campaign(user, [f"+1202555011{i}" for i in range(5)], concurrency=5)
    for campaign in (first, second):
        services.campaign_launch(campaign=campaign, by=user)

    claimed = dialer._claim_calls(first.pk) + dialer._claim_calls(second.pk)

    assert len(claimed) == 3
    user.personal_workspace.max_concurrent_calls = 4  # staff raised this account's limit
    user.personal_workspace.save(update_fields=["max_concurrent_calls"])
    assert len(dialer._claim_calls(second.pk)) == 1
    assert Call.objects.filter(workspace=user.personal_workspace, status__in=Call.LIVE_STATUSES).count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_campaigns_claiming_at_once_respect_the_account_limit(settings, user):
    settings.ACCOUNT_MAX_CONCURRENT_CALLS = 4
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(5000), kind="staff_adjustment", reference="topup"
    )
    campaigns = [make_campaign(user, [f"+120255501{c}{i}" for i in range(6)], concurrency=6) for c in (2, 3)]
    for campaign in campaigns:
        services.campaign_launch(campaign=campaign, by=user)
    barrier = threading.Barrier(2)

    def claim(campaign_id):
        barrier.wait()
        try:
            dialer._claim_calls(campaign_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(c.pk,)) for c in campaigns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Call.objects.filter(workspace=user.personal_workspace, status__in=Call.LIVE_STATUSES).count() == 4
