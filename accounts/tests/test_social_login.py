"""Google and Facebook sign-in, through allauth's real OAuth2 views and a local identity provider.

How a social login is completed without Google's or Facebook's servers
-----------------------------------------------------------------------
allauth's own OAuth2 login and callback views run unchanged. The browser side is played by the
test: it POSTs to /accounts/<provider>/login/, reads the authorize URL allauth redirects to (never
fetched), "consents" at `FakeIdentityProvider.authorize()` — which issues an authorization code
for exactly what that URL asked for (client id, redirect URI, PKCE challenge) — and follows the
redirect back to allauth's callback. allauth then makes its real server-to-server requests, with
`requests`, to the fake: Google's token endpoint (client secret, redirect URI and PKCE verifier
checked; answers with an id_token, or without one so that allauth calls the userinfo endpoint),
Facebook's Graph API token endpoint and /me (appsecret_proof checked).

allauth does let those endpoints be set in settings (SOCIALACCOUNT_PROVIDERS["google"]
["ACCESS_TOKEN_URL"] / ["IDENTITY_URL"], ["facebook"]["GRAPH_API_URL"]), but reads them once, when
its provider modules are imported, into class attributes and module constants; the `settings`
fixture cannot reach them. The `identity_provider` fixture therefore sets those resolved values
(GoogleOAuth2Adapter.access_token_url / .identity_url, FacebookOAuth2Adapter.access_token_url,
allauth.socialaccount.providers.facebook.flows.GRAPH_API_URL) to the fake's address with
monkeypatch — allauth's configuration, not its code, and nothing of Clozit's. That beats building
a SocialLogin by hand and calling complete_social_login: the redirect, state, PKCE, token
exchange and profile parsing all run for real.

Which providers are configured comes from SOCIALACCOUNT_PROVIDERS, which clozit/settings.py
builds from the environment at import time. `providers_from_env()` runs clozit/settings.py again
with the given environment and hands back what it built, which the tests put in place with the
`settings` fixture; allauth reads the apps from settings on every request (its provider registry
caches provider classes only, and all installed providers are registered whatever the settings).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import runpy
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.providers.facebook import flows as facebook_flows
from allauth.socialaccount.providers.facebook.views import FacebookOAuth2Adapter
from allauth.socialaccount.providers.google.views import GoogleOAuth2Adapter
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.urls import reverse

from accounts.models import User
from accounts.services import account_created
from accounts.sms import OUTBOX
from billing import ledger
from billing.models import LedgerEntry

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(django_settings.BASE_DIR) / "clozit" / "settings.py"
PROVIDER_ENV = ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET")
GOOGLE_ENV = {"GOOGLE_CLIENT_ID": "1234-clozit.apps.googleusercontent.com", "GOOGLE_CLIENT_SECRET": "g-secret"}
FACEBOOK_ENV = {"FACEBOOK_APP_ID": "987654321", "FACEBOOK_APP_SECRET": "fb-secret"}
MOBILE = "+14155550188"

ADA = {
    "sub": "108273645546372819203",
    "email": "ada@gmail.example",
    "email_verified": True,
    "name": "Ada Lovelace",
    "given_name": "Ada",
    "family_name": "Lovelace",
    "picture": "https://lh3.googleusercontent.com/a/ada",
}
GRACE = {
    "id": "10229384756",
    "email": "grace@facebook.example",
    "name": "Grace Hopper",
    "first_name": "Grace",
    "last_name": "Hopper",
}


# --- a local Google / Facebook ------------------------------------------------------------


@dataclass
class Grant:
    provider: str
    client_id: str
    redirect_uri: str
    scope: str
    profile: dict
    code_challenge: str | None = None
    used: bool = False


@dataclass
class FakeIdentityProvider:
    """Google's token and userinfo endpoints and Facebook's Graph API, on 127.0.0.1."""

    clients: dict[str, str] = field(default_factory=dict)  # client id → secret
    google_id_token: bool = True
    grants: dict[str, Grant] = field(default_factory=dict)  # authorization code → grant
    tokens: dict[str, Grant] = field(default_factory=dict)  # access token → grant
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # method, path, parameters
    base_url: str = ""

    def authorize(self, authorize_url: str, profile: dict) -> str:
        """The person consents on the provider's page: returns where the provider sends them back."""
        params = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
        assert params["response_type"] == "code"
        assert params["client_id"] in self.clients
        if "code_challenge" in params:
            assert params["code_challenge_method"] == "S256"
        provider = "google" if "google" in authorize_url else "facebook"
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            provider=provider,
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            scope=params["scope"],
            profile=profile,
            code_challenge=params.get("code_challenge"),
        )
        return params["redirect_uri"] + "?" + urlencode({"code": code, "state": params["state"]})

    # --- HTTP ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict, headers) -> tuple[int, dict]:
        self.requests.append((method, path, params))
        if (method, path) == ("POST", "/google/token"):
            return self._exchange(params, provider="google")
        if (method, path) == ("GET", "/google/userinfo"):
            grant = self.tokens.get(headers.get("Authorization", "").removeprefix("Bearer "))
            if grant is None:
                return 401, {"error": "invalid_request", "error_description": "Invalid Credentials"}
            profile = grant.profile
            return 200, {
                "id": profile["sub"],
                "email": profile["email"],
                "verified_email": profile["email_verified"],
                "name": profile["name"],
                "given_name": profile["given_name"],
                "family_name": profile["family_name"],
                "picture": profile["picture"],
            }
        if (method, path) == ("GET", "/facebook/oauth/access_token"):
            return self._exchange(params, provider="facebook")
        if (method, path) == ("GET", "/facebook/me"):
            grant = self.tokens.get(params.get("access_token", ""))
            if grant is None:
                return 400, _facebook_error("Invalid OAuth access token.", 190)
            expected = hmac.new(
                self.clients[grant.client_id].encode(), params["access_token"].encode(), hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(params.get("appsecret_proof", ""), expected):
                return 400, _facebook_error("Invalid appsecret_proof provided in the API argument", 100)
            fields = params.get("fields", "id").split(",")
            return 200, {name: grant.profile[name] for name in fields if name in grant.profile}
        return 404, {"error": "not_found"}

    def _exchange(self, params: dict, *, provider: str) -> tuple[int, dict]:
        grant = self.grants.get(params.get("code", ""))
        if grant is None or grant.used or grant.provider != provider:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        if self.clients.get(params.get("client_id")) != params.get("client_secret"):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        if params.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"}
        if grant.code_challenge is not None:
            verifier = params.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != grant.code_challenge:
                return 400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
        grant.used = True
        access_token = secrets.token_urlsafe(24)
        self.tokens[access_token] = grant
        if provider == "facebook":
            return 200, {"access_token": access_token, "token_type": "bearer", "expires_in": 5183944}
        answer = {"access_token": access_token, "expires_in": 3599, "scope": grant.scope, "token_type": "Bearer"}
        if self.google_id_token:
            now = int(time.time())
            claims = {"iss": "https://accounts.google.com", "azp": grant.client_id, "aud": grant.client_id}
            claims.update(grant.profile, iat=now, exp=now + 3600)
            # Signed with a throwaway key: allauth need not check the signature of an id_token it
            # fetched from the token endpoint itself (OpenID Connect Core 3.1.3.7).
            answer["id_token"] = jwt.encode(claims, secrets.token_hex(32), algorithm="HS256")
        return 200, answer


def _facebook_error(message: str, code: int) -> dict:
    return {"error": {"message": message, "type": "OAuthException", "code": code}}


def serve(provider: FakeIdentityProvider) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 5

        def _answer(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = {key: values[-1] for key, values in parse_qs(url.query or body).items()}
            status, payload = provider.handle(self.command, url.path, params, self.headers)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    host, port = server.server_address[:2]
    provider.base_url = f"http://{host}:{port}"
    return server


# --- fixtures and helpers -----------------------------------------------------------------


def providers_from_env(monkeypatch, **env) -> dict:
    """SOCIALACCOUNT_PROVIDERS as clozit/settings.py builds it from this environment."""
    with monkeypatch.context() as patch:
        for name in PROVIDER_ENV:
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))["SOCIALACCOUNT_PROVIDERS"]


