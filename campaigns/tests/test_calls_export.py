"""The calls CSV's header at any size: captured names found through the index, in the order
they first appear, across campaigns and calls without one, the same as a pass over every call."""

import csv
import io

import pytest
from django.db import connection
from django.urls import reverse

from campaigns.analytics.exports import FIXED_COLUMNS, captured_field_names
from campaigns.models import Call

from .factories import make_campaign


def add_call(owner, campaign, captured) -> Call:
    return Call.objects.create(
        workspace=owner.personal_workspace,
        campaign=campaign,
        agent=campaign.agent if campaign else None,
        to_number="+14155550101",
        from_number="+14155550000",
        provider="simulated",
        status=Call.Status.COMPLETED,
        direction=Call.Direction.OUTBOUND if campaign else Call.Direction.INBOUND,
        captured=captured,
    )


@pytest.fixture
def two_campaigns_and_an_inbound_call(user):
    spring, autumn = make_campaign(user, ["+14155550101"]), make_campaign(user, ["+14155550102"])
    add_call(user, autumn, [["budget", "5k"], ["email", "a@example.com"]])
    add_call(user, spring, [["email", "b@example.com"], ["time", "noon"]])
    add_call(user, None, [["callback_at", "2026-05-01T10:00"], ["budget", "1k"]])  # inbound: no campaign
    add_call(user, spring, [["odd"], {"x": 1}, "text", ["", "no name"], [7, "numbered"], ["budget", "2k"]])
    add_call(user, autumn, {"not": "a list"})
    add_call(user, spring, [])
    return spring, autumn


def test_names_come_in_order_of_first_appearance_across_campaigns_and_inbound_calls(
    user, two_campaigns_and_an_inbound_call, monkeypatch
):
    spring, autumn = two_campaigns_and_an_inbound_call
    in_database = {
        "account": captured_field_names(workspace=user.personal_workspace),
        "spring": captured_field_names(workspace=user.personal_workspace, campaign=spring),
        "autumn": captured_field_names(workspace=user.personal_workspace, campaign=autumn),
    }
    monkeypatch.setattr(connection, "vendor", "sqlite")  # the one streamed pass over every call
    in_python = {
        "account": captured_field_names(workspace=user.personal_workspace),
        "spring": captured_field_names(workspace=user.personal_workspace, campaign=spring),
        "autumn": captured_field_names(workspace=user.personal_workspace, campaign=autumn),
    }

    assert in_database == in_python
    assert in_database["account"] == ["budget", "email", "time", "callback_at", "7"]
    assert in_database["spring"] == ["email", "time", "7", "budget"]
    assert in_database["autumn"] == ["budget", "email"]


def test_another_accounts_names_never_reach_the_header(logged_in, user, two_campaigns_and_an_inbound_call):
    from accounts.models import User

    other = User.objects.create_user(email="other@example.com", password="x" * 12)
    theirs = make_campaign(other, ["+14155550177"])
    add_call(other, theirs, [["secret", "theirs"]])
    add_call(other, None, [["inbound_secret", "theirs"]])

    response = logged_in.get(reverse("calls_export"))
    header = next(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert header == FIXED_COLUMNS + ["budget", "email", "time", "callback_at", "7"]
