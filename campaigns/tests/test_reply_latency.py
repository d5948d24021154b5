"""How fast real-time replies begin: beside each agent line on the call's page, and as medians and
95th percentiles of the account's replies on the analytics page (Clozit's own part apart from the
model's), in a fixed number of queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.analytics.selectors import reply_latency
from campaigns.models import Call, CallTurn
from campaigns.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def call_with_replies(user, agent, latencies) -> Call:
    """A finished call whose agent lines have these (first_frame_ms, model_first_token_ms)."""
    call = Call.objects.create(
        workspace=user.personal_workspace,
        agent=agent,
        to_number="+12025550101",
        from_number="+12025550100",
        provider="twilio",
        status="completed",
        answered_by="human",
        duration_seconds=30,
    )
    sequence = 0
    for first_frame, model in latencies:
        sequence += 1
        CallTurn.objects.create(call=call, sequence=sequence, speaker="callee", text="Hello?")
        sequence += 1
        CallTurn.objects.create(
            call=call,
            sequence=sequence,
            speaker="agent",
            text="Hi there.",
            first_frame_ms=first_frame,
            model_first_token_ms=model,
            total_ms=first_frame + 900,
        )
    return call


def test_the_call_page_shows_each_replys_latency_and_what_was_cut_short(client, user):
    agent = make_agent(user, transport="relay")
    call = call_with_replies(user, agent, [(412, 398)])
    CallTurn.objects.filter(call=call, speaker="agent").update(interrupted=True)
    client.force_login(user)
    page = re.sub(r"\s+", " ", client.get(reverse("call_detail", args=[call.pk])).content.decode())
    assert "first words after 412 ms (AI model 398 ms), all sent after 1312 ms" in page
    assert 'data-testid="turn-interrupted"' in page


def test_percentiles_of_first_words_and_of_clozits_own_part_in_a_fixed_number_of_queries(client, user):
    agent = make_agent(user, transport="relay")
    # Twenty replies: first words after 100, 200 … 2000 ms, of which Clozit's own 1, 2 … 20 ms.
    latencies = [(100 * n, 100 * n - n) for n in range(1, 21)]
    call_with_replies(user, agent, latencies[:10])
    call_with_replies(user, agent, latencies[10:])
    call_with_replies(user, agent, [])  # a call without real-time replies counts for nothing

    with CaptureQueriesContext(connection) as few:
        latency = reply_latency(workspace=user.personal_workspace)
    assert latency.replies == 20
    assert (latency.first_frame_p50, latency.first_frame_p95) == (1000, 1900)
    assert (latency.overhead_p50, latency.overhead_p95) == (10, 19)

    call_with_replies(user, agent, latencies)
    with CaptureQueriesContext(connection) as more:
        reply_latency(workspace=user.personal_workspace)
    assert len(more) == len(few) == 1

    client.force_login(user)
    page = re.sub(r"\s+", " ", client.get(reverse("analytics")).content.decode())
    assert 'data-testid="analytics-latency"' in page
    assert "Clozit's own part" in page or "Clozit&#x27;s own part" in page


def test_no_real_time_replies_no_latency_section(client, user):
    assert reply_latency(workspace=user.personal_workspace).replies == 0
    client.force_login(user)
    assert 'data-testid="analytics-latency"' not in client.get(reverse("analytics")).content.decode()
