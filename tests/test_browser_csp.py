"""The main pages under the Content-Security-Policy in a real Chromium, at desktop and phone size:
the browser reports no violation (neither a `securitypolicyviolation` event nor a console message)
while the pages do what they do: htmx polls and swaps a campaign's live progress and results,
Chart.js draws the calls chart, forms submit, and the buy page opens Paddle's checkout.

Paddle.js cannot be fetched here (no network), so the browser is served a stand-in at its real
address that does what Paddle.js does on the page, as read in its source: it adds Paddle's
stylesheet from the CDN, and opening the checkout adds a <style> element and `style` attributes
(the overlay and the spinner) and the checkout frame from buy.paddle.com.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
  );
});
"""

PADDLE_JS_STAND_IN = """
window.Paddle = {
  Environment: { set: function () {} },
  Initialize: function () {
    var sheet = document.createElement("link");
    sheet.rel = "stylesheet";
    sheet.href = "https://sandbox-cdn.paddle.com/paddle/v2/assets/css/paddle.css";
    document.head.appendChild(sheet);
  },
  Checkout: {
    open: function () {
      var spin = document.createElement("style");
      spin.textContent = "@keyframes rotate { from { transform: rotate(45deg); } to { transform: rotate(405deg); } }";
      document.head.appendChild(spin);
      var loader = document.createElement("div");
      loader.className = "paddle-loader";
      loader.setAttribute("style", "z-index: 99998; position: fixed; inset: 0; background: rgba(0,0,0,0.38);");
      document.body.appendChild(loader);
      var frame = document.createElement("iframe");
      frame.className = "paddle-frame paddle-frame-overlay";
      frame.name = "paddle_frame";
      frame.setAttribute("style", "z-index: 99999; position: fixed; inset: 0; width: 100%; height: 100%; border: 0;");
      frame.src = "https://sandbox-buy.paddle.com/paddlejs/v2?source_page=clozit";
      document.body.appendChild(frame);
    },
  },
};
"""


class Watched:
    """A browser context of one size whose pages report every CSP violation and console error."""

    def __init__(self, browser, viewport):
        self.context = browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
        self.context.set_default_timeout(10_000)
        self.context.add_init_script(WATCH_VIOLATIONS)
        self.console: list[str] = []
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.console.append(f"page error: {exc}"))

    def _on_console(self, message):
        text = message.text
        if message.type == "error" or "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.console.append(f"{message.type}: {text}")

    def violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations || []") + self.console

    def visit(self, url: str, *, then=None) -> None:
        response = self.page.goto(url)
        assert "default-src 'self'" in response.headers.get("content-security-policy", ""), url
        expect(self.page.locator("main")).to_be_visible()
        if then:
            then(self.page)
        assert self.violations() == [], f"{url}: {self.violations()}"

    def log_in(self, url: str, user) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        self.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def add_call(campaign, *, minutes_ago: int, **fields):
    from campaigns.models import Call

    call = Call.objects.create(
        workspace=campaign.workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number="+12025550101",
        from_number=campaign.caller_number,
        provider="simulated",
        **fields,
    )
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return call


def live_campaign(page) -> None:
    """The campaign page's htmx panels arrive and refresh, and Chart.js draws the calls chart."""
    expect(page.get_by_test_id("stats-calls")).to_have_text("2")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('calls-chart'))")
    with page.expect_response(lambda r: "/campaigns/" in r.url and r.request.headers.get("hx-request")):
        pass  # the progress panel polls again, and htmx swaps the answer in


def filter_credits(page) -> None:
    """The history filter submits its form on change (a static script, not an onchange attribute)."""
    page.get_by_label("Filter by kind").select_option(index=1)
    expect(page).to_have_url(re.compile(r"[?&]kind=\w"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_main_pages_run_under_the_policy_without_a_violation(live, browser, user, size):
    from campaigns.tests.factories import make_campaign

    url = live.url
    campaign = make_campaign(user, ["+12025550101", "+12025550102"])
    add_call(
        campaign, minutes_ago=6, status="completed", answered_by="human", outcome="interested", duration_seconds=30
    )
    add_call(campaign, minutes_ago=2, status="no_answer")
    watched = Watched(browser, VIEWPORTS[size])
    try:
        for path in ("/", "/who-called/", "/accounts/signup/", "/accounts/login/", "/accounts/login/code/"):
            watched.visit(url + path)
        watched.log_in(url, user)
        watched.visit(url + "/dashboard/")
        watched.visit(f"{url}/campaigns/{campaign.pk}/", then=live_campaign)
        watched.visit(url + "/analytics/")
        watched.visit(url + "/credits/", then=filter_credits)
        watched.visit(url + "/credits/buy/")
        watched.visit(url + "/settings/")

        # The watch sees what the policy refuses: an injected inline script does not run, and is reported.
        watched.page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
            " document.body.appendChild(s); }"
        )
        assert watched.page.evaluate("window.__ran") is None
        watched.page.wait_for_function("() => window.__cspViolations.length > 0")
        assert watched.violations()[0].startswith("script-src-elem blocked inline")
    finally:
        watched.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_paddles_checkout_opens_under_the_policy(live, browser, user, settings, size):
    from billing.models import CreditPackage

    settings.PADDLE_API_KEY = "pdl_sdbx_apikey_test"
    settings.PADDLE_CLIENT_TOKEN = "test_client_token"
    settings.PADDLE_ENVIRONMENT = "sandbox"
    settings.PADDLE_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens: the price preview falls back
    CreditPackage.objects.create(
        name="Starter pack", credits=Decimal("500"), price=Decimal("10"), paddle_price_id="pri_1"
    )
    watched = Watched(browser, VIEWPORTS[size])
    context = watched.context
    context.route(
        "https://cdn.paddle.com/paddle/v2/paddle.js",
        lambda route: route.fulfill(content_type="text/javascript", body=PADDLE_JS_STAND_IN),
    )
    context.route("https://sandbox-cdn.paddle.com/**", lambda route: route.fulfill(content_type="text/css", body=""))
    context.route(
        "https://sandbox-buy.paddle.com/**",
        lambda route: route.fulfill(content_type="text/html", body="<!doctype html><title>Checkout</title>"),
    )
    try:
        watched.log_in(live.url, user)

        def open_checkout(page):
            page.get_by_role("button", name="Buy with Paddle").first.click()
            expect(page.locator("iframe.paddle-frame")).to_be_attached()
            page.frame_locator("iframe.paddle-frame").locator("title").wait_for(state="attached")

        watched.visit(live.url + "/credits/buy/", then=open_checkout)
    finally:
        context.close()
