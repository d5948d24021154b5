"""A closed workspace's purge reaches the integrations: nothing that could act for it or that
names its callees survives (keys, tokens, what was sent or owed to other systems)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Membership, User
from integrations.api.keys import api_key_create, api_key_find
from integrations.api.models import ApiKey
from integrations.hubspot.models import Connection, PushBack

pytestmark = pytest.mark.django_db


def test_purging_a_closed_workspace_erases_its_keys_and_hubspot_data():
    owner = User.objects.create_user(email="owner@example.com", password="x" * 12)
    workspace = owner.personal_workspace
    other = User.objects.create_user(email="other@example.com", password="x" * 12).personal_workspace
    key = api_key_create(workspace=workspace, by=owner, name="CRM", scope="write")
    kept = api_key_create(workspace=other, by=None, name="Other's", scope="read")
    Connection.objects.create(workspace=workspace, token_encrypted="…", token_last4="abcd")
    PushBack.objects.create(workspace=workspace, kind="opt_out", key="contact.opted_out:1", phone_number="+12025550101")

    services.workspace_close(by=Membership.objects.get(workspace=workspace, user=owner))
    services.accounts_purge_due(now=timezone.now() + timedelta(days=31))

    assert api_key_find(key.secret) is None and not ApiKey.objects.filter(workspace=workspace).exists()
    assert not Connection.objects.filter(workspace=workspace).exists()
    assert not PushBack.objects.filter(workspace=workspace).exists()
    assert api_key_find(kept.secret) is not None  # other workspaces keep theirs
