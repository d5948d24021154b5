"""Workspaces keep their data apart, also for people who belong to several: while B works in
WS-B, nothing of WS-A is found through any page (404), even though B is a member of WS-A too;
once B switches to WS-A, B reads it with B's role there (a viewer) and changes nothing."""

import html

import pytest
from django.urls import reverse

from accounts import members
from accounts.middleware import WORKSPACE_SESSION_KEY
from accounts.models import Membership, Workspace
from accounts.tests.test_roles import client_in, fingerprint, join, make_user
from accounts.workspaces import workspace_create
from billing import ledger
from billing.models import LedgerEntry
from campaigns.agents.playground import playground_start
from campaigns.conversation.knowledge import knowledge_add_text
from campaigns.models import Agent, Call, Campaign, DoNotCall
from campaigns.tests.factories import make_agent, make_campaign
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db

Role = Membership.Role


def text(response) -> str:
    return html.unescape(response.content.decode())


def _data(workspace: Workspace, tag: str, numbers: list[str], own_number: str) -> dict:
    """Some of everything in `workspace`, named after `tag` so pages can be read for it."""
    campaign = make_campaign(workspace, numbers, name=f"{tag} caller")
    Campaign.objects.filter(pk=campaign.pk).update(name=f"{tag} campaign")
    campaign.contact_list.name = f"{tag} list"
    campaign.contact_list.save(update_fields=["name"])
    agent = make_agent(workspace, name=f"{tag} agent")
    contact = campaign.contact_list.contacts.first()
    call = Call.objects.create(
        workspace=workspace,
        campaign=campaign,
        agent=campaign.agent,
        contact=contact,
        to_number=contact.phone_number,
        from_number="+14155550000",
        provider="simulated",
        recording_url="https://recordings.example/rec.mp3",
    )
    owner = Membership.objects.filter(workspace=workspace, role=Role.OWNER).first()
    ledger.credit_post(
        workspace=workspace,
        amount=250,
        kind=LedgerEntry.Kind.STAFF_ADJUSTMENT,
        reference=f"grant:{tag}",
        memo=f"{tag} goodwill grant",
    )
    return {
        "workspace": workspace,
        "campaign": Campaign.objects.get(pk=campaign.pk),
        "agent": agent,
        "list": campaign.contact_list,
        "contact": contact,
        "call": call,
        "source": knowledge_add_text(agent, f"{tag} prices", "Plans start at 49 dollars a month."),
        "session": playground_start(workspace, agent),
        "dnc": DoNotCall.objects.create(workspace=workspace, phone_number=numbers[-1].replace("01", "99")),
        "number": PhoneNumber.objects.create(workspace=workspace, number=own_number, provider="simulated"),
        "owner": owner,
        "invitation": members.invitation_create(by=owner, email=f"{tag.lower()}-invitee@example.com", role="member"),
    }


@pytest.fixture
def world(db):
    """A owns WS-A; B is an admin of WS-B (owned by C) and a viewer of WS-A, working in WS-B."""
    a, b, c = make_user("a@alpha.example"), make_user("b@bravo.example"), make_user("c@bravo.example")
    ws_a = workspace_create(name="Alpha", owner=a)
    ws_b = workspace_create(name="Bravo", owner=c)
    b_in_b = join(ws_b, b, Role.ADMIN)
    b_in_a = join(ws_a, b, Role.VIEWER)
    alpha = _data(ws_a, "Alpha", ["+12025550101", "+12025550102"], "+14155550171")
    bravo = _data(ws_b, "Bravo", ["+13035550101", "+13035550102"], "+14155550172")
    alpha["other_member"] = join(ws_a, make_user("d@alpha.example"), Role.MEMBER)
    return {"a": a, "b": b, "c": c, "alpha": alpha, "bravo": bravo, "b_in_a": b_in_a, "b_in_b": b_in_b}


