"""The kill switch: staff stop dialling (everywhere, one carrier's, one workspace's); the dialer
obeys at claim and just before dialling; lifting resumes what the stop paused and nothing else."""

from decimal import Decimal

import django_rq
import pytest
from django.urls import reverse

from accounts.models import User, WorkspaceEvent
from accounts.services import account_created
from billing import ledger
from billing.models import CreditHold
from campaigns.dialing import dialer, killswitch
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, CampaignContact, DialingStop
from campaigns.tests.factories import make_campaign

NUMBERS = [f"+120255501{n:02d}" for n in range(6)]


def topup(user, amount="5000"):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(amount), kind="staff_adjustment", reference=f"topup:{user.pk}"
    )


def customer(email: str) -> User:
    user = User.objects.create_user(email=email, password="correct horse battery", company_name="Other")
    account_created(user=user)
    topup(user)
    return user


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="staff@clozit.test", password="x")


def running(owner, numbers=NUMBERS[:2]) -> Campaign:
    campaign = make_campaign(owner, numbers)
    services.campaign_launch(campaign=campaign, by=owner)
    return campaign


@pytest.mark.django_db(transaction=True)
def test_a_stop_between_claim_and_dial_cancels_the_call_and_requeues_its_contact(user, staff):
    topup(user)
    campaign = running(user, NUMBERS[:1])
    (call_id,) = dialer._claim_calls(campaign.pk)
    django_rq.get_queue("simulator").empty()
    stop = killswitch.dialing_stop_add(scope=DialingStop.Scope.PLATFORM, reason="Carrier complaint", by=staff)

    dialer.call_place(call_id)

    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.CANCELED and call.provider_call_id == "" and call.credits_charged == 0
    assert call.failure_reason == "Dialling stopped by Clozit: Carrier complaint"
    assert django_rq.get_queue("simulator").count == 0  # nothing was dialled
    target = CampaignContact.objects.get(campaign=campaign)
    assert target.status == CampaignContact.Status.PENDING and target.attempts == 0
    assert CreditHold.objects.get(reference=call.hold_reference).status == CreditHold.Status.RELEASED
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.paused_by_stop == stop
    assert campaign.status_reason == "Dialling stopped by Clozit: Carrier complaint"
    assert dialer._claim_calls(campaign.pk) == []  # no new claim while it stands

    assert killswitch.dialing_stop_lift(stop_id=stop.pk, by=staff) == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and campaign.paused_by_stop is None
    (again,) = dialer._claim_calls(campaign.pk)
    dialer.call_place(again)
    assert Call.objects.get(pk=again).status == Call.Status.DIALING


@pytest.mark.django_db(transaction=True)
def test_the_claim_pauses_a_campaign_that_a_stop_covers(user, staff, logged_in):
    topup(user)
    campaign = make_campaign(user, NUMBERS[:2])
    stop = killswitch.dialing_stop_add(
        scope=DialingStop.Scope.WORKSPACE, workspace=user.personal_workspace, reason="Under review", by=staff
    )
    services.campaign_launch(campaign=campaign, by=user)  # launched after the stop: the claim catches it

    assert dialer._claim_calls(campaign.pk) == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.pause_kind == Campaign.PauseKind.DIALING_STOP
    assert campaign.paused_by_stop == stop and not Call.objects.exists()
    assert WorkspaceEvent.objects.filter(workspace=user.personal_workspace, action="dialing.stopped").exists()
    page = logged_in.get(reverse("campaign_detail", args=[campaign.pk])).content.decode()
    assert "Dialling stopped by Clozit: Under review" in page
    assert ">Resume</button>" not in page  # it resumes when Clozit lifts the stop


@pytest.mark.django_db(transaction=True)
def test_a_workspace_stop_leaves_other_workspaces_dialling(user, staff):
    topup(user)
    other = customer("other@example.com")
    ours, theirs = running(user), running(other)
    (ours_call, *_) = dialer._claim_calls(ours.pk)
    (their_call, *_) = dialer._claim_calls(theirs.pk)

    killswitch.dialing_stop_add(
        scope=DialingStop.Scope.WORKSPACE, workspace=user.personal_workspace, reason="Reports", by=staff
    )
    dialer.call_place(ours_call)
    dialer.call_place(their_call)

    assert Call.objects.get(pk=ours_call).status == Call.Status.CANCELED
    assert Call.objects.get(pk=their_call).status == Call.Status.DIALING
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.status == Campaign.Status.PAUSED and theirs.status == Campaign.Status.RUNNING
    assert killswitch.stop_covering(workspace_id=other.personal_workspace.pk) is None


@pytest.mark.django_db(transaction=True)
def test_a_carrier_stop_stops_only_that_carriers_calls(user, staff):
    topup(user)
    campaign = running(user, NUMBERS[:3])
    first, second, *_ = dialer._claim_calls(campaign.pk)

    twilio = killswitch.dialing_stop_add(scope=DialingStop.Scope.CARRIER, carrier="twilio", reason="Outage", by=staff)
    dialer.call_place(first)  # our calls go through the simulated carrier
    assert Call.objects.get(pk=first).status == Call.Status.DIALING
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING

    killswitch.dialing_stop_add(scope=DialingStop.Scope.CARRIER, carrier="simulated", reason="Spam wave", by=staff)
    dialer.call_place(second)
    assert Call.objects.get(pk=second).status == Call.Status.CANCELED
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.status_reason.endswith("Spam wave")
    assert killswitch.dialing_stop_lift(stop_id=twilio.pk, by=staff) == 0  # it paused nothing


