"""Campaign results, account analytics and the calls CSV: what the numbers say, what they cost in
queries (the same for 10 calls as for 500), and that an export never hands a spreadsheet a formula."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from campaigns.analytics.exports import FIXED_COLUMNS
from campaigns.analytics.selectors import account_analytics, bucket_unit, calls_over_time, campaign_live_stats
from campaigns.models import Call, Campaign, CampaignContact
from campaigns.tests.factories import make_campaign
from clozit.csvsafe import is_formula, spreadsheet_safe

pytestmark = pytest.mark.django_db

NUMBERS = ["+12025550101", "+12025550102", "+12025550103", "+12025550104"]
S = Call.Status


@pytest.fixture
def other(db):
    other = User.objects.create_user(email="rival@example.com", password="another secret pass")
    account_created(user=other)
    return other


def add_call(campaign, *, ago=timedelta(0), contact=None, **fields) -> Call:
    """A call of `campaign`, placed `ago` before now (created_at is auto_now_add, so set after)."""
    call = Call.objects.create(
        workspace=campaign.workspace,
        campaign=campaign,
        agent=campaign.agent,
        contact=contact,
        to_number=fields.pop("to_number", contact.phone_number if contact else NUMBERS[0]),
        from_number=campaign.caller_number,
        provider="simulated",
        **fields,
    )
    if ago:
        Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - ago)
        call.refresh_from_db()
    return call


@pytest.fixture
def crafted(user):
    """Eight calls covering every case the numbers must tell apart."""
    campaign = make_campaign(user, NUMBERS)
    contacts = list(campaign.contact_list.contacts.all())
    targets = [
        CampaignContact.objects.create(campaign=campaign, contact=contact, status=status)
        for contact, status in zip(
            contacts,
            [
                CampaignContact.Status.DONE,
                CampaignContact.Status.DONE,
                CampaignContact.Status.FAILED,
                CampaignContact.Status.PENDING,
            ],
            strict=True,
        )
    ]
    recent, older = timedelta(seconds=30), timedelta(minutes=12)
    add_call(
        campaign,
        contact=contacts[0],
        status=S.COMPLETED,
        answered_by="human",
        outcome="interested",
        duration_seconds=60,
        credits_charged=Decimal("2.00"),
        captured=[["email", "ann@example.com"], ["budget", "=cmd|' /C calc'!A0"]],
        ago=recent,
    )
    add_call(
        campaign,
        contact=contacts[1],
        status=S.COMPLETED,
        answered_by="",  # no answering-machine detection: counts as answered
        outcome="transferred",
        duration_seconds=120,
        credits_charged=Decimal("3.00"),
        ago=recent,
    )
    add_call(
        campaign,
        contact=contacts[2],
        status=S.COMPLETED,
        answered_by="machine",
        outcome="voicemail",
        duration_seconds=20,
        credits_charged=Decimal("1.00"),
        ago=recent,
    )
    add_call(campaign, contact=contacts[3], status=S.BUSY, ago=recent)
    add_call(campaign, contact=contacts[3], status=S.NO_ANSWER, ago=recent)
    add_call(
        campaign,
        status=S.FAILED,
        outcome="technical_failure",
        failure_reason="Carrier rejected the number",
        ago=older,
    )
    add_call(campaign, status=S.IN_PROGRESS, answered_by="human", duration_seconds=0, ago=older)
    add_call(
        campaign,
        status=S.COMPLETED,
        answered_by="human",
        outcome="booked_demo",  # the agent's own outcome: not a positive one here
        duration_seconds=30,
        credits_charged=Decimal("1.50"),
        captured=[["budget", "about 5k"], ["budget", "make it 6k"]],
        ago=older,
    )
    return campaign, targets


# --- The numbers ----------------------------------------------------------------------
def test_live_stats_count_states_outcomes_rates_and_credits(crafted):
    campaign, _ = crafted

    stats = campaign_live_stats(campaign=campaign)
    n = stats.numbers

    assert stats.targets_total == 4
    assert {t["status"]: t["count"] for t in stats.targets} == {
        "pending": 1,
        "claimed": 0,
        "done": 2,
        "failed": 1,
        "skipped": 0,
    }
    assert {row["status"]: row["count"] for row in stats.calls_by_status} == {
        "completed": 4,
        "busy": 1,
        "no_answer": 1,
        "failed": 1,
        "in_progress": 1,
    }
    assert n.calls == 8
    assert n.finished == 7  # the call in progress is not decided yet
    assert n.answered == 3  # human + unknown + human; the machine is not an answer
    assert n.answer_rate == 42.9
    assert n.average_duration == 70  # (60 + 120 + 30) / 3
    assert n.credits == Decimal("7.50")
    assert n.positive == 2  # interested + transferred
    assert n.cost_per_positive == Decimal("3.75")
    assert stats.live_calls == 1
    assert stats.calls_per_minute == 1.0  # five calls in the last five minutes
    outcomes = {row["label"]: row["count"] for row in n.outcome_rows}
    assert outcomes == {
        "No outcome recorded": 3,
        "Interested": 1,
        "Transferred to a person": 1,
        "Voicemail": 1,
        "Technical failure": 1,
        "Booked demo": 1,
    }
    assert n.outcome_rows[0]["label"] == "No outcome recorded"


def test_live_stats_of_an_empty_campaign(user):
    campaign = make_campaign(user, NUMBERS)

    stats = campaign_live_stats(campaign=campaign)

    assert stats.numbers.calls == 0
    assert stats.numbers.answer_rate is None
    assert stats.numbers.average_duration is None
    assert stats.numbers.cost_per_positive is None
    assert stats.numbers.credits == Decimal("0")
    assert stats.calls_per_minute == 0
    assert stats.first_call_at is None
    assert calls_over_time(campaign=campaign) == {
        "unit": "minute",
        "labels": [],
        "started": [],
        "answered": [],
        "positive": [],
    }


def test_bucket_size_follows_the_campaign_span():
    assert bucket_unit(timedelta(minutes=30)) == "minute"
    assert bucket_unit(timedelta(minutes=119)) == "minute"
    assert bucket_unit(timedelta(minutes=121)) == "hour"
    assert bucket_unit(timedelta(days=3)) == "hour"
    assert bucket_unit(timedelta(days=30)) == "day"
    assert bucket_unit(timedelta(days=400)) == "week"
    assert bucket_unit(timedelta(days=5000)) == "month"


def test_calls_over_time_per_minute_with_empty_minutes_filled(user):
    campaign = make_campaign(user, NUMBERS)
    start = datetime(2025, 3, 3, 14, 10, 5, tzinfo=UTC)
    for offset, status, answered_by in [
        (0, S.COMPLETED, "human"),
        (20, S.COMPLETED, "machine"),
        (60, S.NO_ANSWER, ""),
        (185, S.COMPLETED, ""),
    ]:
        call = add_call(campaign, status=status, answered_by=answered_by)
        Call.objects.filter(pk=call.pk).update(created_at=start + timedelta(seconds=offset))

    chart = calls_over_time(campaign=campaign)

    assert chart == {
        "unit": "minute",
        "labels": ["14:10", "14:11", "14:12", "14:13"],
        "started": [2, 1, 0, 1],
        "answered": [1, 0, 0, 1],
        "positive": [0, 0, 0, 0],
    }


def test_calls_over_time_per_hour_in_the_accounts_time_zone(user):
    campaign = make_campaign(user, NUMBERS)
    for moment in [datetime(2025, 3, 3, 14, 10, tzinfo=UTC), datetime(2025, 3, 3, 16, 20, tzinfo=UTC)]:
        call = add_call(campaign, status=S.COMPLETED, answered_by="human")
        Call.objects.filter(pk=call.pk).update(created_at=moment)

    with timezone.override("America/New_York"):
        chart = calls_over_time(campaign=campaign)

    assert chart["unit"] == "hour"
    assert chart["labels"] == ["09:00", "10:00", "11:00"]
    assert chart["started"] == [1, 0, 1]
    assert chart["answered"] == [1, 0, 1]


def test_a_running_campaigns_chart_reaches_now(user):
    campaign = make_campaign(user, NUMBERS)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    campaign.refresh_from_db()
    add_call(campaign, status=S.COMPLETED, ago=timedelta(minutes=10))

    chart = calls_over_time(campaign=campaign)

    assert chart["unit"] == "minute"
    assert len(chart["labels"]) in (10, 11)  # the call's minute through the current one
    assert chart["started"][0] == 1
    assert sum(chart["started"]) == 1


def test_account_analytics_per_campaign_and_total(crafted, user, other):
    campaign, _ = crafted
    second = make_campaign(user, NUMBERS[:1])
    Campaign.objects.filter(pk=second.pk).update(name="Autumn follow-up")
    add_call(
        second,
        status=S.COMPLETED,
        answered_by="human",
        outcome="interested",
        duration_seconds=40,
        credits_charged=Decimal("1.00"),
    )
    add_call(second, status=S.COMPLETED, answered_by="human", outcome="interested", ago=timedelta(days=40))
    theirs = make_campaign(other, NUMBERS)
    add_call(theirs, status=S.COMPLETED, answered_by="human", outcome="interested", credits_charged=Decimal("9"))

    report = account_analytics(workspace=user.personal_workspace, since=timezone.now() - timedelta(days=30))

    assert [row.name for row in report.rows] == ["Spring outreach", "Autumn follow-up"]
    first, autumn = report.rows
    assert (first.numbers.calls, first.numbers.answered, first.numbers.positive) == (8, 3, 2)
    assert first.numbers.cost_per_positive == Decimal("3.75")
    assert (autumn.numbers.calls, autumn.numbers.answer_rate, autumn.numbers.average_duration) == (1, 100.0, 40)
    assert autumn.numbers.outcomes == {"interested": 1}
    total = report.total
    assert (total.calls, total.finished, total.answered, total.positive) == (9, 8, 4, 3)
    assert total.credits == Decimal("8.50")
    assert total.answer_rate == 50.0
    assert total.average_duration == 62  # (60 + 120 + 30 + 40) / 4 = 62.5, rounded to even
    assert total.cost_per_positive == Decimal("2.83")
    assert total.outcomes["interested"] == 2

    all_time = account_analytics(workspace=user.personal_workspace)
    assert all_time.total.calls == 10
    assert account_analytics(workspace=user.personal_workspace, since=timezone.now() + timedelta(days=1)).rows == []


def test_calls_outside_campaigns_are_a_row_of_their_own(user):
    Call.objects.create(
        workspace=user.personal_workspace,
        to_number=NUMBERS[0],
        from_number="+14155550000",
        provider="simulated",
        status=S.COMPLETED,
    )

    report = account_analytics(workspace=user.personal_workspace)

    assert [(row.campaign_id, row.name) for row in report.rows] == [(None, "Calls outside campaigns")]


# --- Fixed query counts ---------------------------------------------------------------
def bulk_calls(campaign, count: int) -> None:
    statuses = [S.COMPLETED, S.BUSY, S.NO_ANSWER, S.FAILED, S.IN_PROGRESS]
    outcomes = ["interested", "not_interested", "voicemail", "", "transferred", "booked_demo"]
    Call.objects.bulk_create(
        [
            Call(
                workspace=campaign.workspace,
                campaign=campaign,
                agent=campaign.agent,
                to_number=f"+1202555{i:04d}",
                from_number=campaign.caller_number,
                provider="simulated",
                status=statuses[i % len(statuses)],
                answered_by="machine" if i % 7 == 0 else "human",
                outcome=outcomes[i % len(outcomes)],
                duration_seconds=i % 90,
                credits_charged=Decimal("0.50"),
                captured=[[f"field_{i % 3}", f"value {i}"]],
            )
            for i in range(count)
        ]
    )


@pytest.mark.parametrize("count", [10, 500])
def test_the_numbers_cost_the_same_queries_for_10_or_500_calls(user, count, django_assert_num_queries):
    campaign = make_campaign(user, NUMBERS)
    bulk_calls(campaign, count)

    with django_assert_num_queries(5):
        stats = campaign_live_stats(campaign=campaign)
    with django_assert_num_queries(1):
        chart = calls_over_time(campaign=campaign, span=(stats.first_call_at, stats.last_call_at), kinds=stats.kinds)
    with django_assert_num_queries(4):
        report = account_analytics(workspace=user.personal_workspace)

    assert stats.numbers.calls == count == sum(chart["started"]) == report.total.calls


# Session, user, the user's workspaces (the current one and the header's switcher) and the
# campaign, then the numbers (see each test above).
STATS_VIEW_QUERIES = 10
# and the real-time replies' latency (one query).
ANALYTICS_VIEW_QUERIES = 9  # ... and the header's unread notices count (notices.templatetags)
EXPORT_QUERIES = 7  # session, user, workspaces, field names, outcome kinds, no JIT for the stream, calls
CAMPAIGN_EXPORT_QUERIES = 8  # ... and the campaign


@pytest.mark.parametrize("count", [10, 500])
def test_pages_and_export_cost_the_same_queries_for_10_or_500_calls(logged_in, user, count, django_assert_num_queries):
    campaign = make_campaign(user, NUMBERS)
    bulk_calls(campaign, count)

    with django_assert_num_queries(STATS_VIEW_QUERIES):
        response = logged_in.get(reverse("campaign_stats", args=[campaign.pk]))
        assert response.status_code == 200
    with django_assert_num_queries(ANALYTICS_VIEW_QUERIES):
        response = logged_in.get(reverse("analytics") + "?days=all")
        assert response.status_code == 200
    with django_assert_num_queries(EXPORT_QUERIES):
        lines = read_csv(logged_in.get(reverse("calls_export")))
    assert len(lines) == count + 1
    with django_assert_num_queries(CAMPAIGN_EXPORT_QUERIES):
        lines = read_csv(logged_in.get(reverse("calls_export") + f"?campaign={campaign.pk}"))
    assert len(lines) == count + 1
    assert lines[0][len(FIXED_COLUMNS) :] == ["field_0", "field_1", "field_2"]


# --- Pages ----------------------------------------------------------------------------
def test_the_campaign_page_loads_its_results_panel(logged_in, crafted):
    campaign, _ = crafted

    page = logged_in.get(reverse("campaign_detail", args=[campaign.pk])).content.decode()
    assert reverse("campaign_stats", args=[campaign.pk]) in page
    assert 'id="calls-chart"' in page
    assert "vendor/chart.js/chart.umd.min.js" in page
    assert f"{reverse('calls_export')}?campaign={campaign.pk}" in page
    assert "cdn" not in page.lower()

    response = logged_in.get(reverse("campaign_stats", args=[campaign.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200  # a draft campaign keeps polling
    assert 'data-testid="stats-answer-rate">42.9%<' in body
    assert 'data-testid="stats-credits">7.50<' in body
    assert 'data-testid="stats-cost-per-positive">3.75<' in body
    assert 'id="calls-chart-data" type="application/json"' in body
    assert "Booked demo" in body


def test_a_finished_campaigns_panel_stops_polling(logged_in, crafted):
    campaign, _ = crafted
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)

    response = logged_in.get(reverse("campaign_stats", args=[campaign.pk]), HTTP_HX_REQUEST="true")

    assert response.status_code == 286
    assert 'data-testid="stats-calls">8<' in response.content.decode()


def test_an_empty_campaigns_panel(logged_in, user):
    campaign = make_campaign(user, NUMBERS)

    body = logged_in.get(reverse("campaign_stats", args=[campaign.pk])).content.decode()

    assert 'data-testid="stats-empty"' in body
    assert '"labels": []' in body


def test_the_analytics_page_filters_by_period(logged_in, crafted):
    campaign, _ = crafted
    add_call(campaign, status=S.COMPLETED, answered_by="human", outcome="interested", ago=timedelta(days=40))

    month = logged_in.get(reverse("analytics")).content.decode()
    everything = logged_in.get(reverse("analytics") + "?days=all").content.decode()
    nonsense = logged_in.get(reverse("analytics") + "?days=12345")

    assert 'data-testid="total-calls">8<' in month
    assert 'data-testid="total-calls">9<' in everything
    assert nonsense.status_code == 200 and nonsense.context["period"] == "30"
    assert 'data-testid="analytics-table"' in month
    assert "Spring outreach" in month
    assert reverse("calls_export") in month
    assert 'data-testid="nav-analytics"' in month


def test_the_analytics_page_with_no_calls(logged_in):
    body = logged_in.get(reverse("analytics")).content.decode()

    assert 'data-testid="analytics-empty"' in body
    assert 'data-testid="total-answer-rate">—<' in body


def test_another_accounts_campaign_is_not_found(logged_in, user, other):
    theirs = make_campaign(other, NUMBERS)
    add_call(theirs, status=S.COMPLETED, outcome="interested", to_number="+12025550999")
    mine = make_campaign(user, NUMBERS)
    add_call(mine, status=S.COMPLETED, to_number="+12025550111")

    assert logged_in.get(reverse("campaign_stats", args=[theirs.pk])).status_code == 404
    assert logged_in.get(reverse("calls_export") + f"?campaign={theirs.pk}").status_code == 404
    assert logged_in.get(reverse("calls_export") + "?campaign=abc").status_code == 404
    rows = read_csv(logged_in.get(reverse("calls_export")))
    assert [row[3] for row in rows[1:]] == ["+12025550111"]
    report = logged_in.get(reverse("analytics")).content.decode()
    assert 'data-testid="total-calls">1<' in report


def test_pages_need_a_login(client, user):
    campaign = make_campaign(user, NUMBERS)
    for url in [
        reverse("analytics"),
        reverse("campaign_stats", args=[campaign.pk]),
        reverse("calls_export"),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- CSV --------------------------------------------------------------------------
def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="clozit-calls')
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_csv_has_every_call_with_outcome_and_captured_columns(logged_in, crafted):
    campaign, _ = crafted

    rows = read_csv(logged_in.get(reverse("calls_export") + f"?campaign={campaign.pk}"))

    header, *calls = rows
    assert header == FIXED_COLUMNS + ["email", "budget"]
    assert len(calls) == 8
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in calls}
    created = [row["created"] for row in by_id.values()]
    assert created == sorted(created)  # oldest first
    first = by_id[min(by_id)]
    assert first["campaign"] == "Spring outreach"
    assert first["contact_name"] == "Person0"
    assert first["phone"] == "+12025550101"  # an E.164 number is data, not a formula: no apostrophe
    assert first["status"] == "Completed"
    assert first["outcome"] == "Interested" and first["outcome_kind"] == "Positive"
    assert first["answered_by"] == "human"
    assert first["duration_seconds"] == "60"
    assert first["credits"] == "2.00"
    assert first["email"] == "ann@example.com"
    assert first["budget"] == "'=cmd|' /C calc'!A0"
    assert datetime.fromisoformat(first["created"]).tzinfo is not None
    failed = next(row for row in by_id.values() if row["status"] == "Failed")
    assert failed["failure_reason"] == "Carrier rejected the number"
    assert failed["outcome"] == "Technical failure" and failed["outcome_kind"] == "Neutral"
    assert failed["email"] == failed["budget"] == ""
    demo = next(row for row in by_id.values() if row["outcome"] == "Booked demo")
    assert demo["budget"] == "about 5k; make it 6k"
    assert demo["outcome_kind"] == "Neutral"  # an outcome the agent does not list
    assert {row["outcome_kind"] for row in by_id.values() if not row["outcome"]} == {""}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+SUM(1)", "'+SUM(1)"),
        ("-2+3", "'-2+3"),
        ("@foo", "'@foo"),
        ("\tfoo", "'\tfoo"),
        ("\r=1", "'\r=1"),
        ("+12025550123", "+12025550123"),
        ("Ann O'Neil", "Ann O'Neil"),
        ("a=b", "a=b"),
        ("", ""),
        (-2, -2),
        (Decimal("-1.50"), Decimal("-1.50")),
        (None, None),
    ],
)
def test_spreadsheet_safe(value, written):
    assert spreadsheet_safe(value) == written


def test_the_csv_never_starts_a_cell_with_a_formula(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    Campaign.objects.filter(pk=campaign.pk).update(name="-2+3")
    campaign.refresh_from_db()
    contact = campaign.contact_list.contacts.first()
    contact.first_name, contact.last_name = "+SUM(1)", ""
    contact.save()
    add_call(
        campaign,
        contact=contact,
        status=S.FAILED,
        failure_reason="@foo",
        captured=[["=evil()", "\tnote"], ["notes", "\rhidden"], ["oddities", "=1+1"]],
    )
    # What a captured column may hold that is not a pair is skipped, not an error.
    add_call(campaign, status=S.COMPLETED, captured={"not": "a list"})
    add_call(campaign, status=S.COMPLETED, captured=[["lonely"], "text", ["", "no name"]])

    rows = read_csv(logged_in.get(reverse("calls_export") + f"?campaign={campaign.pk}"))

    header, row, *rest = rows
    assert header[len(FIXED_COLUMNS) :] == ["'=evil()", "notes", "oddities"]
    cells = dict(zip(header, row, strict=True))
    assert cells["campaign"] == "'-2+3"
    assert cells["contact_name"] == "'+SUM(1)"
    assert cells["failure_reason"] == "'@foo"
    assert cells["'=evil()"] == "'\tnote"
    assert cells["notes"] == "'\rhidden"
    assert cells["oddities"] == "'=1+1"
    assert len(rest) == 2
    for line in rows:
        for cell in line:
            assert not is_formula(cell), cell


def test_the_csv_of_an_empty_campaign_is_its_header(logged_in, user):
    campaign = make_campaign(user, NUMBERS)

    rows = read_csv(logged_in.get(reverse("calls_export") + f"?campaign={campaign.pk}"))

    assert rows == [FIXED_COLUMNS]


def test_a_captured_name_like_a_fixed_column_gets_its_own_header(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    add_call(campaign, status=S.COMPLETED, captured=[["status", "Happy customer"]])

    header, row = read_csv(logged_in.get(reverse("calls_export")))

    assert header[-1] == "status (captured)"
    assert row[header.index("status")] == "Completed"
    assert row[-1] == "Happy customer"


def test_field_names_read_in_python_match_the_databases(user, monkeypatch):
    """SQLite (development) reads the names with one streamed pass in Python; same answer."""
    from django.db import connection

    from campaigns.analytics.exports import captured_field_names

    campaign = make_campaign(user, NUMBERS)
    add_call(campaign, captured=[["email", "a"], ["budget", "b"]])
    add_call(campaign, captured=[["budget", "c"], ["time", "d"], ["email", "e"]])
    add_call(campaign, captured=[["odd"], {"x": 1}])
    in_database = captured_field_names(workspace=user.personal_workspace)
    monkeypatch.setattr(connection, "vendor", "sqlite")
    in_python = captured_field_names(workspace=user.personal_workspace)

    assert in_database == in_python == ["email", "budget", "time"]