def alpha_urls(alpha: dict, bravo: dict) -> list[tuple[str, str, dict]]:
    """(name, url, form) of every page about one of WS-A's objects, with a form that would change
    it; some name a WS-B object in the path and a WS-A one after it."""
    agent, contact_list, campaign = alpha["agent"], alpha["list"], alpha["campaign"]

    def url(name, *args):
        return reverse(name, args=args)

    rows = [
        ("agent_edit", url("agent_edit", agent.pk), {"name": "Taken over"}),
        ("agent_delete", url("agent_delete", agent.pk), {}),
        ("knowledge", url("knowledge", agent.pk), {}),
        ("knowledge_text_add", url("knowledge_text_add", agent.pk), {"title": "x", "text": "Taken over."}),
        ("knowledge_source", url("knowledge_source", agent.pk, alpha["source"].pk), {}),
        ("knowledge_source_delete", url("knowledge_source_delete", agent.pk, alpha["source"].pk), {}),
        ("knowledge_source mixed", url("knowledge_source_delete", bravo["agent"].pk, alpha["source"].pk), {}),
        ("agent_playground", url("agent_playground", agent.pk), {}),
        ("playground_start", url("playground_start", agent.pk), {}),
        ("playground_say", url("playground_say", agent.pk, alpha["session"].pk), {"text": "hi"}),
        ("playground_say mixed", url("playground_say", bravo["agent"].pk, alpha["session"].pk), {"text": "hi"}),
        ("playground_restart", url("playground_restart", agent.pk, alpha["session"].pk), {}),
        ("contactlist_detail", url("contactlist_detail", contact_list.pk), {}),
        ("contactlist_edit", url("contactlist_edit", contact_list.pk), {"name": "Taken over"}),
        ("contactlist_delete", url("contactlist_delete", contact_list.pk), {}),
        ("contactlist_export", url("contactlist_export", contact_list.pk), {}),
        ("contactlist_rejections", url("contactlist_rejections", contact_list.pk), {}),
        ("contactlist_consent", url("contactlist_consent", contact_list.pk), {"consent": "on"}),
        ("contactlist_map", url("contactlist_map", contact_list.pk), {}),
        ("contactlist_import", url("contactlist_import", contact_list.pk), {}),
        ("contact_edit", url("contact_edit", contact_list.pk, alpha["contact"].pk), {"first_name": "Taken"}),
        ("contact_delete", url("contact_delete", contact_list.pk, alpha["contact"].pk), {}),
        ("contact_edit mixed", url("contact_edit", bravo["list"].pk, alpha["contact"].pk), {"first_name": "Taken"}),
        ("campaign_detail", url("campaign_detail", campaign.pk), {}),
        ("campaign_preflight", url("campaign_preflight", campaign.pk), {}),
        ("campaign_edit", url("campaign_edit", campaign.pk), {"name": "Taken over"}),
        ("campaign_duplicate", url("campaign_duplicate", campaign.pk), {}),
        ("campaign_delete", url("campaign_delete", campaign.pk), {}),
        ("campaign_schedule", url("campaign_schedule", campaign.pk), {"launch_at": "2099-01-01T09:00"}),
        ("campaign_report", url("campaign_report", campaign.pk), {}),
        ("campaign_stats", url("campaign_stats", campaign.pk), {}),
        ("campaign_assistant", url("campaign_assistant", campaign.pk), {"question": "What happened?"}),
        ("call_detail", url("call_detail", alpha["call"].pk), {}),
        ("call_recording", url("call_recording", alpha["call"].pk), {}),
        ("call_assistant", url("call_assistant", alpha["call"].pk), {"question": "What happened?"}),
        ("dnc_remove", url("dnc_remove", alpha["dnc"].pk), {}),
        ("number_agent", url("number_agent", alpha["number"].pk), {"agent": agent.pk}),
        ("number_release", url("number_release", alpha["number"].pk), {}),
        ("member_role", url("member_role", alpha["other_member"].pk), {"role": Role.ADMIN}),
        ("member_remove", url("member_remove", alpha["other_member"].pk), {}),
        ("member_remove owner", url("member_remove", alpha["owner"].pk), {}),
        ("invitation_revoke", url("invitation_revoke", alpha["invitation"].pk), {}),
    ]
    rows += [
        (f"campaign_action {action}", url("campaign_action", campaign.pk, action), {})
        for action in ("launch", "pause", "resume", "stop", "archive")
    ]
    return rows


