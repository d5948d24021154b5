"""Staff read endpoints and the delivery log in the admin; they change nothing and never see secrets."""

import pytest
from django.urls import reverse

from accounts.models import User
from clozit import events
from integrations.webhooks import services
from integrations.webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser(email="admin@example.com", password="admin pass 1234"))
    return client


def test_the_delivery_log_is_read_only_and_secrets_stay_hidden(admin_client, user, receiver):
    endpoint = services.endpoint_create(
        workspace=user.personal_workspace, by=user, url=receiver.url, event_types=[events.CREDITS_LOW]
    )
    services.endpoint_test_send(endpoint=endpoint, by=user)
    delivery = Delivery.objects.get()

    page = admin_client.get(reverse("admin:webhooks_delivery_changelist"))
    assert page.status_code == 200 and delivery.message.msg_id in page.content.decode()
    assert admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).status_code == 200
    page = admin_client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200 and endpoint.secret not in page.content.decode()
    assert admin_client.get(reverse("admin:webhooks_endpoint_add")).status_code == 403
    assert admin_client.post(reverse("admin:webhooks_delivery_delete", args=[delivery.pk])).status_code == 403
    assert Endpoint.objects.count() == 1 and Delivery.objects.count() == 1
