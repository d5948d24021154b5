import pytest


@pytest.fixture
def logged_in(client, user):
    """The test client, logged in as `user`."""
    client.force_login(user)
    return client
