"""The role × action matrix: every page that changes something has a role rule
(accounts.roles), the gate refuses a role that lacks it with a 403 before anything changes, and
the member services refuse it again when called directly."""

import inspect
import itertools
import uuid
from decimal import Decimal

import django_rq
import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts import members, roles, services
from accounts.middleware import WORKSPACE_SESSION_KEY
from accounts.models import Invitation, Membership, User, Workspace, WorkspaceEvent
from accounts.workspaces import workspace_create
from billing import ledger
from billing.models import CreditPackage, LedgerEntry, Plan, Purchase, RefundRequest, Subscription
from campaigns.agents.playground import playground_start
from campaigns.conversation.knowledge import knowledge_add_text
from campaigns.models import (
    Agent,
    AssistantQuestion,
    Call,
    Campaign,
    Contact,
    ContactList,
    DoNotCall,
    KnowledgeSource,
    PlaygroundSession,
)
from campaigns.tests.factories import make_agent, make_campaign
from clozit.settings import RQ_QUEUES
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db

Role = Membership.Role
ROLES = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.BILLING, Role.VIEWER]
NUMBERS = ["+12025550101", "+12025550102", "+12025550103"]
PASSWORD = "a-long-and-unusual-passphrase-42"


# --- Helpers shared with test_workspace_tenancy.py and test_invitations.py --------------------
_mobiles = itertools.count(100)


def make_user(email: str) -> User:
    """A verified account (with its personal workspace) that may sign in."""
    return User.objects.create_user(
        email=email,
        password=PASSWORD,
        mobile_number=f"+1415555{next(_mobiles):04d}",
        mobile_verified_at=timezone.now(),
    )


def join(workspace: Workspace, user: User, role: str) -> Membership:
    return Membership.objects.create(workspace=workspace, user=user, role=role)


def client_in(user: User, workspace: Workspace) -> Client:
    """A browser signed in as `user`, working in `workspace`. Errors in views come back as 500
    pages rather than exceptions, so a crash is a status like any other."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    session = client.session
    session[WORKSPACE_SESSION_KEY] = workspace.pk
    session.save()
    return client


def queued_jobs() -> int:
    return sum(django_rq.get_queue(name).count for name in RQ_QUEUES)


def fingerprint(workspace: Workspace) -> dict:
    """What a change through any page would move: the workspace's rows and queued jobs."""
    ws = Workspace.objects.get(pk=workspace.pk)
    return {
        "workspace": (ws.name, ws.company_name, ws.default_country, ws.time_zone, ws.status, ws.closing_requested_at),
        "agents": sorted(Agent.objects.filter(workspace=ws).values_list("pk", "name", "updated_at")),
        "knowledge": KnowledgeSource.objects.filter(agent__workspace=ws).count(),
        "playground": sorted(
            (s.pk, len(s.transcript), s.ended) for s in PlaygroundSession.objects.filter(workspace=ws)
        ),
        "lists": sorted(
            ContactList.objects.filter(workspace=ws).values_list("pk", "name", "consent_confirmed_at", "tags")
        ),
        "contacts": sorted(
            Contact.objects.filter(contact_list__workspace=ws).values_list("pk", "phone_number", "first_name")
        ),
        "campaigns": sorted(
            Campaign.objects.filter(workspace=ws).values_list("pk", "name", "status", "archived_at", "launch_at")
        ),
        "calls": Call.objects.filter(workspace=ws).count(),
        "questions": AssistantQuestion.objects.filter(workspace=ws).count(),
        "dnc": sorted(DoNotCall.objects.filter(workspace=ws).values_list("phone_number", flat=True)),
        "members": sorted(Membership.objects.filter(workspace=ws).values_list("user_id", "role")),
        "invitations": sorted(
            Invitation.objects.filter(workspace=ws).values_list("pk", "email", "role", "revoked_at", "accepted_at")
        ),
        "numbers": sorted(
            PhoneNumber.objects.filter(workspace=ws).values_list("pk", "status", "inbound_agent_id", "released_at")
        ),
        "ledger": LedgerEntry.objects.filter(account__workspace=ws).count(),
        "purchases": sorted(Purchase.objects.filter(workspace=ws).values_list("pk", "status")),
        "refunds": RefundRequest.objects.filter(workspace=ws).count(),
        "subscriptions": sorted(Subscription.objects.filter(workspace=ws).values_list("pk", "status", "cancel_at")),
        "events": WorkspaceEvent.objects.filter(workspace=ws).count(),
        "jobs": queued_jobs(),
        "api_keys": sorted(
            apps.get_model("api", "ApiKey").objects.filter(workspace=ws).values_list("pk", "revoked_at")
        ),
        # Outgoing webhooks (integrations.webhooks: by label, as accounts may not import the integrations).
        "webhooks": sorted(
            apps.get_model("webhooks", "Endpoint")
            .objects.filter(workspace=ws)
            .values_list("pk", "url", "enabled", "secret", "event_types")
        ),
        "webhook_deliveries": sorted(
            apps.get_model("webhooks", "Delivery")
            .objects.filter(endpoint__workspace=ws)
            .values_list("pk", "status", "attempts")
        ),
    }