@pytest.fixture(autouse=True)
def codes_on_the_console(settings):
    """Codes go to accounts.sms.OUTBOX, whatever the environment says about Twilio."""
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_VERIFY_SERVICE_SID = ""
    OUTBOX.clear()


@pytest.fixture
def configure(settings, monkeypatch):
    def configure(**env) -> dict:
        settings.SOCIALACCOUNT_PROVIDERS = providers_from_env(monkeypatch, **env)
        return settings.SOCIALACCOUNT_PROVIDERS

    return configure


@pytest.fixture
def identity_provider(configure, monkeypatch):
    """Google and Facebook configured, their endpoints served by a FakeIdentityProvider."""
    configure(**GOOGLE_ENV, **FACEBOOK_ENV)
    provider = FakeIdentityProvider(
        clients={
            GOOGLE_ENV["GOOGLE_CLIENT_ID"]: GOOGLE_ENV["GOOGLE_CLIENT_SECRET"],
            FACEBOOK_ENV["FACEBOOK_APP_ID"]: FACEBOOK_ENV["FACEBOOK_APP_SECRET"],
        }
    )
    server = serve(provider)
    monkeypatch.setattr(GoogleOAuth2Adapter, "access_token_url", f"{provider.base_url}/google/token")
    monkeypatch.setattr(GoogleOAuth2Adapter, "identity_url", f"{provider.base_url}/google/userinfo")
    monkeypatch.setattr(FacebookOAuth2Adapter, "access_token_url", f"{provider.base_url}/facebook/oauth/access_token")
    monkeypatch.setattr(facebook_flows, "GRAPH_API_URL", f"{provider.base_url}/facebook")
    yield provider
    server.shutdown()
    server.server_close()


