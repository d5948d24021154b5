"""The data export, checked against every table. An account gets one row of every kind it can own
(found by walking foreign keys, see account_rows.py), each free-text value a marker; its export
must hold every marker, except the few fields that are secrets rather than data (NOT_EXPORTED,
each with its reason), and no marker of another account."""

import io
import re
import zipfile
from collections import defaultdict

import pytest

from accounts import services
from accounts.export import account_export
from accounts.models import User
from accounts.tests.account_rows import account_models, fill_account, label, markable_fields

pytestmark = pytest.mark.django_db

NOT_EXPORTED = {
    "accounts.User.password": "a password hash: a secret, not data to hand out",
    "mfa.Authenticator.data": "two-factor secrets and recovery codes (their kind and dates are exported)",
    "socialaccount.SocialToken.token": "a sign-in provider's access token",
    "socialaccount.SocialToken.token_secret": "a sign-in provider's token secret",
    "account.EmailConfirmation.key": "a one-time secret sent to confirm an email address",
    "admin.LogEntry.object_repr": "staff's audit trail; the rows it is about are exported themselves",
    "admin.LogEntry.change_message": "staff's audit trail (the names of the fields they changed)",
    "sessions.Session.session_data": "a browser's sign-in state",
    "usersessions.UserSession.session_key": "the key a browser signs in with: a secret (its IP, browser and times "
    "are exported)",
    "api.ApiKey.secret_hash": "a digest of an API key: a secret (its name, prefix and use are exported)",
    "hubspot.Connection.token_encrypted": "the HubSpot access token: a secret",
    "webhooks.Endpoint.secret": "the endpoint's signing secret",
    "webhooks.Endpoint.previous_secret": "the endpoint's previous signing secret, during a rotation",
    "safety.QAReview.notes": "staff's own review of a call (moderation notes, like the admin's log)",
    "safety.QAReview.reasons": "why staff were asked to review the call (moderation, not the account's data)",
    "notices.Notice.html": "the HTML form of a notice's text, which notices.csv holds as plain text",
    "safety.Report.reporter_digest": "a keyed hash of the reporter's number: a secret (the call names the number)",
}
MARKER = re.compile(r"zq[a-z]\d{3}x")


def account(email: str) -> User:
    user = User.objects.create_user(email=email, password="a long secret pass")
    services.account_created(user=user)
    return user


@pytest.fixture
def owner(db):
    return fill_account(account("owner@example.com"), "a")


@pytest.fixture
def rival(db):
    return fill_account(account("rival@example.com"), "b")


def exported_markers(user: User) -> dict[str, set[str]]:
    """Each marker in the user's export, with the files it is in."""
    found = defaultdict(set)
    with zipfile.ZipFile(io.BytesIO(account_export(user=user, workspace=user.personal_workspace))) as archive:
        for name in archive.namelist():
            for marker in MARKER.findall(archive.read(name).decode("utf-8", errors="replace")):
                found[marker].add(name)
    return found


def test_the_export_holds_every_kind_of_row_the_account_owns(owner, rival):
    found = exported_markers(owner.user)

    missing = sorted(
        where for marker, where in owner.markers.items() if where not in NOT_EXPORTED and marker not in found
    )
    assert missing == [], "\n".join(missing)
    assert [owner.markers.get(marker, marker) for marker in found if marker not in owner.markers] == []
    # Every kind of row the account owns has its place in the export.
    exported = {owner.markers[marker].rsplit(".", 1)[0] for marker in found}
    owned = {label(m) for m in account_models() if markable_fields(m)}
    secrets_only = {
        label(m)
        for m in account_models()
        if markable_fields(m) and all(f"{label(m)}.{f.name}" in NOT_EXPORTED for f in markable_fields(m))
    }
    assert sorted(owned - exported - secrets_only) == []
    # Kinds of row kept out whole: sign-in secrets, and staff's QA reviews of the calls (moderation).
    assert secrets_only == {
        "socialaccount.SocialToken",
        "account.EmailConfirmation",
        "mfa.Authenticator",
        "safety.QAReview",
    }
    assert set(NOT_EXPORTED) <= set(owner.markers.values()), "NOT_EXPORTED names a field the test never fills"
