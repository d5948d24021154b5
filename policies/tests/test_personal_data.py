"""What policies keeps of a person: shown in Settings, in their data export, and kept without
IP address and browser after the purge (the record of what they agreed to)."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.export import account_export
from accounts.models import User
from policies.models import PolicyAcceptance
from policies.services import policy_accept

from .conftest import make_version

pytestmark = pytest.mark.django_db


class FakeRequest:
    META = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Safari on a test phone"}


@pytest.fixture
def accepted(user):
    version = make_version(days=-1)
    policy_accept(user=user, versions=[version], request=FakeRequest())
    return version


def test_settings_list_the_versions_accepted(client, user, accepted):
    client.force_login(user)
    page = client.get(reverse("account_settings")).content.decode()
    table = page.split('data-testid="policy-acceptances"')[1]
    assert "Terms of service" in table and "2027-01" in table and "203.0.113.9" in table


def test_accepting_twice_keeps_the_first_record(user, accepted):
    again = policy_accept(user=user, versions=[accepted], request=None)
    assert again == []
    assert PolicyAcceptance.objects.get(user=user).ip_address == "203.0.113.9"


def test_the_export_holds_the_acceptances(user, accepted):
    with zipfile.ZipFile(io.BytesIO(account_export(user=user))) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("policy_acceptances.csv").decode())))
    assert [(r["policy"], r["version"], r["ip_address"], r["user_agent"]) for r in rows] == [
        ("terms", "2027-01", "203.0.113.9", "Safari on a test phone")
    ]


def test_the_purge_keeps_the_record_without_address_or_browser(user, accepted):
    services.account_delete(user=user)
    User.objects.filter(pk=user.pk).update(deletion_requested_at=timezone.now() - timedelta(days=31))
    assert services.accounts_purge_due() == 1

    kept = PolicyAcceptance.objects.get(user=user)
    assert kept.version == accepted and kept.accepted_at is not None
    assert (kept.ip_address, kept.user_agent) == (None, "")
