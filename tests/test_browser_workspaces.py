"""A team in one workspace, in a real Chromium at desktop and phone size: the owner invites a
teammate as member and someone else as viewer; the teammate signs up from the emailed link
(mobile and email codes), joins, and builds and launches a campaign in the shared workspace; the
owner sees it, and who launched it; the viewer reads everything and changes nothing; a member of
two workspaces switches between them from the header and sees each one's campaigns only.

Expected refusals (403) are asked for with `page.request`, which the `new_page` fixture does not
watch, so every response the pages themselves get must still be below 400.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import NewAccount, enter_code, field, fill_signup_form
from tests.test_browser_csp import VIEWPORTS
from tests.test_browser_journey import CSV, fill_agent_form

SCREENSHOTS = Path("/tmp")
OWNER_WORKSPACE = "Northwind Trading"
TEAMMATE = NewAccount(
    email="grace@example.com",
    mobile="+1 (415) 555-0124",
    mobile_e164="+14155550124",
    first_name="Grace",
    last_name="Hopper",
    company="Hopper Labs",
)
VIEWER_EMAIL = "alan@example.com"
AGENT = "Ada's sales assistant"  # the name tests.test_browser_journey.fill_agent_form gives
CAMPAIGN = "Spring outreach"


# --- Accounts and pages -----------------------------------------------------------------------
def make_account(email: str, *, company: str, mobile: str, first_name: str, last_name: str):
    """An account as sign-up leaves it (verified mobile, personal workspace, starter credits)."""
    from accounts.models import User
    from accounts.services import account_created

    user = User.objects.create_user(
        email=email,
        password="correct horse battery",
        company_name=company,
        first_name=first_name,
        last_name=last_name,
        mobile_number=mobile,
        mobile_verified_at=timezone.now(),
    )
    account_created(user=user)
    return user


def open_page(new_page, size: str):
    page = new_page()
    page.set_viewport_size(VIEWPORTS[size])
    return page


def log_in(page, url: str, user) -> None:
    """Signed in as `user` in this page's browser (a session cookie, as tests.test_browser_csp does)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def nav(page, test_id: str) -> None:
    """Follow a main-menu link; on a phone the links are folded into the Menu button first."""
    toggle = page.get_by_test_id("nav-menu")
    if toggle.is_visible():
        toggle.click()
    page.get_by_test_id(test_id).click()


def switcher(page):
    """The header's workspace switcher, opened."""
    summary = page.get_by_test_id("workspace-switcher")
    expect(summary).to_be_visible()
    summary.click()
    return summary


def switch_to(page, workspace) -> None:
    switcher(page)
    button = page.get_by_test_id(f"switch-to-{workspace.pk}")
    expect(button).to_be_visible()
    button.click()
    expect(page.get_by_test_id("workspace-switcher")).to_have_text(workspace.name)
    expect(page.locator(".message-success")).to_contain_text(f"You are working in {workspace.name}.")


def offered(locator, what: str, wrong: list[str]) -> None:
    """Note a control shown to the viewer, whose role may not use it (the gate refuses it)."""
    if locator.count():
        wrong.append(f"the viewer is shown {what}")