def start_login(client, provider_id: str):
    """The button's POST: allauth answers with a redirect to the provider's authorize page."""
    response = client.post(reverse(f"{provider_id}_login"), {"process": "login"})
    assert response.status_code == 302
    return response["Location"]


def social_login(client, identity_provider, provider_id: str, profile: dict):
    """Through the provider and back to allauth's callback; returns the callback's response."""
    authorize_url = start_login(client, provider_id)
    callback = urlsplit(identity_provider.authorize(authorize_url, profile))
    assert callback.netloc == "testserver"
    return client.get(f"{callback.path}?{callback.query}")


def query(url: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def social_signup_form(**overrides) -> dict:
    data = {
        "email": ADA["email"],
        "phone": MOBILE,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company_name": "Analytical Engines",
        "is_adult": "on",
        "accept_terms": "on",
    }
    data.update(overrides)
    return data


def logged_in(client) -> bool:
    return client.session.get(SESSION_KEY) is not None


def starter_grants(user) -> int:
    return LedgerEntry.objects.filter(
        account__workspace=user.personal_workspace, kind=LedgerEntry.Kind.STARTER_GRANT
    ).count()


# --- configuration and buttons ------------------------------------------------------------


def test_settings_configure_a_provider_only_when_its_id_is_in_the_environment(monkeypatch):
    assert providers_from_env(monkeypatch) == {}
    assert set(providers_from_env(monkeypatch, **GOOGLE_ENV)) == {"google"}
    assert set(providers_from_env(monkeypatch, **FACEBOOK_ENV)) == {"facebook"}
    both = providers_from_env(monkeypatch, **GOOGLE_ENV, **FACEBOOK_ENV)
    assert both["google"]["APPS"] == [{"client_id": GOOGLE_ENV["GOOGLE_CLIENT_ID"], "secret": "g-secret"}]
    assert both["facebook"]["APPS"] == [{"client_id": FACEBOOK_ENV["FACEBOOK_APP_ID"], "secret": "fb-secret"}]
    # A secret without an id configures nothing.
    assert providers_from_env(monkeypatch, GOOGLE_CLIENT_SECRET="s", FACEBOOK_APP_SECRET="s") == {}


@pytest.mark.parametrize("page", ["account_login", "account_signup"])
def test_no_social_buttons_when_nothing_is_configured(client, configure, page):
    configure()

    html = client.get(reverse(page)).content.decode()

    assert "/accounts/google/login/" not in html
    assert "/accounts/facebook/login/" not in html
    assert "third-party" not in html


@pytest.mark.parametrize("page", ["account_login", "account_signup"])
@pytest.mark.parametrize(
    ("env", "shown", "hidden"),
    [
        (GOOGLE_ENV, ["google"], ["facebook"]),
        (FACEBOOK_ENV, ["facebook"], ["google"]),
        ({**GOOGLE_ENV, **FACEBOOK_ENV}, ["google", "facebook"], []),
    ],
    ids=["google", "facebook", "both"],
)
def test_a_button_for_each_configured_provider(client, configure, page, env, shown, hidden):
    configure(**env)

    html = client.get(reverse(page)).content.decode()

    for provider_id in shown:
        assert f'href="/accounts/{provider_id}/login/?process=login"' in html
    for provider_id in hidden:
        assert f"/accounts/{provider_id}/login/" not in html


@pytest.mark.parametrize("provider_id", ["google", "facebook"])
def test_an_unconfigured_provider_is_not_found(client, configure, provider_id):
    configure(**(FACEBOOK_ENV if provider_id == "google" else GOOGLE_ENV))

    assert client.get(reverse(f"{provider_id}_login")).status_code == 404
    assert client.post(reverse(f"{provider_id}_login")).status_code == 404
    assert client.get(reverse(f"{provider_id}_callback"), {"code": "x", "state": "y"}).status_code == 404


def test_following_the_button_asks_to_confirm_before_leaving_for_the_provider(client, configure):
    configure(**GOOGLE_ENV)

    # SOCIALACCOUNT_LOGIN_ON_GET is off: a link alone never starts an OAuth flow.
    response = client.get(reverse("google_login"), {"process": "login"})

    assert response.status_code == 200
    assert 'method="post"' in response.content.decode()


def test_google_is_asked_for_the_name_and_email_only(client, configure):
    configure(**GOOGLE_ENV)

    authorize_url = start_login(client, "google")

    assert authorize_url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    params = query(authorize_url)
    assert set(params["scope"].split()) == {"profile", "email"}
    assert params["client_id"] == GOOGLE_ENV["GOOGLE_CLIENT_ID"]
    assert params["redirect_uri"] == "http://testserver/accounts/google/login/callback/"
    assert params["access_type"] == "online"
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]