# --- 1a. Every page has a rule --------------------------------------------------------------
# Pages that only read: none of them handles POST (checked below, and read one by one). A POST
# to them is refused to every role but owner by the gate's deny-by-default.
_READ_ONLY_VIEWS = """
dashboard credits credits_export credits_balance purchase_status number_list agent_list
contactlist_list contactlist_detail contactlist_rejections contactlist_export dnc_export campaign_list
campaign_detail call_list call_detail call_recording campaign_report analytics campaign_stats calls_export
assistant_question integrations
"""
READ_ONLY = frozenset(_READ_ONLY_VIEWS.split())
# None: /favicon.ico; who_called*: the page for people who were called (safety), no sign-in.
PUBLIC = frozenset({"landing", "terms", "privacy", "refunds", "healthz", "who_called", "who_called_act", None})


def _patterns(resolver=None, prefix="", namespaced=False):
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern, prefix + str(pattern.pattern), namespaced or bool(pattern.namespace))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern), pattern, namespaced


def app_pages() -> dict[str, object]:
    """URL name → view of every page a workspace member uses (not admin, allauth, carriers'
    webhooks or the public pages)."""
    pages = {}
    for path, pattern, namespaced in _patterns():
        if namespaced or path.startswith(("accounts/", "telephony/", "billing/paddle/")):
            continue
        if pattern.name in PUBLIC:
            continue
        pages[pattern.name] = pattern.callback
    return pages


def test_every_app_page_has_a_role_rule():
    pages = app_pages()
    assert len(pages) > 60  # the walk found the project's pages
    unruled = sorted(
        name
        for name in pages
        if name not in roles.ACTION_OF_VIEW and name not in roles.OPEN_VIEWS and name not in READ_ONLY
    )
    assert not unruled, f"pages without a role rule in accounts/roles.py: {unruled}"


def test_the_rules_name_only_pages_that_exist():
    pages = app_pages()
    named = set(roles.ACTION_OF_VIEW) | set(roles.OPEN_VIEWS) | set(roles.READ_ACTION_OF_VIEW) | READ_ONLY
    assert sorted(named - set(pages)) == []


@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_read_only_pages_handle_no_post(name):
    view = inspect.unwrap(app_pages()[name])
    source = inspect.getsource(view)
    assert "POST" not in source and "request.method" not in source, f"{name} handles POST: give it an action"


