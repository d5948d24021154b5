"""The dialer's guarantees: no double claims, pacing, crash repair by the sweep, stop and suspend."""

import threading
from datetime import timedelta
from decimal import Decimal

import django_rq
import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import User
from accounts.services import account_set_status
from billing import ledger
from billing.models import CreditHold
from campaigns.contacts import donotcall
from campaigns.dialing import dialer
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import make_campaign
from telephony import simulator

NUMBERS = [f"+120255501{n:02d}" for n in range(10)]  # all "interested" callees


def topup(user, amount="5000"):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(amount), kind="staff_adjustment", reference=f"topup:{amount}"
    )


def simulator_jobs() -> int:
    return django_rq.get_queue("simulator").count


@pytest.mark.django_db(transaction=True)
def test_concurrent_advances_never_claim_a_contact_twice(user):
    topup(user)
    campaign = make_campaign(user, NUMBERS, concurrency=4)
    services.campaign_launch(campaign=campaign, by=user)
    claimed: list[int] = []
    barrier = threading.Barrier(4)

    def advance():
        barrier.wait()
        try:
            claimed.extend(dialer._claim_calls(campaign.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=advance) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    calls = Call.objects.filter(campaign=campaign)
    assert calls.count() == len(claimed) == 4  # the concurrency limit, however many workers raced
    assert calls.values("target").distinct().count() == 4
    assert CampaignContact.objects.filter(campaign=campaign, status="claimed").count() == 4
    # Each live call holds the most it may cost.
    assert ledger.balance_of(workspace=user.personal_workspace).held == 4 * 120


@pytest.mark.django_db(transaction=True)
def test_placing_a_call_twice_dials_once(user):
    topup(user)
    campaign = make_campaign(user, NUMBERS[:1])
    services.campaign_launch(campaign=campaign, by=user)
    (call_id,) = dialer._claim_calls(campaign.pk)
    dialer.call_place(call_id)
    dialer.call_place(call_id)
    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.DIALING and call.provider_call_id.startswith("SM")
    assert simulator_jobs() == 1


@pytest.mark.django_db(transaction=True)
def test_sweep_resends_lost_dial_jobs_and_closes_abandoned_calls(user):
    topup(user)
    campaign = make_campaign(user, NUMBERS[:3], concurrency=3)
    services.campaign_launch(campaign=campaign, by=user)
    lost, unconfirmed, silent = dialer._claim_calls(campaign.pk)
    long_ago = timezone.now() - timedelta(hours=1)
    Call.objects.filter(pk=lost).update(created_at=long_ago)  # queued, its job lost with Redis
    Call.objects.filter(pk=unconfirmed).update(
        created_at=long_ago, dialing_started_at=long_ago, status=Call.Status.DIALING
    )
    Call.objects.filter(pk=silent).update(created_at=long_ago, status=Call.Status.IN_PROGRESS, provider_call_id="SMx")
    django_rq.get_queue("dialing").empty()

    report = dialer.sweep()

    assert report["resent"] == 1 and report["abandoned"] == 1 and report["stale"] == 1
    # The lost call is dialled again (never twice); the others end without a charge.
    assert [job.func_name for job in django_rq.get_queue("dialing").jobs].count(
        "campaigns.dialing.dialer.call_place"
    ) == 1
    for call_id in (unconfirmed, silent):
        call = Call.objects.get(pk=call_id)
        assert call.status == Call.Status.FAILED and call.credits_charged == 0
        assert CreditHold.objects.get(reference=call.hold_reference).status == CreditHold.Status.RELEASED
    assert ledger.balance_of(workspace=user.personal_workspace).held == 120  # only the resent call still holds credits


@pytest.mark.django_db
def test_sweep_releases_expired_holds(user):
    hold = ledger.hold_place(
        workspace=user.personal_workspace,
        reference="call:orphan",
        max_amount=Decimal(50),
        min_amount=10,
        lifetime=timedelta(seconds=60),
    )
    CreditHold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert dialer.sweep()["holds_released"] == 1
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(100), Decimal(0))


