"""A shared workspace's life: closed by its owner and purged 30 days later, members who close
their own accounts, and staff suspending a workspace or one person.

What members and staff would notice: who can still call, which pages they reach, what is erased
and what stays with the business.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Membership, User, Workspace, WorkspaceEvent
from accounts.tests.test_roles import client_in, join, make_user
from accounts.workspaces import workspace_create
from billing import ledger
from campaigns.lifecycle.services import campaign_launch
from campaigns.models import Call, Campaign
from campaigns.tests.factories import make_campaign
from telephony import numbers
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db

Role = Membership.Role
NUMBERS = ["+12025550101", "+12025550102"]


@pytest.fixture
def team():
    """Ada owns "Analytical Engines", Grace is a member there; each also has a personal workspace."""
    ada, grace = make_user("ada@example.com"), make_user("grace@example.com")
    workspace = workspace_create(name="Analytical Engines", owner=ada)
    join(workspace, grace, Role.MEMBER)
    ledger.credit_post(workspace=workspace, amount=Decimal(1000), kind="staff_adjustment", reference="team:topup")
    campaign = make_campaign(workspace, NUMBERS)
    campaign_launch(campaign=campaign, by=grace)
    number = numbers.number_record(
        workspace=workspace,
        number="+14155550177",
        provider="simulated",
        provider_number_id="PNteam",
        monthly_fee=Decimal(100),
    )
    call = Call.objects.create(
        workspace=workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number=NUMBERS[0],
        from_number=campaign.caller_number,
        provider="simulated",
        status=Call.Status.COMPLETED,
        duration_seconds=12,
    )
    return {"ada": ada, "grace": grace, "workspace": workspace, "campaign": campaign, "number": number, "call": call}


def member(team, name) -> Membership:
    return Membership.objects.select_related("workspace", "user").get(workspace=team["workspace"], user=team[name])


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def test_an_owner_closes_the_workspace_and_it_is_erased_30_days_later(team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.workspace_close(by=member(team, "ada"))

    workspace = fresh(team["workspace"])
    assert workspace.closing_requested_at is not None and not workspace.can_dial
    assert fresh(team["campaign"]).status == Campaign.Status.STOPPED
    assert fresh(team["number"]).status == PhoneNumber.Status.RELEASED  # no more monthly fees
    assert WorkspaceEvent.objects.filter(workspace=workspace, action="workspace.close", actor=team["ada"]).exists()

    assert services.accounts_purge_due(now=timezone.now() + timedelta(days=29)) == 0
    assert fresh(workspace).purged_at is None  # support can still reopen it
    services.accounts_purge_due(now=timezone.now() + timedelta(days=31))
    workspace = fresh(workspace)
    assert workspace.purged_at is not None and workspace.name == f"Deleted workspace {workspace.pk}"
    call = fresh(team["call"])
    assert (call.to_number, call.duration_seconds, call.workspace_id) == ("", 12, workspace.pk)  # the record stays
    assert not WorkspaceEvent.objects.filter(workspace=workspace).exists()
    # The people are untouched: they keep their accounts and personal workspaces.
    for name in ("ada", "grace"):
        person = fresh(team[name])
        assert person.is_active and person.purged_at is None and person.personal_workspace.purged_at is None


def test_support_reopens_a_closed_workspace_from_admin_until_it_is_erased(team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.workspace_close(by=member(team, "ada"))
    staff = User.objects.create_superuser(email="staff@example.com", password="x" * 12)
    admin = client_in(staff, staff.personal_workspace)
    changelist = reverse("admin:accounts_workspace_changelist")
    selected = {"action": "reopen", "_selected_action": [team["workspace"].pk]}

    asked = admin.post(changelist, selected)
    assert asked.status_code == 200 and "give a reason" in asked.content.decode()
    assert fresh(team["workspace"]).closing_requested_at is not None  # nothing happens without a reason
    admin.post(changelist, {**selected, "apply": "1", "reason": "The owner closed it by mistake"})

    workspace = fresh(team["workspace"])
    assert workspace.closing_requested_at is None and workspace.can_dial
    assert fresh(team["campaign"]).status == Campaign.Status.STOPPED  # what closing stopped stays stopped
    assert WorkspaceEvent.objects.filter(workspace=workspace, action="workspace.reopen", actor=staff).exists()
    assert services.accounts_purge_due(now=timezone.now() + timedelta(days=31)) == 0  # no longer due
    with pytest.raises(services.AccountError, match="not closed"):
        services.workspace_reopen(workspace=workspace, by=staff, reason="again")

    # Past the purge, nothing comes back.
    with django_capture_on_commit_callbacks(execute=True):
        services.workspace_close(by=member(team, "ada"))
    services.accounts_purge_due(now=timezone.now() + timedelta(days=31))
    with pytest.raises(services.AccountError, match="no longer be reopened"):
        services.workspace_reopen(workspace=fresh(workspace), by=staff, reason="too late")


def test_only_an_owner_closes_a_workspace(team):
    with pytest.raises(PermissionDenied):
        services.workspace_close(by=member(team, "grace"))
    assert fresh(team["workspace"]).closing_requested_at is None


def test_a_member_closing_their_account_leaves_the_business_as_it_is(team, django_capture_on_commit_callbacks):
    grace = team["grace"]
    with django_capture_on_commit_callbacks(execute=True):
        services.account_delete(user=grace)

    workspace = fresh(team["workspace"])
    assert workspace.closing_requested_at is None and workspace.can_dial
    assert fresh(team["campaign"]).status == Campaign.Status.RUNNING  # her launch goes on
    assert fresh(grace.personal_workspace).closing_requested_at is not None  # hers alone closes

    services.account_purge(user_id=grace.pk)
    assert not Membership.objects.filter(user=grace).exists()
    assert fresh(team["campaign"]).status == Campaign.Status.RUNNING and fresh(team["call"]).to_number == NUMBERS[0]
    launch = WorkspaceEvent.objects.get(workspace=workspace, action="campaign.launch")
    assert launch.actor_name == "a former member" and "grace" not in launch.summary.lower()
    assert fresh(grace.personal_workspace).purged_at is not None


def test_the_only_owner_closing_their_account_closes_the_workspace(team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.account_delete(user=team["ada"])

    workspace = fresh(team["workspace"])
    assert workspace.closing_requested_at is not None and not workspace.can_dial
    assert fresh(team["campaign"]).status == Campaign.Status.STOPPED
    services.accounts_purge_due(now=timezone.now() + timedelta(days=31))
    assert fresh(workspace).purged_at is not None
    assert fresh(team["grace"]).is_active  # the member keeps her account


def test_with_a_second_owner_the_workspace_outlives_its_first(team, django_capture_on_commit_callbacks):
    Membership.objects.filter(workspace=team["workspace"], user=team["grace"]).update(role=Role.OWNER)
    with django_capture_on_commit_callbacks(execute=True):
        services.account_delete(user=team["ada"])
    services.accounts_purge_due(now=timezone.now() + timedelta(days=31))

    workspace = fresh(team["workspace"])
    assert workspace.closing_requested_at is None and workspace.purged_at is None
    assert fresh(team["campaign"]).status == Campaign.Status.RUNNING


def test_staff_suspend_a_workspace_its_campaigns_pause_and_members_see_why(team):
    staff = User.objects.create_superuser(email="staff@example.com", password="x" * 12)
    services.workspace_set_status(
        workspace=team["workspace"], status=Workspace.Status.SUSPENDED, reason="Complaints from callees", by=staff
    )

    assert fresh(team["campaign"]).status == Campaign.Status.PAUSED
    assert not fresh(team["workspace"]).can_dial
    browser = client_in(team["grace"], team["workspace"])
    response = browser.get(reverse("campaign_list"))
    assert response.status_code == 302 and response["Location"] == reverse("account_suspended")
    page = browser.get(reverse("account_suspended")).content.decode()
    assert "Analytical Engines is suspended" in page and "Complaints from callees" in page
    # Her own workspace is not suspended: she switches and works there.
    personal = team["grace"].personal_workspace
    assert browser.post(reverse("workspace_switch"), {"workspace": personal.pk}).status_code == 302
    assert browser.get(reverse("campaign_list")).status_code == 200


def test_suspending_a_person_shuts_them_out_everywhere_and_the_shared_workspace_goes_on(team):
    services.account_set_status(user=team["grace"], status=User.Status.SUSPENDED, reason="Abusive calls", by=None)

    browser = client_in(team["grace"], team["workspace"])
    assert browser.get(reverse("campaign_list"))["Location"] == reverse("account_suspended")
    browser.post(reverse("workspace_switch"), {"workspace": team["grace"].personal_workspace.pk})
    assert browser.get(reverse("campaign_list"))["Location"] == reverse("account_suspended")
    assert fresh(team["workspace"]).status == Workspace.Status.ACTIVE  # the business is not hers alone
    assert fresh(team["campaign"]).status == Campaign.Status.RUNNING
    # Her personal workspace has nobody else: it is suspended with her, as accounts always were.
    assert fresh(team["grace"].personal_workspace).status == Workspace.Status.SUSPENDED
    assert client_in(team["ada"], team["workspace"]).get(reverse("campaign_list")).status_code == 200


def test_the_owner_exports_the_workspace_and_a_member_may_not(team):
    owner = client_in(team["ada"], team["workspace"])
    response = owner.get(reverse("workspace_export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert client_in(team["grace"], team["workspace"]).get(reverse("workspace_export")).status_code == 403