# --- 1b. The matrix through the pages ---------------------------------------------------------
@pytest.fixture
def team(db):
    """One workspace with an owner and one member of each other role, and some of everything."""
    owner = make_user("owner@team.example")
    workspace = workspace_create(name="Team", owner=owner)
    people = {Role.OWNER: owner}
    for role in ROLES[1:]:
        person = make_user(f"{role}@team.example")
        join(workspace, person, role)
        people[role] = person
    target = join(workspace, make_user("target@team.example"), Role.MEMBER)

    campaign = make_campaign(workspace, NUMBERS)
    agent = make_agent(workspace, name="Spare agent")
    contact_list = campaign.contact_list
    contact = contact_list.contacts.first()
    source = knowledge_add_text(agent, "Prices", "Plans start at 49 dollars a month.")
    session = playground_start(workspace, agent)
    dnc = DoNotCall.objects.create(workspace=workspace, phone_number="+12025550199")
    number = PhoneNumber.objects.create(workspace=workspace, number="+14155550177", provider="simulated")
    invitation = members.invitation_create(
        by=Membership.objects.get(workspace=workspace, user=owner), email="pending@team.example", role=Role.MEMBER
    )
    call = Call.objects.create(
        workspace=workspace,
        campaign=campaign,
        agent=campaign.agent,
        contact=contact,
        to_number=contact.phone_number,
        from_number="+14155550000",
        provider="simulated",
    )
    question = AssistantQuestion.objects.create(
        workspace=workspace, campaign=campaign, question="How did it go?", status=AssistantQuestion.Status.ANSWERED
    )
    package = CreditPackage.objects.create(name="Starter", credits=Decimal("500"), price=Decimal("10"))
    purchase = Purchase.objects.create(
        workspace=workspace,
        package=package,
        paddle_transaction_id=f"txn_test_{uuid.uuid4().hex[:24]}",
        status=Purchase.Status.COMPLETED,
        credits=package.credits,
        total=package.price,
        currency="USD",
        test_mode=True,
        completed_at=timezone.now(),
    )
    ledger.credit_post(
        workspace=workspace,
        amount=package.credits,
        kind=LedgerEntry.Kind.PURCHASE,
        reference=f"paddle:{purchase.paddle_transaction_id}",
    )
    plan = Plan.objects.create(
        name="Pro", paddle_price_id="pri_pro", monthly_price=Decimal("49"), included_credits=Decimal("1000")
    )
    subscription = Subscription.objects.create(
        workspace=workspace, plan=plan, paddle_subscription_id="sub_team", status="active"
    )
    # By model name: the accounts app imports no integration (pyproject.toml's contracts).
    api_key = apps.get_model("api", "ApiKey").objects.create(
        workspace=workspace, name="CRM", prefix="clz_team0000", secret_hash="0" * 64
    )
    return {
        "workspace": workspace,
        "people": people,
        "api_key": api_key,
        "target": target,
        "campaign": campaign,
        "agent": agent,
        "list": contact_list,
        "contact": contact,
        "source": source,
        "session": session,
        "dnc": dnc,
        "number": number,
        "invitation": invitation,
        "call": call,
        "question": question,
        "package": package,
        "purchase": purchase,
        "plan": plan,
        "subscription": subscription,
        **_webhook_objects(workspace),
    }


def _webhook_objects(workspace) -> dict:
    """A webhook endpoint with one delivered message (by label: accounts may not import the integrations)."""
    endpoint = apps.get_model("webhooks", "Endpoint").objects.create(
        workspace=workspace, url="https://8.8.8.8/hook", event_types=["call.completed"], secret="whsec_dGVzdA=="
    )
    message = apps.get_model("webhooks", "Message").objects.create(
        workspace=workspace, event_type="call.completed", data={}, msg_id="msg_roles"
    )
    delivery = apps.get_model("webhooks", "Delivery").objects.create(
        message=message, endpoint=endpoint, status="delivered", attempts=1
    )
    return {"webhook": endpoint, "webhook_delivery": delivery}


def agent_form(**overrides) -> dict:
    data = {
        "name": "Renewals bot",
        "language": "en-US",
        "voice": "Polly.Joanna",
        "opening_line": "Hi {{first_name}}, this is an AI assistant from Acme.",
        "questions": "Is now a good time?",
        "answers": "price | Renewal is 49 dollars a month.",
        "closing_line": "Thanks, goodbye!",
        "voicemail_action": "hangup",
        "voicemail_message": "",
        "max_call_seconds": "120",
        "outcomes": "renewed | Agreed to renew",
    }
    data.update(overrides)
    return data