def fits_the_screen(page) -> None:
    """Nothing sticks out sideways (wide tables scroll inside their own box)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def invitation_link(email: str) -> str:
    from django.core import mail

    sent = [m for m in mail.outbox if m.to == [email]]
    assert sent, f"no email to {email}"
    found = re.search(r"^(http\S+/invitations/\S+/)$", sent[-1].body, re.MULTILINE)
    assert found, f"no invitation link in the email:\n{sent[-1].body}"
    return found.group(1)


def post_as_page(page, path: str, data: dict | None = None):
    """A form POST from this page's browser (its cookies, its CSRF token), its answer unfollowed.
    Used where the answer is expected to be a refusal, so the page itself stays clean."""
    cookies = page.context.cookies()
    csrf = next(c["value"] for c in cookies if c["name"] == settings.CSRF_COOKIE_NAME)
    base = re.match(r"https?://[^/]+", page.url).group(0)
    return page.request.post(
        base + path,
        form={"csrfmiddlewaretoken": csrf, **(data or {})},
        headers={"Referer": page.url},
        max_redirects=0,
    )


# --- The member's work ------------------------------------------------------------------------
def sign_up_from_invitation(page, link: str, account: NewAccount, sms_outbox) -> None:
    """From the emailed link: "Create an account", the form, the texted code, the emailed code."""
    from tests.conftest import email_code

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Join {OWNER_WORKSPACE}")
    expect(page.get_by_role("main")).to_contain_text(f"invited {account.email} to work in {OWNER_WORKSPACE} as member")
    fits_the_screen(page)
    page.get_by_test_id("invitation-signup").click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/\?next="))
    fill_signup_form(page, account)
    sent_before = len(sms_outbox)
    page.get_by_role("main").get_by_role("button", name="Sign Up").click()
    expect(page).to_have_url(re.compile(r"/accounts/phone/verify/"))
    assert len(sms_outbox) == sent_before + 1 and sms_outbox[-1].phone == account.mobile_e164
    enter_code(page, sms_outbox[-1].code)
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/"))
    enter_code(page, email_code())
    # The sign-up kept the link as `next` through both codes: back to the invitation.
    expect(page).to_have_url(link)


def build_and_launch(page, url: str, run_jobs) -> str:
    """The member's agent, contact list (consent confirmed) and campaign, launched. Returns the
    campaign's page."""
    nav(page, "nav-agents")
    page.get_by_role("main").get_by_role("button", name="New agent").click()
    expect(page).to_have_url(url + "/agents/new/")
    fill_agent_form(page, max_call_seconds=40)
    page.get_by_role("button", name="Save agent").click()
    expect(page).to_have_url(url + "/agents/")
    expect(page.get_by_role("alert")).to_contain_text(f"Agent “{AGENT}” saved.")

    nav(page, "nav-contacts")
    page.get_by_role("main").get_by_role("button", name="Upload CSV").click()
    field(page, "CSV file").set_input_files(
        files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/map/$"))
    field(page, "List name").fill("Spring leads")
    page.get_by_label(re.compile("I confirm I have consent to call these people")).check()
    page.get_by_role("button", name="Import contacts").click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/import/$"))
    run_jobs()
    expect(page.get_by_test_id("import-summary")).to_contain_text("3 contacts imported into “Spring leads”")

    nav(page, "nav-campaigns")
    page.get_by_role("main").get_by_role("button", name="New campaign").click()
    expect(page).to_have_url(url + "/campaigns/new/")
    field(page, "Name").fill(CAMPAIGN)
    field(page, "Why you are calling").fill("Telling our leads about the spring offer")
    field(page, "Agent").select_option(label=AGENT)
    field(page, "Contact list").select_option(label="Spring leads")
    field(page, "Calls at the same time").fill("1")
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/$"))
    expect(page.get_by_test_id("campaign-status")).to_have_text("Draft")
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_role("alert")).to_contain_text("Campaign launched")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Running")
    return page.url


