import pytest

from .fake_hubspot import FakeHubSpot


@pytest.fixture
def fake_hubspot(settings):
    """A running FakeHubSpot that the app's HubSpot client talks to; stopped after the test."""
    fake = FakeHubSpot()
    settings.HUBSPOT_API_BASE_URL = fake.base_url
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def connected(fake_hubspot, user):
    """`user`'s personal workspace connected to the fake portal; returns the connection."""
    from integrations.hubspot.services import hubspot_connect

    return hubspot_connect(workspace=user.personal_workspace, token=fake_hubspot.token, by=user)
