"""Every page carries a Content-Security-Policy that allows no inline script or style and no eval,
and the pages themselves need none (the browser tests walk them under it)."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

UNSAFE = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*")


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


class InlineCode(HTMLParser):
    """Collects what a strict policy refuses: inline scripts, style elements and attributes, handlers."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and "src" not in attributes and attributes.get("type") != "application/json":
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")


def inline_code(response) -> list[str]:
    parser = InlineCode()
    parser.feed(response.content.decode())
    return parser.found


def test_pages_carry_a_strict_policy(client):
    policy = policy_of(client.get(reverse("landing")))

    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src", "img-src", "connect-src"):
        assert not set(UNSAFE) & set(policy[directive]), (directive, policy[directive])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    # Paddle.js and the checkout frame it opens are the only outside hosts.
    assert "https://cdn.paddle.com" in policy["script-src"]
    assert policy["frame-src"] == ["https://buy.paddle.com", "https://sandbox-buy.paddle.com"]


def test_fragments_and_errors_carry_it_too(client, user):
    client.force_login(user)
    fragment = client.get(reverse("credits_balance"), HTTP_HX_REQUEST="true")
    missing = client.get("/no-such-page/")

    assert fragment.status_code == 200 and policy_of(fragment)["script-src"][0] == "'self'"
    assert missing.status_code == 404 and policy_of(missing)["default-src"] == ["'self'"]


@pytest.mark.parametrize(
    "name",
    ["landing", "terms", "privacy", "refunds", "account_login", "account_signup", "account_request_login_code"],
)
def test_public_pages_have_no_inline_script_or_style(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 200
    assert inline_code(response) == []


@pytest.mark.parametrize(
    "name",
    [
        "dashboard",
        "credits",
        "credits_buy",
        "agent_list",
        "contactlist_list",
        "contactlist_upload",
        "campaign_list",
        "call_list",
        "analytics",
        "number_list",
        "dnc_list",
        "account_settings",
        "account_change_phone",
        "account_email",
    ],
)
def test_signed_in_pages_have_no_inline_script_or_style(client, user, name):
    client.force_login(user)
    response = client.get(reverse(name))

    assert response.status_code == 200
    assert inline_code(response) == []


def test_the_buy_page_allows_paddles_inline_styles_only_while_paddle_is_configured(client, user, settings):
    client.force_login(user)
    without_paddle = policy_of(client.get(reverse("credits_buy")))
    settings.PADDLE_API_KEY = "pdl_test_key"
    settings.PADDLE_CLIENT_TOKEN = "test_client_token"
    with_paddle = policy_of(client.get(reverse("credits_buy")))
    elsewhere = policy_of(client.get(reverse("credits")))

    assert "'unsafe-inline'" not in without_paddle["style-src"]
    assert "'unsafe-inline'" in with_paddle["style-src"]
    assert not set(UNSAFE) & set(with_paddle["script-src"])  # scripts stay strict there too
    assert "'unsafe-inline'" not in elsewhere["style-src"]


def test_the_dashboard_bars_keep_their_heights_without_style_attributes(client, user):
    from campaigns.models import Call
    from campaigns.tests.factories import make_campaign

    campaign = make_campaign(user, ["+12025550101"])
    Call.objects.create(
        workspace=user.personal_workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number="+12025550101",
        from_number=campaign.caller_number,
        provider="simulated",
        status="completed",
    )
    client.force_login(user)
    page = client.get(reverse("dashboard")).content.decode()

    steps = [int(step) for step in re.findall(r'class="bar h(\d+)"', page)]
    assert len(steps) == 14 and all(0 <= step <= 20 for step in steps)  # two charts of 7 days, 5% steps
    assert 20 in steps  # today's call is the week's peak: a full-height bar