def page_request(name: str, team: dict) -> tuple[str, dict]:
    """The URL of page `name` for the team's own objects, and a form a person would send."""
    agent, contact_list, campaign = team["agent"], team["list"], team["campaign"]
    kwargs = {
        "agent_edit": {"pk": agent.pk},
        "agent_delete": {"pk": agent.pk},
        "knowledge": {"pk": agent.pk},
        "knowledge_search": {"pk": agent.pk},
        "knowledge_text_add": {"pk": agent.pk},
        "knowledge_file_upload": {"pk": agent.pk},
        "knowledge_source": {"pk": agent.pk, "source_pk": team["source"].pk},
        "knowledge_source_delete": {"pk": agent.pk, "source_pk": team["source"].pk},
        "agent_playground": {"pk": agent.pk},
        "playground_start": {"pk": agent.pk},
        "playground_say": {"pk": agent.pk, "session_pk": team["session"].pk},
        "playground_talk_token": {"pk": agent.pk, "session_pk": team["session"].pk},
        "playground_restart": {"pk": agent.pk, "session_pk": team["session"].pk},
        "contactlist_map": {"pk": contact_list.pk},
        "contactlist_import": {"pk": contact_list.pk},
        "contactlist_import_retry": {"pk": contact_list.pk},
        "contactlist_consent": {"pk": contact_list.pk},
        "contactlist_edit": {"pk": contact_list.pk},
        "contactlist_delete": {"pk": contact_list.pk},
        "contact_edit": {"pk": contact_list.pk, "contact_pk": team["contact"].pk},
        "contact_delete": {"pk": contact_list.pk, "contact_pk": team["contact"].pk},
        "dnc_remove": {"pk": team["dnc"].pk},
        "campaign_preflight": {"pk": campaign.pk},
        "campaign_edit": {"pk": campaign.pk},
        "campaign_duplicate": {"pk": campaign.pk},
        "campaign_delete": {"pk": campaign.pk},
        "campaign_schedule": {"pk": campaign.pk},
        "campaign_action": {"pk": campaign.pk, "action": "launch"},
        "call_assistant": {"pk": team["call"].pk},
        "campaign_assistant": {"pk": campaign.pk},
        "assistant_question": {"pk": team["question"].pk},
        "credits_test_checkout": {"package_id": team["package"].pk},
        "credits_test_subscribe": {"plan_id": team["plan"].pk},
        "subscription_cancel": {"pk": team["subscription"].pk},
        "refund_request": {"transaction_id": team["purchase"].paddle_transaction_id},
        "purchase_invoice": {"transaction_id": team["purchase"].paddle_transaction_id},
        "call_dispute": {"call_id": team["call"].pk},
        "number_agent": {"pk": team["number"].pk},
        "number_release": {"pk": team["number"].pk},
        "invitation_revoke": {"pk": team["invitation"].pk},
        "member_role": {"pk": team["target"].pk},
        "member_remove": {"pk": team["target"].pk},
        "api_key_revoke": {"pk": team["api_key"].pk},
        **dict.fromkeys(
            ["webhook_detail", "webhook_edit", "webhook_delete", "webhook_rotate", "webhook_enable", "webhook_test"],
            {"pk": team["webhook"].pk},
        ),
        "webhook_resend": {"pk": team["webhook"].pk, "delivery_pk": team["webhook_delivery"].pk},
    }.get(name, {})
    data = {
        "agent_create": agent_form(),
        "agent_edit": agent_form(name="Renamed"),
        "knowledge_search": {"q": "price"},
        "knowledge_text_add": {"title": "Hours", "text": "We are open nine to five."},
        "playground_say": {"text": "Hello, who is this?"},
        "contactlist_consent": {"consent": "on"},
        "contactlist_edit": {"name": "Renamed list", "tags": "vip"},
        "contact_edit": {"phone_number": "+12025550177", "first_name": "Changed"},
        "dnc_list": {"phone_number": "+12025550188"},
        "campaign_edit": {"name": "Renamed campaign"},
        "campaign_schedule": {"launch_at": "2099-01-01T09:00"},
        "call_assistant": {"question": "What did they say?"},
        "campaign_assistant": {"question": "What went well?"},
        "refund_request": {"reason": "Not needed after all."},
        "call_dispute": {"reason": "The agent never spoke."},
        "number_agent": {"agent": agent.pk},
        "workspace_invite": {"email": "new@team.example", "role": Role.MEMBER},
        "member_role": {"role": Role.VIEWER},
        "workspace_settings": {
            "name": "Renamed team",
            "company_name": "Team Ltd",
            "default_country": "US",
            "time_zone": "UTC",
        },
        "workspace_close": {"confirm_name": team["workspace"].name},
        "api_key_create": {"name": "CI", "scope": "read"},
        "webhook_create": {"url": "https://8.8.4.4/hook", "event_types": ["call.completed"], "enabled": "on"},
        "webhook_edit": {"url": "https://8.8.8.8/hook", "event_types": ["call.failed"], "enabled": "on"},
    }.get(name, {})
    return reverse(name, kwargs=kwargs), data