@pytest.mark.django_db(transaction=True)
def test_lifting_resumes_only_what_the_stop_paused(user, staff):
    topup(user)
    by_stop, by_owner = running(user), running(user)
    services.campaign_pause(campaign=by_owner)  # paused by a person before the stop
    stop = killswitch.dialing_stop_add(scope=DialingStop.Scope.PLATFORM, reason="Incident", by=staff)
    by_stop.refresh_from_db()
    assert by_stop.status == Campaign.Status.PAUSED

    killswitch.dialing_stop_lift(stop_id=stop.pk, by=staff)
    assert killswitch.dialing_stop_lift(stop_id=stop.pk, by=staff) == 0  # twice: nothing more

    by_stop.refresh_from_db()
    by_owner.refresh_from_db()
    assert by_stop.status == Campaign.Status.RUNNING
    assert by_owner.status == Campaign.Status.PAUSED and by_owner.status_reason == "Paused by you."


@pytest.mark.django_db(transaction=True)
def test_a_campaign_still_covered_by_another_stop_stays_paused_until_that_one_lifts(user, staff):
    topup(user)
    campaign = running(user)
    platform = killswitch.dialing_stop_add(scope=DialingStop.Scope.PLATFORM, reason="Incident", by=staff)
    workspace = killswitch.dialing_stop_add(
        scope=DialingStop.Scope.WORKSPACE, workspace=user.personal_workspace, reason="Review", by=staff
    )

    assert killswitch.dialing_stop_lift(stop_id=platform.pk, by=staff) == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.paused_by_stop == workspace
    assert campaign.status_reason == "Dialling stopped by Clozit: Review"

    assert killswitch.dialing_stop_lift(stop_id=workspace.pk, by=staff) == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_campaign_that_cannot_resume_after_the_lift_stays_paused_saying_why(user, staff):
    topup(user)
    campaign = running(user)
    stop = killswitch.dialing_stop_add(scope=DialingStop.Scope.PLATFORM, reason="Incident", by=staff)
    available = ledger.balance_of(workspace=user.personal_workspace).available
    ledger.credit_post(workspace=user.personal_workspace, amount=-available, kind="staff_adjustment", reference="back")

    assert killswitch.dialing_stop_lift(stop_id=stop.pk, by=staff) == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.pause_kind == Campaign.PauseKind.CREDITS
    assert campaign.paused_by_stop is None  # the credits' sweep resumes it now, not a lift


@pytest.mark.django_db(transaction=True)
def test_staff_stop_and_lift_from_admin(user, admin_client):
    topup(user)
    campaign = running(user)
    page = admin_client.post(
        reverse("admin:campaigns_dialingstop_add"),
        {"scope": "workspace", "carrier": "", "workspace": user.personal_workspace.pk, "reason": "Spam reports"},
        follow=True,
    )
    assert page.status_code == 200
    stop = DialingStop.objects.get()
    assert stop.scope == "workspace" and stop.created_by is not None and stop.lifted_at is None
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED

    refused = admin_client.post(
        reverse("admin:campaigns_dialingstop_add"), {"scope": "carrier", "carrier": "", "reason": "x"}
    )
    assert "Name the carrier to stop." in refused.content.decode()

    admin_client.post(
        reverse("admin:campaigns_dialingstop_changelist"), {"action": "lift", "_selected_action": [stop.pk]}
    )
    stop.refresh_from_db()
    campaign.refresh_from_db()
    assert stop.lifted_at is not None and stop.lifted_by is not None
    assert campaign.status == Campaign.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_running_simulated_campaign_stopped_between_claim_and_dial_finishes_after_the_lift(
    live_server, settings, user, staff, run_jobs
):
    settings.PUBLIC_BASE_URL = live_server.url
    topup(user)
    campaign = make_campaign(user, NUMBERS[:4], concurrency=2)
    services.campaign_launch(campaign=campaign, by=user)
    django_rq.get_queue("dialing").empty()
    claimed = dialer.campaign_advance(campaign.pk)  # its dial jobs are queued, not run yet
    assert len(claimed) == 2
    stop = killswitch.dialing_stop_add(scope=DialingStop.Scope.PLATFORM, reason="Carrier complaint", by=staff)

    run_jobs()  # the dial jobs run now, and the wakes they cause

    assert set(Call.objects.values_list("status", flat=True)) == {Call.Status.CANCELED}
    assert not Call.objects.exclude(provider_call_id="").exists()
    assert not CampaignContact.objects.filter(campaign=campaign).exclude(attempts=0).exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.paused_by_stop == stop

    killswitch.dialing_stop_lift(stop_id=stop.pk, by=staff)
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert Call.objects.filter(status=Call.Status.COMPLETED).count() == 4  # everyone called once
    assert set(CampaignContact.objects.filter(campaign=campaign).values_list("attempts", flat=True)) == {1}
    assert ledger.balance_of(workspace=user.personal_workspace).held == 0
