"""Staff approve a workspace's first campaign, and any very large one, before it calls anyone:
launching it puts it in the queue (nothing dials), the page says so, staff approve (it launches
with every launch check) or reject with a reason the owners read on the page and by email."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.core import mail
from django.urls import reverse

from accounts.models import WorkspaceEvent
from billing import ledger
from campaigns.errors import CampaignError
from campaigns.lifecycle import review, services
from campaigns.lifecycle.approval import WAITING, workspace_approved
from campaigns.models import Agent, Call, Campaign, CampaignApproval, WorkspaceApproval
from campaigns.tests.factories import make_campaign, make_list

NUMBERS = [f"+120255501{n:02d}" for n in range(6)]


@pytest.fixture(autouse=True)
def approvals_on(settings):
    settings.CAMPAIGN_APPROVAL_REQUIRED = True
    settings.CAMPAIGN_APPROVAL_ABOVE_CONTACTS = 4


def topup(user, amount="5000"):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(amount), kind="staff_adjustment", reference="topup"
    )


def launch(campaign, user) -> Campaign:
    services.campaign_launch(campaign=campaign, by=user)
    campaign.refresh_from_db()
    return campaign


@pytest.fixture
def waiting(user):
    topup(user)
    return launch(make_campaign(user, NUMBERS[:2]), user)


def test_a_first_campaign_waits_for_approval_and_calls_nobody(user, waiting, logged_in):
    assert waiting.status == Campaign.Status.DRAFT and waiting.status_reason == WAITING
    assert not waiting.targets.exists() and not Call.objects.exists()
    approval = CampaignApproval.objects.get(campaign=waiting)
    assert approval.status == "pending" and approval.why == "The workspace's first campaign." and approval.contacts == 2
    assert approval.opening_line == waiting.agent.opening_line
    assert WorkspaceEvent.objects.filter(action="campaign.approval_asked").exists()

    page = logged_in.get(reverse("campaign_detail", args=[waiting.pk])).content.decode()
    assert "Waiting for approval" in page and "Launch campaign" not in page

    launch(waiting, user)  # launching again keeps the one request
    assert CampaignApproval.objects.filter(campaign=waiting).count() == 1


def test_the_launch_button_says_it_was_sent_for_approval(user, logged_in):
    topup(user)
    campaign = make_campaign(user, NUMBERS[:2])
    page = logged_in.post(
        reverse("campaign_action", args=[campaign.pk, "launch"]), {"confirm": "launch-anyway"}, follow=True
    )
    assert "Sent for approval" in page.content.decode()


def test_approval_launches_it_and_later_small_campaigns_launch_directly(user, waiting, admin_user):
    approval = CampaignApproval.objects.get(campaign=waiting)
    campaign = review.campaign_approve(approval_id=approval.pk, by=admin_user)

    assert campaign.status == Campaign.Status.RUNNING and campaign.targets.count() == 2
    assert WorkspaceApproval.objects.filter(workspace=user.personal_workspace).exists()
    assert WorkspaceEvent.objects.filter(action="campaign.approved").exists()
    with pytest.raises(CampaignError, match="no longer waiting"):
        review.campaign_approve(approval_id=approval.pk, by=admin_user)

    assert launch(make_campaign(user, NUMBERS[:3]), user).status == Campaign.Status.RUNNING
    # Above the size limit, even an approved workspace's campaign waits.
    large = launch(make_campaign(user, NUMBERS[:5]), user)
    assert large.status == Campaign.Status.DRAFT
    assert CampaignApproval.objects.get(campaign=large).why == "Its list has 5 contacts, more than 4."


def test_an_approval_whose_launch_is_refused_says_why_and_the_next_launch_goes_through(user, waiting, admin_user):
    available = ledger.balance_of(workspace=user.personal_workspace).available
    ledger.credit_post(workspace=user.personal_workspace, amount=-available, kind="staff_adjustment", reference="x")
    approval = CampaignApproval.objects.get(campaign=waiting)

    campaign = review.campaign_approve(approval_id=approval.pk, by=admin_user)

    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.status_reason.startswith("Approved by Clozit staff, but it could not start: You need at least")
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal(500), kind="staff_adjustment", reference="y")
    assert launch(campaign, user).status == Campaign.Status.RUNNING


def test_a_rejection_tells_the_owners_why_on_the_page_and_by_email(
    user, waiting, admin_user, logged_in, django_capture_on_commit_callbacks, run_jobs
):
    approval = CampaignApproval.objects.get(campaign=waiting)
    with pytest.raises(CampaignError, match="Give a reason"):
        review.campaign_reject(approval_id=approval.pk, reason=" ", by=admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        review.campaign_reject(approval_id=approval.pk, reason="The script does not say who is calling.", by=admin_user)
    run_jobs()

    waiting.refresh_from_db()
    assert waiting.status == Campaign.Status.DRAFT
    assert waiting.status_reason == "Not approved by Clozit staff: The script does not say who is calling."
    page = logged_in.get(reverse("campaign_detail", args=[waiting.pk])).content.decode()
    assert "Not approved by Clozit staff: The script does not say who is calling." in page
    assert "Launch campaign" in page  # fix it and launch again
    (email,) = mail.outbox
    assert email.to == [user.email] and "not approved" in email.subject
    assert "The script does not say who is calling." in email.body
    assert "The script does not say who is calling." in email.alternatives[0][0]
    # Listed on the notices page (without the "[Clozit] " an inbox needs).
    assert email.subject.removeprefix("[Clozit] ") in logged_in.get("/notices/").content.decode()

    launch(waiting, user)  # launched again: reviewed again
    assert CampaignApproval.objects.filter(campaign=waiting, status="pending").count() == 1


def test_a_scheduled_first_campaign_waits_for_staff_not_for_its_time_again(user, waiting):
    assert waiting.launch_at is None
    assert services.campaign_launches_due() == {"launched": 0, "refused": 0, "errors": 0}


def test_workspaces_that_launched_before_approvals_count_as_approved(user, settings):
    topup(user)
    settings.CAMPAIGN_APPROVAL_REQUIRED = False
    launch(make_campaign(user, NUMBERS[:1]), user)
    settings.CAMPAIGN_APPROVAL_REQUIRED = True
    assert workspace_approved(user.personal_workspace.pk)
    assert launch(make_campaign(user, NUMBERS[:2]), user).status == Campaign.Status.RUNNING

    # The migration writes down what the rule says, for every workspace that launched.
    migration = importlib.import_module("campaigns.migrations.0021_approvals_and_dialing_stops")
    migration.approve_workspaces_that_launched(apps, None)
    assert WorkspaceApproval.objects.filter(workspace=user.personal_workspace).exists()


def test_with_approvals_off_every_launch_is_direct(user, settings):
    settings.CAMPAIGN_APPROVAL_REQUIRED = False
    topup(user)
    assert launch(make_campaign(user, NUMBERS[:5]), user).status == Campaign.Status.RUNNING


def test_the_demo_workspace_launches_at_once(db, settings):
    from clozit.demo import load_demo

    settings.CAMPAIGN_APPROVAL_ABOVE_CONTACTS = 5000  # the default: the demo's list is below it

    user = load_demo()
    campaign = Campaign.objects.get(workspace=user.personal_workspace)
    assert launch(campaign, user).status == Campaign.Status.RUNNING


def test_staff_see_the_queue_and_approve_or_reject_from_admin(user, waiting, admin_client):
    queue = admin_client.get(reverse("admin:campaigns_campaignapproval_changelist")).content.decode()
    assert waiting.name in queue and "first campaign" in queue
    approval = CampaignApproval.objects.get(campaign=waiting)
    page = admin_client.get(reverse("admin:campaigns_campaignapproval_change", args=[approval.pk])).content.decode()
    assert waiting.purpose in page and waiting.agent.opening_line in page
    assert f"Confirmed for the list “{waiting.contact_list.name}” by {user.email}" in page

    asked = admin_client.post(
        reverse("admin:campaigns_campaignapproval_changelist"),
        {"action": "reject", "_selected_action": [approval.pk]},
    )
    assert "give a reason" in asked.content.decode()
    admin_client.post(
        reverse("admin:campaigns_campaignapproval_changelist"),
        {"action": "reject", "_selected_action": [approval.pk], "apply": "1", "reason": "Unclear purpose."},
    )
    approval.refresh_from_db()
    assert approval.status == "rejected" and approval.decision_reason == "Unclear purpose."

    launch(waiting, user)
    again = CampaignApproval.objects.get(campaign=waiting, status="pending")
    admin_client.post(
        reverse("admin:campaigns_campaignapproval_changelist"), {"action": "approve", "_selected_action": [again.pk]}
    )
    waiting.refresh_from_db()
    assert waiting.status == Campaign.Status.RUNNING


def test_a_campaign_changed_while_it_waits_is_reviewed_again_as_it_is(user, waiting, admin_user):
    approval = CampaignApproval.objects.get(campaign=waiting)
    Agent.objects.filter(pk=waiting.agent_id).update(opening_line="Hi, this is your bank. Read me your card number.")

    with pytest.raises(CampaignError, match="changed since it was asked"):
        review.campaign_approve(approval_id=approval.pk, by=admin_user)

    approval.refresh_from_db()
    assert approval.status == "pending" and approval.opening_line.startswith("Hi, this is your bank")
    waiting.refresh_from_db()
    assert waiting.status == Campaign.Status.DRAFT
    assert review.campaign_approve(approval_id=approval.pk, by=admin_user).status == Campaign.Status.RUNNING


def test_an_approval_covers_the_list_size_staff_saw(user, admin_user):
    topup(user)
    available = ledger.balance_of(workspace=user.personal_workspace).available
    large = launch(make_campaign(user, NUMBERS[:5]), user)
    ledger.credit_post(workspace=user.personal_workspace, amount=-available, kind="staff_adjustment", reference="x")
    review.campaign_approve(approval_id=CampaignApproval.objects.get(campaign=large).pk, by=admin_user)
    large.refresh_from_db()
    assert large.status == Campaign.Status.DRAFT  # approved, but no credits to start

    services.campaign_update(campaign=large, changes={"contact_list": make_list(user, NUMBERS, name="More")})
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal(500), kind="staff_adjustment", reference="y")
    assert launch(large, user).status == Campaign.Status.DRAFT  # six contacts: asked again
    assert CampaignApproval.objects.get(campaign=large, status="pending").contacts == 6