MATRIX = [(role, name) for role in ROLES for name in sorted(roles.ACTION_OF_VIEW)]

# Allowed roles may get any answer but a refusal; a crash is reported here as a product bug
# unless the page is known to fail for reasons unrelated to roles.
CRASHES_UNRELATED_TO_ROLES: set[str] = set()


@pytest.mark.parametrize("role,name", MATRIX, ids=[f"{r}-{n}" for r, n in MATRIX])
def test_each_role_may_post_to_exactly_the_pages_its_actions_allow(team, role, name):
    action = roles.ACTION_OF_VIEW[name]
    workspace = team["workspace"]
    client = client_in(team["people"][role], workspace)
    url, data = page_request(name, team)
    before = fingerprint(workspace)

    response = client.post(url, data)

    if roles.allows(role, action):
        assert response.status_code != 403, f"{role} may {action} but {url} refused"
        if name not in CRASHES_UNRELATED_TO_ROLES:
            assert response.status_code < 500, f"{url} crashed for {role}"
    else:
        assert response.status_code == 403, f"{role} lacks {action} but {url} answered {response.status_code}"
        assert fingerprint(workspace) == before, f"{url} changed something for {role}"


@pytest.mark.parametrize("role", ROLES)
def test_a_post_to_a_page_without_a_rule_is_refused_to_all_but_owners(team, role):
    """Deny by default: a read-only page reached with POST needs the owner's action."""
    client = client_in(team["people"][role], team["workspace"])
    response = client.post(reverse("agent_list"))
    assert (response.status_code == 403) == (role != Role.OWNER)


def test_a_refusal_says_which_roles_may(team):
    client = client_in(team["people"][Role.VIEWER], team["workspace"])
    response = client.post(reverse("workspace_invite"), {"email": "x@team.example", "role": Role.MEMBER})
    assert response.status_code == 403
    assert "owner, admin" in response.content.decode()


# --- 1c. The services refuse too ----------------------------------------------------------------
def _by(team, role) -> Membership:
    return Membership.objects.get(workspace=team["workspace"], user=team["people"][role])


MEMBER_MANAGERS = {Role.OWNER, Role.ADMIN}
SETTINGS_EDITORS = {Role.OWNER, Role.ADMIN}


@pytest.mark.parametrize("role", ROLES)
def test_invitation_create_service_checks_the_role(team, role):
    by = _by(team, role)
    if role in MEMBER_MANAGERS:
        invitation = members.invitation_create(by=by, email="svc@team.example", role=Role.MEMBER)
        assert invitation.role == Role.MEMBER
    else:
        with pytest.raises(PermissionDenied):
            members.invitation_create(by=by, email="svc@team.example", role=Role.MEMBER)
        assert not Invitation.objects.filter(email="svc@team.example").exists()