POST_ONLY = {
    "knowledge_text_add",
    "playground_start",
    "playground_say",
    "playground_say mixed",
    "playground_restart",
    "contactlist_consent",
    "campaign_duplicate",
    "campaign_schedule",
    "dnc_remove",
    "number_agent",
    "member_role",
    "member_remove",
    "member_remove owner",
    "invitation_revoke",
}
# Pages that only read: the gate refuses a POST to them (deny by default) before the view.
READ_ONLY = {
    "contactlist_detail",
    "contactlist_export",
    "contactlist_rejections",
    "campaign_detail",
    "campaign_report",
    "campaign_stats",
    "call_detail",
    "call_recording",
}


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_workspaces_objects_are_not_found_even_by_one_of_its_members(world, method):
    alpha, bravo = world["alpha"], world["bravo"]
    client = client_in(world["b"], bravo["workspace"])  # B works in WS-B, where B is admin
    before = fingerprint(alpha["workspace"])

    wrong = []
    for name, url, form in alpha_urls(alpha, bravo):
        if method == "get":
            response = client.get(url)
            expected = {405} if name.split()[0] in POST_ONLY or name.startswith("campaign_action") else {404}
        else:
            response = client.post(url, form)
            expected = {403} if name in READ_ONLY else {404}
        if response.status_code not in expected:
            wrong.append((name, url, response.status_code))

    assert not wrong, f"WS-A's pages answered B working in WS-B: {wrong}"
    assert fingerprint(alpha["workspace"]) == before
    assert client.session[WORKSPACE_SESSION_KEY] == bravo["workspace"].pk


def test_another_workspaces_agent_or_list_cannot_be_used_from_this_one(world):
    alpha, bravo = world["alpha"], world["bravo"]
    client = client_in(world["b"], bravo["workspace"])
    campaigns_before = Campaign.objects.count()

    client.post(
        reverse("campaign_create"),
        {
            "name": "Borrowed",
            "agent": alpha["agent"].pk,
            "contact_list": alpha["list"].pk,
            "caller_number": "+14155550000",
            "max_concurrent_calls": "1",
        },
    )
    client.post(reverse("number_agent", args=[bravo["number"].pk]), {"agent": alpha["agent"].pk})

    assert Campaign.objects.count() == campaigns_before
    assert PhoneNumber.objects.get(pk=bravo["number"].pk).inbound_agent_id is None


def test_switching_to_a_workspace_one_belongs_to_reads_it(world):
    alpha, bravo = world["alpha"], world["bravo"]
    client = client_in(world["b"], bravo["workspace"])

    response = client.post(reverse("workspace_switch"), {"workspace": alpha["workspace"].pk})

    assert response.status_code == 302
    assert client.session[WORKSPACE_SESSION_KEY] == alpha["workspace"].pk
    reads = [
        reverse("dashboard"),
        reverse("agent_list"),
        reverse("agent_edit", args=[alpha["agent"].pk]),
        reverse("knowledge", args=[alpha["agent"].pk]),
        reverse("contactlist_list"),
        reverse("contactlist_detail", args=[alpha["list"].pk]),
        reverse("contactlist_export", args=[alpha["list"].pk]),
        reverse("campaign_list"),
        reverse("campaign_detail", args=[alpha["campaign"].pk]),
        reverse("campaign_report", args=[alpha["campaign"].pk]),
        reverse("call_list"),
        reverse("call_detail", args=[alpha["call"].pk]),
        reverse("dnc_list"),
        reverse("number_list"),
        reverse("credits"),
        reverse("workspace_members"),
    ]
    failed = [(url, status) for url in reads if (status := client.get(url).status_code) != 200]
    assert not failed, f"B, a viewer of WS-A, cannot read: {failed}"


def test_a_viewer_who_switched_in_changes_nothing(world):
    alpha, bravo = world["alpha"], world["bravo"]
    client = client_in(world["b"], bravo["workspace"])
    client.post(reverse("workspace_switch"), {"workspace": alpha["workspace"].pk})
    before = fingerprint(alpha["workspace"])

    allowed = []
    for name, url, form in alpha_urls(alpha, bravo):
        if name in READ_ONLY or name.endswith("mixed"):
            continue
        status = client.post(url, form).status_code
        if status != 403:
            allowed.append((name, status))

    assert not allowed, f"a viewer was not refused: {allowed}"
    assert fingerprint(alpha["workspace"]) == before