def test_facebook_is_asked_for_the_name_and_email_only(client, configure):
    configure(**FACEBOOK_ENV)

    authorize_url = start_login(client, "facebook")

    assert urlsplit(authorize_url).netloc == "www.facebook.com"
    assert urlsplit(authorize_url).path.endswith("/dialog/oauth")
    params = query(authorize_url)
    assert set(params["scope"].split(",")) == {"email", "public_profile"}
    assert params["client_id"] == FACEBOOK_ENV["FACEBOOK_APP_ID"]
    assert params["redirect_uri"] == "http://testserver/accounts/facebook/login/callback/"


# --- signing up -----------------------------------------------------------------------------


@pytest.mark.parametrize("google_id_token", [True, False], ids=["id_token", "userinfo"])
def test_google_sign_up_asks_for_the_mobile_and_terms_then_verifies_the_mobile(
    client, identity_provider, google_id_token
):
    identity_provider.google_id_token = google_id_token

    response = social_login(client, identity_provider, "google", ADA)

    # A mobile is required and Google has none: allauth's social sign-up form asks for it, with
    # the 18+ and terms checkboxes.
    assert response.status_code == 302
    assert response["Location"] == reverse("socialaccount_signup")
    form = client.get(response["Location"]).content.decode()
    assert f'value="{ADA["email"]}"' in form and 'value="Ada"' in form and 'value="Lovelace"' in form
    assert 'name="phone"' in form and 'name="is_adult"' in form and 'name="accept_terms"' in form
    assert not User.objects.exists()
    [token_request] = [r for r in identity_provider.requests if r[1] == "/google/token"]
    assert token_request[2]["client_secret"] == GOOGLE_ENV["GOOGLE_CLIENT_SECRET"]
    assert token_request[2]["code_verifier"]
    userinfo_requests = [r for r in identity_provider.requests if r[1] == "/google/userinfo"]
    assert len(userinfo_requests) == (0 if google_id_token else 1)

    response = client.post(reverse("socialaccount_signup"), social_signup_form())

    assert response.status_code == 302
    assert response["Location"] == reverse("account_verify_phone")
    user = User.objects.get()
    assert user.email == ADA["email"] and user.first_name == "Ada" and user.last_name == "Lovelace"
    assert user.company_name == "Analytical Engines"
    assert user.terms_accepted_at and user.adult_confirmed_at and user.terms_version
    assert not user.has_usable_password()
    assert user.mobile_number == MOBILE and not user.has_verified_mobile
    assert SocialAccount.objects.get(user=user).uid == ADA["sub"]
    assert EmailAddress.objects.get(user=user).verified  # Google vouches for it
    assert starter_grants(user) == 1
    # Not signed in until the mobile is verified: the dashboard is out of reach.
    assert not logged_in(client)
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("account_login"))

    [sms] = OUTBOX
    assert sms.phone == MOBILE
    response = client.post(reverse("account_verify_phone"), {"code": sms.code})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    user.refresh_from_db()
    assert user.has_verified_mobile
    assert logged_in(client)
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 200
    assert starter_grants(user) == 1
    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("100")


