"""The API keys page: owners and admins make a key (shown whole once, never stored), see who
made each and when it was last used, and revoke it; other roles can neither read nor change it."""

import itertools
import zoneinfo
from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import WORKSPACE_SESSION_KEY
from accounts.models import Membership, User, WorkspaceEvent
from integrations.api.keys import api_key_create, api_key_find
from integrations.api.models import ApiKey

pytestmark = pytest.mark.django_db

_mobiles = itertools.count(200)


def make_owner(email: str) -> User:
    """A verified account with its personal workspace (which it owns)."""
    return User.objects.create_user(
        email=email,
        password="a-long-and-unusual-passphrase-42",
        mobile_number=f"+1415555{next(_mobiles):04d}",
        mobile_verified_at=timezone.now(),
    )


def make_key(user_or_workspace, *, scope=ApiKey.Scope.WRITE, name="CRM", by=None) -> str:
    """A new key of the user's personal workspace (or of a workspace): its whole secret."""
    workspace = getattr(user_or_workspace, "personal_workspace", user_or_workspace)
    return api_key_create(workspace=workspace, by=by, name=name, scope=scope).secret


def signed_in(user: User, workspace=None) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    session[WORKSPACE_SESSION_KEY] = (workspace or user.personal_workspace).pk
    session.save()
    return client


def test_an_owner_makes_a_key_that_is_shown_once_and_works():
    owner = make_owner("ada@example.com")
    client = signed_in(owner)

    response = client.post(reverse("api_key_create"), {"name": "CRM sync", "scope": "write"})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.startswith("clz_") and secret in response.content.decode()
    key = ApiKey.objects.get(workspace=owner.personal_workspace)
    assert (key.name, key.scope, key.created_by, key.expires_at) == ("CRM sync", "write", owner, None)
    assert secret not in (key.prefix, key.secret_hash)  # only a digest is kept
    assert api_key_find(secret) == key
    # The list shows its prefix, never the whole key again.
    listing = client.get(reverse("api_keys")).content.decode()
    assert key.prefix in listing and secret not in listing
    assert WorkspaceEvent.objects.filter(workspace=owner.personal_workspace, action="api_key_created").exists()


def test_a_key_may_expire_at_the_end_of_a_chosen_day_in_the_makers_time_zone():
    owner = make_owner("ada@example.com")
    owner.time_zone = "America/New_York"
    owner.save(update_fields=["time_zone"])
    day = date.today() + timedelta(days=10)

    signed_in(owner).post(reverse("api_key_create"), {"name": "Trial", "scope": "read", "expires_on": day.isoformat()})

    key = ApiKey.objects.get(workspace=owner.personal_workspace)
    local = timezone.localtime(key.expires_at, timezone=zoneinfo.ZoneInfo("America/New_York"))
    assert (local.date(), local.hour, local.minute) == (day + timedelta(days=1), 0, 0)


def test_a_past_expiry_or_a_missing_name_is_refused_and_nothing_is_made():
    owner = make_owner("ada@example.com")
    client = signed_in(owner)

    past = client.post(reverse("api_key_create"), {"name": "Old", "scope": "read", "expires_on": "2020-01-01"})
    nameless = client.post(reverse("api_key_create"), {"name": "", "scope": "read"})

    assert past.status_code == nameless.status_code == 400
    assert "Choose today or a later day." in past.content.decode()
    assert not ApiKey.objects.exists()


def test_revoking_asks_first_then_the_key_stops_working():
    owner = make_owner("ada@example.com")
    secret = make_key(owner, by=owner)
    key = ApiKey.objects.get()
    client = signed_in(owner)

    confirm = client.get(reverse("api_key_revoke", args=[key.pk]))
    assert confirm.status_code == 200 and "Revoke key" in confirm.content.decode()
    assert api_key_find(secret) == key

    response = client.post(reverse("api_key_revoke", args=[key.pk]))

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_find(secret) is None
    assert WorkspaceEvent.objects.filter(workspace=owner.personal_workspace, action="api_key_revoked").exists()
    assert "Revoked" in client.get(reverse("api_keys")).content.decode()


def test_another_workspaces_key_cannot_be_revoked():
    owner, stranger = make_owner("ada@example.com"), make_owner("eve@example.com")
    make_key(owner)
    key = ApiKey.objects.get()

    response = signed_in(stranger).post(reverse("api_key_revoke", args=[key.pk]))

    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize("role", [Membership.Role.MEMBER, Membership.Role.BILLING, Membership.Role.VIEWER])
def test_roles_without_integrations_neither_read_nor_change_keys(role):
    owner, person = make_owner("ada@example.com"), make_owner("bob@example.com")
    workspace = owner.personal_workspace
    Membership.objects.create(workspace=workspace, user=person, role=role)
    make_key(owner)
    key = ApiKey.objects.get()
    client = signed_in(person, workspace)

    assert client.get(reverse("api_keys")).status_code == 403
    assert client.post(reverse("api_key_create"), {"name": "Mine", "scope": "write"}).status_code == 403
    assert client.post(reverse("api_key_revoke", args=[key.pk])).status_code == 403
    assert ApiKey.objects.count() == 1 and ApiKey.objects.get().revoked_at is None
    # The Integrations page still opens, without the link to the keys.
    home = client.get(reverse("integrations")).content.decode()
    assert 'data-testid="api-reference"' in home and reverse("api_keys") not in home


def test_an_admin_manages_keys_and_sees_who_made_them_and_when_they_were_last_used():
    owner, admin = make_owner("ada@example.com"), make_owner("bob@example.com")
    workspace = owner.personal_workspace
    Membership.objects.create(workspace=workspace, user=admin, role=Membership.Role.ADMIN)
    make_key(workspace, by=owner, name="Warehouse")
    ApiKey.objects.update(last_used_at=timezone.now(), last_used_ip="203.0.113.9")
    client = signed_in(admin, workspace)

    page = client.get(reverse("api_keys")).content.decode()

    assert "Warehouse" in page and owner.email in page and "203.0.113.9" in page
    assert reverse("api_keys") in client.get(reverse("integrations")).content.decode()
    assert client.post(reverse("api_key_create"), {"name": "Admin's", "scope": "read"}).status_code == 200