def test_switching_to_a_workspace_one_does_not_belong_to_is_not_found(world):
    bravo = world["bravo"]
    stranger = make_user("e@charlie.example")
    ws_c = workspace_create(name="Charlie", owner=stranger)
    client = client_in(world["b"], bravo["workspace"])

    response = client.post(reverse("workspace_switch"), {"workspace": ws_c.pk})
    assert response.status_code == 404
    assert client.session[WORKSPACE_SESSION_KEY] == bravo["workspace"].pk
    for junk in ["", "not-a-number", "999999"]:
        assert client.post(reverse("workspace_switch"), {"workspace": junk}).status_code == 404
    assert client.session[WORKSPACE_SESSION_KEY] == bravo["workspace"].pk

    # Nor does naming it in the session open it: the gate falls back to a workspace of B's own.
    session = client.session
    session[WORKSPACE_SESSION_KEY] = ws_c.pk
    session.save()
    page = text(client.get(reverse("agent_list")))
    assert "Charlie" not in page
    assert client.session[WORKSPACE_SESSION_KEY] != ws_c.pk


LISTING_PAGES = {
    "agents": ("agent_list", lambda data, tag: f"{tag} agent"),
    "campaigns": ("campaign_list", lambda data, tag: f"{tag} campaign"),
    "calls": ("call_list", lambda data, tag: reverse("call_detail", args=[data["call"].pk])),
    "lists": ("contactlist_list", lambda data, tag: f"{tag} list"),
    "numbers": ("number_list", lambda data, tag: data["number"].number),
    "credits": ("credits", lambda data, tag: f"{tag} goodwill grant"),
    "dnc": ("dnc_list", lambda data, tag: data["dnc"].phone_number),
    "dashboard": ("dashboard", lambda data, tag: f"{tag} campaign"),
}


@pytest.mark.parametrize("page", sorted(LISTING_PAGES))
def test_lists_show_only_the_current_workspaces_rows(world, page):
    alpha, bravo = world["alpha"], world["bravo"]
    name, marker = LISTING_PAGES[page]
    client = client_in(world["b"], bravo["workspace"])

    in_bravo = client.get(reverse(name))
    assert in_bravo.status_code == 200
    assert marker(bravo, "Bravo") in text(in_bravo), "misses WS-B's own row"
    assert marker(alpha, "Alpha") not in text(in_bravo), "shows WS-A's row while in WS-B"

    client.post(reverse("workspace_switch"), {"workspace": alpha["workspace"].pk})
    in_alpha = client.get(reverse(name))
    assert in_alpha.status_code == 200
    assert marker(alpha, "Alpha") in text(in_alpha), "misses WS-A's own row"
    assert marker(bravo, "Bravo") not in text(in_alpha), "shows WS-B's row while in WS-A"


def test_an_admin_of_one_workspace_sees_nothing_of_anothers_members(world):
    alpha, bravo = world["alpha"], world["bravo"]
    client = client_in(world["b"], bravo["workspace"])
    members.member_set_role(by=alpha["owner"], membership=alpha["other_member"], role=Role.BILLING)  # an event

    members_page = text(client.get(reverse("workspace_members")))
    activity = text(client.get(reverse("workspace_activity")))

    assert "c@bravo.example" in members_page and "bravo-invitee@example.com" in members_page
    for alpha_only in ["a@alpha.example", "d@alpha.example", "alpha-invitee@example.com"]:
        assert alpha_only not in members_page
        assert alpha_only not in activity
    assert "bravo-invitee@example.com" in activity


def test_a_member_who_works_elsewhere_keeps_their_place(world):
    """B working in WS-B does not lose WS-A: the membership and role there are untouched."""
    client_in(world["b"], world["bravo"]["workspace"]).get(reverse("dashboard"))
    world["b_in_a"].refresh_from_db()
    assert world["b_in_a"].role == Role.VIEWER
    assert Agent.objects.filter(workspace=world["alpha"]["workspace"]).count() == 2