def test_facebook_sign_up_verifies_the_mobile_then_the_email(client, identity_provider):
    response = social_login(client, identity_provider, "facebook", GRACE)

    assert response["Location"] == reverse("socialaccount_signup")
    [me] = [r for r in identity_provider.requests if r[1] == "/facebook/me"]
    assert set(me[2]["fields"].split(",")) == {"id", "email", "name", "first_name", "last_name"}

    response = client.post(
        reverse("socialaccount_signup"),
        social_signup_form(email=GRACE["email"], first_name="Grace", last_name="Hopper"),
    )
    assert response["Location"] == reverse("account_verify_phone")
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("account_login"))
    response = client.post(reverse("account_verify_phone"), {"code": OUTBOX[-1].code})

    # Facebook does not vouch for the email address: allauth's email code comes next.
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get()
    assert user.has_verified_mobile and not logged_in(client)
    [message] = mail.outbox
    code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", message.body, re.MULTILINE).group(1)
    response = client.post(reverse("account_email_verification_sent"), {"code": code})

    assert response["Location"] == reverse("dashboard")
    assert logged_in(client)
    assert client.get(reverse("dashboard")).status_code == 200
    assert SocialAccount.objects.get(user=user).provider == "facebook"
    assert starter_grants(user) == 1


def test_a_refused_token_exchange_creates_nothing(client, identity_provider):
    identity_provider.clients[GOOGLE_ENV["GOOGLE_CLIENT_ID"]] = "rotated-secret"

    response = social_login(client, identity_provider, "google", ADA)

    assert response.status_code == 401
    assert "Third-Party Login Failure" in response.content.decode()
    assert not User.objects.exists() and not SocialAccount.objects.exists()
    assert not logged_in(client)


# --- logging in -----------------------------------------------------------------------------


def test_an_account_without_a_mobile_is_sent_to_add_and_verify_one(client, identity_provider):
    # An account from a Google sign-up that has no mobile on file (before mobiles were required).
    user = User.objects.create_user(email=ADA["email"], first_name="Ada", last_name="Lovelace")
    user.set_unusable_password()
    user.save()
    account_created(user=user)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    SocialAccount.objects.create(user=user, provider="google", uid=ADA["sub"], extra_data={})

    response = social_login(client, identity_provider, "google", ADA)

    # No mobile to text the second step to: the code comes by email...
    assert response["Location"] == reverse("account_confirm_login_code")
    code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", mail.outbox[-1].body, re.M).group(1)
    response = client.post(reverse("account_confirm_login_code"), {"code": code})
    if response["Location"] == reverse("mfa_trust"):
        response = client.post(reverse("mfa_trust"), {"action": "skip"})
    assert response["Location"] == reverse("dashboard")
    assert logged_in(client)
    # ...but held at allauth's "add your mobile" page until it is verified.
    for path in [reverse("dashboard"), "/campaigns/", reverse("credits")]:
        assert client.get(path)["Location"] == reverse("account_change_phone")
    assert client.get(reverse("account_change_phone")).status_code == 200

    response = client.post(reverse("account_change_phone"), {"phone": "+1 415 555 0188"})

    assert response["Location"] == reverse("account_verify_phone")
    [sms] = OUTBOX
    assert sms.phone == MOBILE
    assert client.get(reverse("dashboard"))["Location"] == reverse("account_change_phone")
    response = client.post(reverse("account_verify_phone"), {"code": sms.code})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.mobile_number == MOBILE and user.has_verified_mobile
    assert client.get(reverse("dashboard")).status_code == 200
    assert starter_grants(user) == 1


def test_a_returning_google_user_gets_the_second_step_on_their_mobile(client, identity_provider, user):
    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    SocialAccount.objects.create(user=user, provider="google", uid=ADA["sub"], extra_data={})

    response = social_login(client, identity_provider, "google", {**ADA, "email": user.email})

    assert response["Location"] == reverse("account_confirm_login_code")
    assert not logged_in(client)
    [sms] = OUTBOX
    assert sms.phone == user.mobile_number
    response = client.post(reverse("account_confirm_login_code"), {"code": sms.code})
    assert response["Location"] == reverse("mfa_trust")
    response = client.post(reverse("mfa_trust"), {"action": "skip"})

    assert response["Location"] == reverse("dashboard")
    assert str(client.session[SESSION_KEY]) == str(user.pk)
    assert starter_grants(user) == 1


def test_a_google_account_with_the_email_of_an_existing_account_does_not_get_into_it(client, identity_provider, user):
    # SOCIALACCOUNT_EMAIL_AUTHENTICATION is off and enumeration is prevented: the page looks like
    # any sign-up's "check your email", and the account's owner is told by email instead.
    response = social_login(client, identity_provider, "google", {**ADA, "email": user.email})

    assert response["Location"] == reverse("account_email_verification_sent")
    assert not logged_in(client)
    assert not SocialAccount.objects.exists()
    assert User.objects.get() == user
    [message] = mail.outbox
    assert message.to == [user.email] and "Already Exists" in message.subject