# --- The journey ------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_team_shares_a_workspace_by_role(live, new_page, sms_outbox, run_jobs, size):
    from accounts.models import Membership, User, Workspace
    from campaigns.models import Agent, Campaign, ContactList

    url = live.url
    shots = SCREENSHOTS / f"workspaces-{size}"
    owner = make_account(
        "owner@example.com", company=OWNER_WORKSPACE, mobile="+14155550123", first_name="Ada", last_name="Byron"
    )
    workspace = Workspace.objects.get(personal_for=owner)
    assert workspace.name == OWNER_WORKSPACE
    # What the pages get wrong without stopping the journey (a button a viewer sees but may not
    # use, a workspace misnamed): checked last, so that every other step has run and been checked.
    wrong: list[str] = []

    # 1. The owner opens Members from the header's switcher and invites two people.
    owner_page = open_page(new_page, size)
    log_in(owner_page, url, owner)
    owner_page.goto(url + "/dashboard/", timeout=60_000)  # the server's first page loads its modules
    expect(owner_page.get_by_test_id("workspace-switcher")).to_have_text(OWNER_WORKSPACE)
    # A long name is cut short with an ellipsis; nothing of the switcher is pushed out of its box.
    hidden = owner_page.get_by_test_id("workspace-switcher").evaluate("e => e.scrollHeight - e.clientHeight")
    if hidden > 0:
        wrong.append(f"the header's workspace switcher pushes {hidden}px of itself (its chevron) out of its box")
    switcher(owner_page)
    owner_page.get_by_test_id("nav-members").click()
    expect(owner_page).to_have_url(url + "/workspace/members/")
    expect(owner_page.get_by_role("heading", level=1)).to_have_text(f"Members of {OWNER_WORKSPACE}")
    for email, role in ((TEAMMATE.email, "member"), (VIEWER_EMAIL, "viewer")):
        invite = owner_page.get_by_test_id("invite-form")
        invite.get_by_label("Email address").fill(email)
        invite.get_by_label("Role").select_option(role)
        invite.get_by_role("button", name="Send invitation").click()
        expect(owner_page.locator(".message-success")).to_contain_text(f"Invitation sent to {email}.")
    waiting = owner_page.get_by_test_id("invitations")
    expect(waiting).to_contain_text(f"{TEAMMATE.email} as member")
    expect(waiting).to_contain_text(f"{VIEWER_EMAIL} as viewer")
    fits_the_screen(owner_page)
    owner_page.screenshot(path=f"{shots}-members.png", full_page=True)

    # 2. The teammate opens the emailed link, signs up with that address on the way, and joins.
    teammate_page = open_page(new_page, size)
    link = invitation_link(TEAMMATE.email)
    assert link.startswith(url + "/invitations/")
    sign_up_from_invitation(teammate_page, link, TEAMMATE, sms_outbox)
    expect(teammate_page.get_by_role("heading", level=1)).to_have_text(f"Join {OWNER_WORKSPACE}")
    teammate_page.get_by_test_id("invitation-accept").click()
    expect(teammate_page).to_have_url(url + "/dashboard/")
    expect(teammate_page.locator(".message-success")).to_contain_text(f"Welcome to {OWNER_WORKSPACE}.")
    expect(teammate_page.get_by_test_id("workspace-switcher")).to_have_text(OWNER_WORKSPACE)
    teammate = User.objects.get(email=TEAMMATE.email)
    assert Membership.objects.get(workspace=workspace, user=teammate).role == "member"
    # The link is used once (asked by `page.request`: the answer is a 410, on purpose).
    used = teammate_page.request.get(link)
    assert used.status == 410 and "This invitation has already been used." in used.text()

    # 3. The member builds and launches a campaign in the shared workspace.
    teammate_page.goto(url + "/dashboard/")
    campaign_url = build_and_launch(teammate_page, url, run_jobs)
    campaign = Campaign.objects.get(name=CAMPAIGN)
    assert campaign.workspace == workspace and campaign.status == "running"
    assert Agent.objects.filter(workspace=workspace).count() == 1
    assert ContactList.objects.filter(workspace=workspace).count() == 1
    teammate_personal = Workspace.objects.get(personal_for=teammate)
    # The personal workspace made at sign-up is named after the company typed on the form.
    if (teammate_personal.name, teammate_personal.company_name) != (TEAMMATE.company, TEAMMATE.company):
        wrong.append(
            f"the sign-up's personal workspace is named {teammate_personal.name!r} with company "
            f"{teammate_personal.company_name!r}, not the company typed on the form ({TEAMMATE.company!r})"
        )
    assert not Campaign.objects.filter(workspace=teammate_personal).exists()

    # The owner sees it on their campaign list, and who launched it on "Who did what".
    nav(owner_page, "nav-campaigns")
    expect(owner_page.get_by_role("main").get_by_role("link", name=CAMPAIGN)).to_be_visible()
    owner_page.goto(url + "/workspace/members/")
    expect(owner_page.get_by_test_id(f"member-{TEAMMATE.email}")).to_contain_text("Grace Hopper")
    owner_page.get_by_role("link", name="Who did what").click()
    expect(owner_page).to_have_url(url + "/workspace/activity/")
    launch = owner_page.get_by_test_id("activity").locator("tbody tr", has_text=f"Launched the campaign “{CAMPAIGN}”.")
    expect(launch).to_have_count(1)
    expect(launch.locator("td").nth(1)).to_have_text("Grace Hopper")
    joined = owner_page.get_by_test_id("activity").locator("tbody tr", has_text="Joined as member")
    expect(joined.locator("td").nth(1)).to_have_text("Grace Hopper")
    fits_the_screen(owner_page)
    owner_page.screenshot(path=f"{shots}-activity.png", full_page=True)

    # 4. The viewer, with an account already, accepts the invitation and reads without changing.
    viewer = make_account(
        VIEWER_EMAIL, company="Turing Works", mobile="+14155550125", first_name="Alan", last_name="Turing"
    )
    viewer_page = open_page(new_page, size)
    log_in(viewer_page, url, viewer)
    viewer_page.goto(invitation_link(VIEWER_EMAIL))
    expect(viewer_page.get_by_role("main")).to_contain_text(f"to work in {OWNER_WORKSPACE} as viewer")
    viewer_page.get_by_test_id("invitation-accept").click()
    expect(viewer_page).to_have_url(url + "/dashboard/")
    expect(viewer_page.get_by_test_id("workspace-switcher")).to_have_text(OWNER_WORKSPACE)
    assert Membership.objects.get(workspace=workspace, user=viewer).role == "viewer"

    nav(viewer_page, "nav-campaigns")
    main = viewer_page.get_by_role("main")
    expect(main.get_by_role("link", name=CAMPAIGN)).to_be_visible()
    offered(main.get_by_role("button", name="New campaign"), "“New campaign” on /campaigns/", wrong)
    main.get_by_role("link", name=CAMPAIGN).click()
    expect(viewer_page).to_have_url(campaign_url)
    expect(viewer_page.get_by_test_id("campaign-status")).to_have_text("Running")
    fits_the_screen(viewer_page)
    viewer_page.screenshot(path=f"{shots}-viewer-campaign.png", full_page=True)
    for name in ("Pause", "Stop", "Duplicate"):
        offered(main.get_by_role("button", name=name, exact=True), f"“{name}” on the campaign's page", wrong)
    nav(viewer_page, "nav-agents")
    expect(main.get_by_role("link", name=AGENT)).to_be_visible()
    offered(main.get_by_role("button", name="New agent"), "“New agent” on /agents/", wrong)
    offered(main.get_by_role("link", name="Delete", exact=True), "“Delete” on /agents/", wrong)
    main.get_by_role("link", name=AGENT).click()
    expect(viewer_page).to_have_url(re.compile(r"/agents/\d+/"))
    viewer_page.screenshot(path=f"{shots}-viewer-agent.png", full_page=True)
    offered(main.get_by_role("button", name="Save agent"), "“Save agent” on the agent's page", wrong)
    nav(viewer_page, "nav-contacts")
    expect(main.get_by_role("link", name="Spring leads", exact=True)).to_be_visible()
    offered(main.get_by_role("button", name="Upload CSV"), "“Upload CSV” on /contacts/", wrong)
    offered(main.get_by_role("link", name="Delete Spring leads"), "“Delete” on /contacts/", wrong)
    switcher(viewer_page)
    viewer_page.get_by_test_id("nav-members").click()
    expect(viewer_page.get_by_test_id(f"member-{owner.email}")).to_contain_text("Owner")
    expect(viewer_page.get_by_test_id("invite-form")).to_have_count(0)
    expect(viewer_page.get_by_role("link", name="Who did what")).to_have_count(0)

    # What the viewer's browser may still send is refused before anything changes.
    agents_before = Agent.objects.filter(workspace=workspace).count()
    for path, data in (
        (f"/campaigns/{campaign.pk}/launch/", {}),
        (f"/campaigns/{campaign.pk}/stop/", {}),
        (f"/campaigns/{campaign.pk}/pause/", {}),
        (f"/campaigns/{campaign.pk}/duplicate/", {}),
        ("/agents/new/", {"name": "Viewer's agent"}),
        ("/workspace/members/invite/", {"email": "mallory@example.com", "role": "owner"}),
    ):
        response = post_as_page(viewer_page, path, data)
        assert response.status == 403, f"the viewer's POST to {path} got {response.status}"
    refused = viewer_page.request.get(url + "/workspace/activity/")
    assert refused.status == 403, f"the viewer read /workspace/activity/: {refused.status}"
    campaign.refresh_from_db()
    assert campaign.status == "running"
    assert Campaign.objects.filter(workspace=workspace).count() == 1
    assert Agent.objects.filter(workspace=workspace).count() == agents_before
    assert not Membership.objects.filter(user__email="mallory@example.com").exists()
    # The same browser's token works where the viewer may act: the 403s above were the role's.
    switch = post_as_page(viewer_page, "/workspace/switch/", {"workspace": str(workspace.pk)})
    assert switch.status == 302

    # 5. The teammate belongs to two workspaces: the header switches, each shows its own campaigns.
    from campaigns.tests.factories import make_campaign

    own = make_campaign(teammate, ["+12125550101"])
    Campaign.objects.filter(pk=own.pk).update(name="Hopper Labs pilot")
    teammate_page.goto(url + "/campaigns/")
    main = teammate_page.get_by_role("main")
    expect(main.get_by_role("link", name=CAMPAIGN)).to_be_visible()
    expect(main.get_by_role("link", name="Hopper Labs pilot")).to_have_count(0)
    switcher(teammate_page)
    expect(teammate_page.get_by_test_id(f"switch-to-{teammate_personal.pk}")).to_contain_text("(owner)")
    expect(teammate_page.get_by_test_id("nav-members")).to_have_text("Members (member)")
    fits_the_screen(teammate_page)
    teammate_page.screenshot(path=f"{shots}-switcher.png")
    teammate_page.get_by_test_id(f"switch-to-{teammate_personal.pk}").click()
    expect(teammate_page.get_by_test_id("workspace-switcher")).to_have_text(teammate_personal.name)
    expect(teammate_page.locator(".message-success")).to_contain_text(f"You are working in {teammate_personal.name}.")
    nav(teammate_page, "nav-campaigns")
    expect(main.get_by_role("link", name="Hopper Labs pilot")).to_be_visible()
    expect(main.get_by_role("link", name=CAMPAIGN)).to_have_count(0)
    # Nor is the other workspace's campaign reachable from here by its address, nor its agent listed.
    assert teammate_page.request.get(campaign_url).status == 404
    nav(teammate_page, "nav-agents")
    expect(main.get_by_role("link", name=AGENT)).to_have_count(0)
    switch_to(teammate_page, workspace)
    nav(teammate_page, "nav-campaigns")
    expect(main.get_by_role("link", name=CAMPAIGN)).to_be_visible()
    expect(main.get_by_role("link", name="Hopper Labs pilot")).to_have_count(0)

    assert not wrong, "the pages got these wrong:\n" + "\n".join(wrong)