@pytest.mark.parametrize("role", ROLES)
def test_invitation_revoke_service_checks_the_role(team, role):
    by, invitation = _by(team, role), team["invitation"]
    if role in MEMBER_MANAGERS:
        members.invitation_revoke(by=by, invitation=invitation)
        invitation.refresh_from_db()
        assert invitation.revoked_at is not None
    else:
        with pytest.raises(PermissionDenied):
            members.invitation_revoke(by=by, invitation=invitation)
        invitation.refresh_from_db()
        assert invitation.revoked_at is None


@pytest.mark.parametrize("role", ROLES)
def test_member_set_role_service_checks_the_role(team, role):
    by, target = _by(team, role), team["target"]
    if role in MEMBER_MANAGERS:
        members.member_set_role(by=by, membership=target, role=Role.VIEWER)
        target.refresh_from_db()
        assert target.role == Role.VIEWER
    else:
        with pytest.raises(PermissionDenied):
            members.member_set_role(by=by, membership=target, role=Role.VIEWER)
        target.refresh_from_db()
        assert target.role == Role.MEMBER


@pytest.mark.parametrize("role", ROLES)
def test_member_remove_service_checks_the_role(team, role):
    by, target = _by(team, role), team["target"]
    if role in MEMBER_MANAGERS:
        members.member_remove(by=by, membership=target)
        assert not Membership.objects.filter(pk=target.pk).exists()
    else:
        with pytest.raises(PermissionDenied):
            members.member_remove(by=by, membership=target)
        assert Membership.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize("role", ROLES)
def test_workspace_update_service_checks_the_role(team, role):
    by = _by(team, role)
    if role in SETTINGS_EDITORS:
        members.workspace_update(by=by, name="Renamed team")
        assert Workspace.objects.get(pk=team["workspace"].pk).name == "Renamed team"
    else:
        with pytest.raises(PermissionDenied):
            members.workspace_update(by=by, name="Renamed team")
        assert Workspace.objects.get(pk=team["workspace"].pk).name == "Team"


@pytest.mark.parametrize("role", ROLES)
def test_workspace_close_service_is_the_owners_alone(team, role):
    by = _by(team, role)
    if role == Role.OWNER:
        services.workspace_close(by=by)
        assert Workspace.objects.get(pk=team["workspace"].pk).closing_requested_at is not None
    else:
        with pytest.raises(PermissionDenied):
            services.workspace_close(by=by)
        assert Workspace.objects.get(pk=team["workspace"].pk).closing_requested_at is None


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.BILLING, Role.VIEWER])
def test_only_owners_make_or_unmake_owners_through_the_services(team, role):
    by, target = _by(team, role), team["target"]
    owner = _by(team, Role.OWNER)
    with pytest.raises(PermissionDenied):
        members.member_set_role(by=by, membership=target, role=Role.OWNER)
    with pytest.raises(PermissionDenied):
        members.member_set_role(by=by, membership=owner, role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        members.member_remove(by=by, membership=owner)
    with pytest.raises(PermissionDenied):
        members.invitation_create(by=by, email="boss@team.example", role=Role.OWNER)
    target.refresh_from_db()
    owner.refresh_from_db()
    assert (target.role, owner.role) == (Role.MEMBER, Role.OWNER)
    assert not Invitation.objects.filter(email="boss@team.example").exists()


# --- 1d. Reads some roles may not make --------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(roles.READ_ACTION_OF_VIEW))
def test_restricted_reads_are_refused_to_roles_without_their_action(team, role, name):
    client = client_in(team["people"][role], team["workspace"])
    url, _ = page_request(name, team)

    response = client.get(url)

    if roles.allows(role, roles.READ_ACTION_OF_VIEW[name]):
        assert response.status_code != 403
        assert response.status_code < 500
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_workspaces_pages(team, role):
    client = client_in(team["people"][role], team["workspace"])
    for name in ["dashboard", "agent_list", "contactlist_list", "campaign_list", "call_list", "credits"]:
        assert client.get(reverse(name)).status_code == 200, name
    assert client.get(reverse("campaign_detail", args=[team["campaign"].pk])).status_code == 200