@pytest.mark.django_db
def test_suspended_account_stops_dialing(user):
    topup(user)
    campaign = make_campaign(user, NUMBERS[:2])
    services.campaign_launch(campaign=campaign, by=user)
    staff = User.objects.create_superuser(email="staff@example.com", password="x")
    account_set_status(user=user, status=User.Status.SUSPENDED, reason="Spam reports", by=staff)
    assert dialer.campaign_advance(campaign.pk) == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and "suspended" in campaign.status_reason
    assert not Call.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_stop_skips_everyone_left_and_hangs_up_live_calls(user):
    topup(user)
    campaign = make_campaign(user, NUMBERS[:4], concurrency=1)
    services.campaign_launch(campaign=campaign, by=user)
    (call_id,) = dialer._claim_calls(campaign.pk)
    dialer.call_place(call_id)
    sid = Call.objects.get(pk=call_id).provider_call_id

    services.campaign_stop(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.STOPPED
    assert CampaignContact.objects.filter(campaign=campaign, status="skipped").count() == 3
    assert django_rq.get_connection("simulator").get(simulator.HANGUP_KEY.format(sid=sid))
    assert dialer.campaign_advance(campaign.pk) == []


@pytest.mark.django_db
def test_launch_needs_credits_and_happens_once(user):
    campaign = make_campaign(user, NUMBERS[:1])
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(-95), kind="staff_adjustment", reference="drain"
    )
    with pytest.raises(services.CampaignError, match="at least 10 credits"):
        services.campaign_launch(campaign=campaign, by=user)
    topup(user)
    services.campaign_launch(campaign=campaign, by=user)
    with pytest.raises(services.CampaignError, match="already been launched"):
        services.campaign_launch(campaign=campaign, by=user)
    assert CampaignContact.objects.filter(campaign=campaign).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_queued_call_is_checked_again_just_before_dialling(user):
    topup(user)
    campaign = make_campaign(user, NUMBERS[:3], concurrency=3)
    services.campaign_launch(campaign=campaign, by=user)
    stopped_asking, expired, fine = dialer._claim_calls(campaign.pk)
    donotcall.dnc_add(
        workspace=user.personal_workspace,
        phone_number=Call.objects.get(pk=stopped_asking).to_number,
        reason="asked by email",
    )
    CreditHold.objects.filter(reference=f"call:{expired}").update(expires_at=timezone.now() - timedelta(seconds=1))
    ledger.holds_release_expired()
    django_rq.get_queue("simulator").empty()

    for call_id in (stopped_asking, expired, fine):
        dialer.call_place(call_id)

    calls = {c.pk: c for c in Call.objects.all()}
    assert (calls[stopped_asking].status, calls[stopped_asking].failure_reason) == (
        Call.Status.CANCELED,
        "On the do-not-call list",
    )
    assert calls[expired].status == Call.Status.CANCELED and "reservation" in calls[expired].failure_reason
    assert calls[fine].status == Call.Status.DIALING and calls[fine].dialing_started_at is not None
    assert simulator_jobs() == 1  # only the call that may still go out was dialled
    assert all(c.credits_charged == 0 for c in calls.values())


@pytest.mark.django_db(transaction=True)
def test_a_number_put_on_the_platform_list_after_the_claim_is_not_dialled(user):
    from campaigns.models import DoNotCall

    topup(user)
    campaign = make_campaign(user, NUMBERS[:2], concurrency=2)
    services.campaign_launch(campaign=campaign, by=user)
    listed, fine = dialer._claim_calls(campaign.pk)
    DoNotCall.objects.create(workspace=None, phone_number=Call.objects.get(pk=listed).to_number, reason="complaint")
    django_rq.get_queue("simulator").empty()

    dialer.call_place(listed)
    dialer.call_place(fine)

    assert Call.objects.get(pk=listed).status == Call.Status.CANCELED
    assert Call.objects.get(pk=fine).status == Call.Status.DIALING
    assert simulator_jobs() == 1
    skipped = CampaignContact.objects.get(campaign=campaign, calls=listed)
    assert (skipped.status, skipped.result) == (CampaignContact.Status.SKIPPED, "On the do-not-call list")


@pytest.mark.django_db
def test_numbers_listed_mid_campaign_on_either_list_are_never_claimed(user):
    from campaigns.models import DoNotCall

    topup(user)
    campaign = make_campaign(user, NUMBERS[:4], concurrency=1)
    services.campaign_launch(campaign=campaign, by=user)
    # The account's list, through the service: the contact is skipped at once.
    donotcall.dnc_add(workspace=user.personal_workspace, phone_number=NUMBERS[0], reason="asked by email")
    assert CampaignContact.objects.get(contact__phone_number=NUMBERS[0]).status == CampaignContact.Status.SKIPPED
    # The platform's list, written straight to the table (as a staff import does): caught at the claim.
    DoNotCall.objects.create(workspace=None, phone_number=NUMBERS[1])

    (call_id,) = dialer._claim_calls(campaign.pk)

    assert Call.objects.get(pk=call_id).to_number == NUMBERS[2]
    statuses = dict(CampaignContact.objects.values_list("contact__phone_number", "status"))
    assert statuses == {NUMBERS[0]: "skipped", NUMBERS[1]: "skipped", NUMBERS[2]: "claimed", NUMBERS[3]: "pending"}
    # Another account's list is not this account's.
    other = User.objects.create_user(email="other@example.com", password="x")
    donotcall.dnc_add(workspace=other.personal_workspace, phone_number=NUMBERS[3])
    assert CampaignContact.objects.get(contact__phone_number=NUMBERS[3]).status == "pending"


