"""The webhook pages: owners and admins manage endpoints, others cannot even read them (the
secrets are on them); URLs inside the network are a form error."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, User, WorkspaceEvent
from clozit import events
from integrations.webhooks import services
from integrations.webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


def form(url, types=(events.CALL_COMPLETED,), **extra):
    return {"url": url, "event_types": list(types), "enabled": "on", **extra}


def test_owner_adds_edits_rotates_and_deletes_an_endpoint(owner_client, user, receiver):
    response = owner_client.post(reverse("webhook_create"), form(receiver.url, description="CRM"))
    endpoint = Endpoint.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("webhook_detail", args=[endpoint.pk])
    page = owner_client.get(response["Location"]).content.decode()
    assert endpoint.secret in page and endpoint.secret.startswith("whsec_")

    owner_client.post(
        reverse("webhook_edit", args=[endpoint.pk]), form(receiver.url, types=events.EVENT_TYPES, description="")
    )
    endpoint.refresh_from_db()
    assert endpoint.event_types == list(events.EVENT_TYPES)

    old = endpoint.secret
    owner_client.post(reverse("webhook_rotate", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    page = owner_client.get(reverse("webhook_detail", args=[endpoint.pk])).content.decode()
    assert endpoint.secret != old and endpoint.secret in page and old in page  # both sign for now

    owner_client.post(reverse("webhook_delete", args=[endpoint.pk]))
    assert not Endpoint.objects.exists()
    actions = list(WorkspaceEvent.objects.order_by("pk").values_list("action", flat=True))
    assert [a for a in actions if a.startswith("webhook.")] == [
        "webhook.create",
        "webhook.edit",
        "webhook.rotate",
        "webhook.delete",
    ]


def test_an_internal_address_is_a_form_error(owner_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = owner_client.post(reverse("webhook_create"), form("http://169.254.169.254/latest/"))
    assert response.status_code == 200
    assert "link-local" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_http_is_refused_in_production(owner_client, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    response = owner_client.post(reverse("webhook_create"), form("http://example.com/hook"))
    assert "Use https://" in response.content.decode() and not Endpoint.objects.exists()


def test_no_event_chosen_is_a_form_error(owner_client, receiver):
    response = owner_client.post(reverse("webhook_create"), {"url": receiver.url, "enabled": "on"})
    assert response.status_code == 200 and not Endpoint.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_log_test_event_and_resend(owner_client, user, receiver, run_jobs):
    endpoint = services.endpoint_create(
        workspace=user.personal_workspace, by=user, url=receiver.url, event_types=[events.CALL_COMPLETED]
    )
    owner_client.post(reverse("webhook_test", args=[endpoint.pk]))
    run_jobs()
    delivery = Delivery.objects.get()
    page = owner_client.get(reverse("webhook_detail", args=[endpoint.pk])).content.decode()
    assert "webhook.test" in page and delivery.message.msg_id in page and "Delivered" in page
    owner_client.post(reverse("webhook_resend", args=[endpoint.pk, delivery.pk]))
    run_jobs()
    assert len(receiver.requests) == 2


def test_members_cannot_read_or_change_endpoints(client, user, receiver):
    endpoint = services.endpoint_create(
        workspace=user.personal_workspace, by=user, url=receiver.url, event_types=[events.CALL_COMPLETED]
    )
    member = User.objects.create_user(
        email="member@example.com",
        password="x" * 12,
        company_name="Acme",
        mobile_number="+14155550124",
        mobile_verified_at=timezone.now(),
    )
    Membership.objects.create(workspace=user.personal_workspace, user=member, role=Membership.Role.MEMBER)
    client.force_login(member)
    session = client.session
    session["workspace_id"] = user.personal_workspace.pk
    session.save()
    assert client.get(reverse("webhook_detail", args=[endpoint.pk])).status_code == 403
    assert client.get(reverse("webhook_list")).status_code == 403
    assert client.post(reverse("webhook_rotate", args=[endpoint.pk])).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_another_workspaces_endpoint_is_not_found(owner_client, receiver):
    other = User.objects.create_user(email="other@example.com", password="x" * 12, company_name="Other")
    endpoint = services.endpoint_create(
        workspace=other.personal_workspace, by=other, url=receiver.url, event_types=[events.CALL_COMPLETED]
    )
    assert owner_client.get(reverse("webhook_detail", args=[endpoint.pk])).status_code == 404
    assert owner_client.post(reverse("webhook_delete", args=[endpoint.pk])).status_code == 404
