"""Publishing a policy version: the checks, the notice every active account gets (once), and a
published version that never changes."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from notices.models import Notice
from policies.errors import PolicyError
from policies.models import PolicyVersion
from policies.services import policy_version_publish

from .conftest import TERMS_V2, make_version

pytestmark = pytest.mark.django_db


def account(email, **extra) -> User:
    user = User.objects.create_user(email=email, password="a long secret pass", **extra)
    account_created(user=user)
    return user


@pytest.fixture
def people(db):
    """Two active accounts, one suspended, one closed, one terminated."""
    return {
        "ada": account("ada@example.com", first_name="Ada"),
        "bob": account("bob@example.com"),
        "suspended": account("sus@example.com", status=User.Status.SUSPENDED),
        "closed": account("closed@example.com", deletion_requested_at=timezone.now(), is_active=False),
        "terminated": account("gone@example.com", status=User.Status.TERMINATED),
    }


@pytest.fixture
def staff(db):
    return User.objects.create_user(email="staff@example.com", password="x" * 20, is_staff=True)


def draft(days=8, **kwargs) -> PolicyVersion:
    return make_version(days=days, published=False, **kwargs)


def run_all(run_jobs, capture):
    """The broadcast job, then the email jobs it asks for after its commit."""
    with capture(execute=True):
        run_jobs()
    run_jobs()


def publish(version, staff, run_jobs, capture):
    with capture(execute=True):
        policy_version_publish(version=version, by=staff)
    run_all(run_jobs, capture)


def test_too_soon_is_refused_and_nobody_is_told(people, staff, run_jobs, django_capture_on_commit_callbacks):
    version = draft(days=6)

    with pytest.raises(PolicyError, match="at least 7 days from now"):
        publish(version, staff, run_jobs, django_capture_on_commit_callbacks)

    version.refresh_from_db()
    assert version.published_at is None
    assert mail.outbox == [] and not Notice.objects.exists()


def test_the_notice_period_is_a_setting(people, staff, settings, run_jobs, django_capture_on_commit_callbacks):
    settings.POLICY_NOTICE_DAYS = 30
    with pytest.raises(PolicyError, match="at least 30 days"):
        publish(draft(days=20), staff, run_jobs, django_capture_on_commit_callbacks)


def test_publishing_tells_every_active_account_once(people, staff, run_jobs, django_capture_on_commit_callbacks):
    version = draft(days=8)

    publish(version, staff, run_jobs, django_capture_on_commit_callbacks)

    version.refresh_from_db()
    assert version.published_at is not None and version.published_by == staff
    # Suspended accounts are still bound by the terms: they are told. Closed and terminated
    # accounts are not customers any more: they are not.
    told = sorted(m.to[0] for m in mail.outbox)
    assert told == ["ada@example.com", "bob@example.com", "staff@example.com", "sus@example.com"]
    email = next(m for m in mail.outbox if m.to == ["ada@example.com"])
    assert email.subject.startswith("Our terms of service change on ")
    assert "Hello Ada," in email.body
    assert "Agents may also send texts." in email.body
    assert "/policies/terms/2027-01/compare/" in email.body
    assert "close your account" in email.body
    notice = Notice.objects.get(user=people["ada"])
    assert notice.link.endswith("/policies/terms/2027-01/compare/") and notice.essential

    # Publishing again (a double click, a second admin) sends nothing more.
    publish(version, staff, run_jobs, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 4 and Notice.objects.count() == 4


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"summary": "  "}, "no summary"),
        ({"text": ""}, "no text"),
    ],
)
def test_an_incomplete_version_is_refused(change, error, staff, run_jobs, django_capture_on_commit_callbacks):
    version = draft()
    PolicyVersion.objects.filter(pk=version.pk).update(**change)
    version.refresh_from_db()

    with pytest.raises(PolicyError, match=error):
        publish(version, staff, run_jobs, django_capture_on_commit_callbacks)
    assert not PolicyVersion.objects.filter(published_at__isnull=False).exists()


def test_a_version_must_take_effect_after_the_latest_published_one(staff, run_jobs, django_capture_on_commit_callbacks):
    make_version(version="2027-02", days=20)
    earlier = draft(version="2027-03", days=10)

    with pytest.raises(PolicyError, match="must take effect after it"):
        publish(earlier, staff, run_jobs, django_capture_on_commit_callbacks)

    # Another policy's dates do not matter.
    privacy = draft(policy="privacy", version="2027-03", days=10)
    publish(privacy, staff, run_jobs, django_capture_on_commit_callbacks)
    privacy.refresh_from_db()
    assert privacy.published_at is not None


def test_a_published_version_never_changes_and_is_never_deleted(staff, run_jobs, django_capture_on_commit_callbacks):
    version = draft()
    # A draft can be changed and deleted.
    version.text = TERMS_V2 + "\nOne more line.\n"
    version.save()
    publish(version, staff, run_jobs, django_capture_on_commit_callbacks)

    with pytest.raises(DatabaseError, match="cannot change"), transaction.atomic():
        PolicyVersion.objects.filter(pk=version.pk).update(text="Something else")
    with pytest.raises(DatabaseError, match="cannot be deleted"), transaction.atomic():
        PolicyVersion.objects.filter(pk=version.pk).delete()
    version.refresh_from_db()
    assert version.text.endswith("One more line.\n")


def test_the_admin_publishes_with_a_button_and_shows_refusals(
    client, staff, people, run_jobs, django_capture_on_commit_callbacks
):
    User.objects.filter(pk=staff.pk).update(is_superuser=True, mobile_verified_at=timezone.now())
    client.force_login(staff)
    too_soon = draft(version="2027-01", days=3)
    change_url = f"/admin/policies/policyversion/{too_soon.pk}/change/"
    page = client.get(change_url).content.decode()
    assert 'data-testid="policy-publish"' in page

    response = client.post(f"/admin/policies/policyversion/{too_soon.pk}/publish/", follow=True)
    assert "was not published" in response.content.decode() and "at least 7 days" in response.content.decode()

    PolicyVersion.objects.filter(pk=too_soon.pk).update(effective_at=timezone.now() + timedelta(days=9))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/policies/policyversion/{too_soon.pk}/publish/", follow=True)
    run_all(run_jobs, django_capture_on_commit_callbacks)
    assert "is published" in response.content.decode()
    assert len(mail.outbox) == 4
    # Published: read-only, no button, no deleting.
    page = client.get(change_url).content.decode()
    assert 'data-testid="policy-publish"' not in page and 'name="text"' not in page
    assert client.get(f"/admin/policies/policyversion/{too_soon.pk}/delete/").status_code == 403


def test_a_new_version_starts_from_the_text_in_force(client, staff):
    User.objects.filter(pk=staff.pk).update(is_superuser=True, mobile_verified_at=timezone.now())
    client.force_login(staff)

    page = client.get("/admin/policies/policyversion/add/?policy=refunds").content.decode()

    # The built-in refund page, as plain text staff can edit.
    text = page.split('name="text"')[1].split("</textarea>")[0]
    assert "this Clozit service" in text and "<p>" not in text and "&lt;p&gt;" not in text