@pytest.mark.django_db(transaction=True)
def test_a_queued_call_whose_reservation_expired_goes_back_in_the_queue(user):
    topup(user)
    campaign = make_campaign(user, NUMBERS[:1])
    services.campaign_launch(campaign=campaign, by=user)
    (call_id,) = dialer._claim_calls(campaign.pk)
    CreditHold.objects.filter(reference=f"call:{call_id}").update(expires_at=timezone.now() - timedelta(seconds=1))
    ledger.holds_release_expired()

    dialer.call_place(call_id)

    target = CampaignContact.objects.get(campaign=campaign)
    assert (target.status, target.attempts) == (CampaignContact.Status.PENDING, 0)  # never dialled: not an attempt
    (again,) = dialer._claim_calls(campaign.pk)
    assert again != call_id and CampaignContact.objects.get(pk=target.pk).attempts == 1


# --- batched claims and the one-statement dial --------------------------------------------------


@pytest.mark.django_db
def test_a_claim_costs_the_same_queries_for_three_calls_as_for_eight(user, settings):
    from django.test.utils import CaptureQueriesContext

    topup(user, "50000")
    user.personal_workspace.max_concurrent_calls = 20
    user.personal_workspace.save(update_fields=["max_concurrent_calls"])
    queries = {}
    for size in (3, 8):
        campaign = make_campaign(user, [f"+1202555{size}{n:03d}" for n in range(size)], concurrency=size)
        services.campaign_launch(campaign=campaign, by=user)
        with CaptureQueriesContext(connection) as captured:
            assert len(dialer._claim_calls(campaign.pk)) == size
        queries[size] = len(captured)
    assert queries[3] == queries[8], queries

    # Each dial: the locked call with its checks' facts (marked dialling in the same statement),
    # then the carrier's id once it answered.
    call_id = Call.objects.filter(status=Call.Status.QUEUED).values_list("pk", flat=True).first()
    with CaptureQueriesContext(connection) as captured:
        dialer.call_place(call_id, provider="simulated")
    assert len([q for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]) == 2, (
        captured.captured_queries
    )
    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.DIALING and call.dialing_started_at and call.provider_call_id


@pytest.mark.django_db
def test_a_claim_the_credits_cover_in_part_places_what_they_cover_and_waits(user):
    topup(user, "200")  # 300 credits: calls hold up to 120 each (the agent's 2 minutes)
    campaign = make_campaign(user, NUMBERS[:5], concurrency=5)
    services.campaign_launch(campaign=campaign, by=user)

    call_ids = dialer._claim_calls(campaign.pk)

    calls = Call.objects.filter(pk__in=call_ids).order_by("pk")
    assert [c.time_limit_seconds for c in calls] == [120, 120, 60]
    assert [c.hold_reference for c in calls] == [f"call:{c.pk}" for c in calls]
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal("300"), Decimal("300"))
    targets = CampaignContact.objects.filter(campaign=campaign)
    assert sorted(targets.values_list("status", flat=True)) == ["claimed"] * 3 + ["pending"] * 2
    assert set(targets.filter(status="claimed").values_list("attempts", flat=True)) == {1}
    # Calls are live: the others wait for what they return, no pause.
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_call_from_the_default_caller_id_is_checked_in_full_then_dialled(user, settings):
    from telephony.models import PhoneNumber

    topup(user)
    campaign = make_campaign(user, NUMBERS[:1])
    services.campaign_launch(campaign=campaign, by=user)
    (call_id,) = dialer._claim_calls(campaign.pk)
    # No shared number left: the default caller id is the account's, which only the full rule knows.
    PhoneNumber.objects.update(status="released")
    Call.objects.filter(pk=call_id).update(from_number=settings.DEFAULT_CALLER_ID)

    dialer.call_place(call_id)

    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.DIALING and call.dialing_started_at is not None
    assert simulator_jobs() == 1


@pytest.mark.django_db(transaction=True)
def test_a_call_from_a_released_number_is_not_dialled(user):
    from telephony.models import PhoneNumber

    topup(user)
    campaign = make_campaign(user, NUMBERS[:1])
    services.campaign_launch(campaign=campaign, by=user)
    (call_id,) = dialer._claim_calls(campaign.pk)
    PhoneNumber.objects.update(status="released")

    dialer.call_place(call_id)

    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.CANCELED and "caller number" in call.failure_reason
    assert call.dialing_started_at is None
    assert simulator_jobs() == 0
