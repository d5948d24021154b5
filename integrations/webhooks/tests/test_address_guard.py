"""integrations.http refuses addresses inside the network, at send time and at save time."""

import pytest

from integrations import http
from integrations.webhooks import services
from integrations.webhooks.models import Endpoint


@pytest.fixture
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_ALLOW_HTTP = False
    return settings


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fe80::1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://localhost/hook",  # a name that resolves to loopback
    ],
)
def test_request_refuses_internal_addresses(production, url):
    with pytest.raises(http.TransportError) as refused:
        http.request("POST", url, body=b"{}")
    assert refused.value.permanent
    assert "does not send there" in refused.value.message


def test_the_receiver_is_never_reached_when_refused(production, receiver):
    production.WEBHOOK_ALLOW_HTTP = True
    with pytest.raises(http.TransportError):
        http.request("POST", receiver.url, body=b"{}")
    assert receiver.requests == []


def test_plain_http_is_refused_in_production(production):
    with pytest.raises(http.TransportError) as refused:
        http.request("POST", "http://example.com/hook")
    assert "https" in refused.value.message and refused.value.permanent


def test_public_addresses_pass_the_check():
    assert http.address_refusal("93.184.216.34") == ""
    assert http.address_refusal("2606:2800:220:1:248:1893:25c8:1946") == ""
    assert http.address_refusal("::ffff:10.0.0.1") != ""
    assert http.address_refusal("100.64.0.1") != ""  # carrier-grade NAT: not global


def test_the_connection_goes_to_the_checked_address_with_the_host_kept(receiver):
    response = http.request("POST", f"http://localhost:{receiver.port}/hook?x=1", body=b"{}")
    assert response.status == 200
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"
    assert receiver.requests[0].path == "/hook?x=1"


@pytest.mark.django_db
def test_saving_an_internal_url_is_a_form_error(production, user):
    with pytest.raises(services.WebhookError, match="169.254.169.254"):
        services.endpoint_create(
            workspace=user.personal_workspace,
            by=user,
            url="https://169.254.169.254/hook",
            event_types=["call.completed"],
        )
    assert not Endpoint.objects.exists()
