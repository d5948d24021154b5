"""The call list: its filters, its newer/older pages, and what another account never sees."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.calls import selectors
from campaigns.models import Call

from .factories import make_campaign

CALLS = reverse("call_list")


def add_call(campaign, number: str, *, minutes_ago: float = 0, **fields) -> Call:
    call = Call.objects.create(
        workspace=campaign.workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number=number,
        from_number="+14155550000",
        provider="simulated",
        **{"status": Call.Status.COMPLETED, **fields},
    )
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return call


def listed(response) -> list[str]:
    """The numbers on the page, top to bottom."""
    assert response.status_code == 200
    return re.findall(r'<small class="muted">(\+\d+)</small>', response.content.decode())


@pytest.fixture
def spring(user):
    return make_campaign(user, ["+14155550101"])


@pytest.fixture
def autumn(user):
    campaign = make_campaign(user, ["+14155550102"])
    campaign.name = "Autumn outreach"
    campaign.save(update_fields=["name"])
    return campaign


def test_each_filter_narrows_the_list(logged_in, spring, autumn):
    now = timezone.localtime()
    add_call(spring, "+14155550101", minutes_ago=1, outcome="interested", answered_at=now, duration_seconds=30)
    add_call(spring, "+14155550199", minutes_ago=2, status=Call.Status.BUSY)
    add_call(autumn, "+442071838750", minutes_ago=3, status=Call.Status.NO_ANSWER)
    add_call(autumn, "+14155550300", minutes_ago=60 * 24 * 3, outcome="not_interested", answered_at=now)

    assert listed(logged_in.get(CALLS)) == ["+14155550101", "+14155550199", "+442071838750", "+14155550300"]
    assert listed(logged_in.get(CALLS, {"campaign": autumn.pk})) == ["+442071838750", "+14155550300"]
    assert listed(logged_in.get(CALLS, {"status": "busy"})) == ["+14155550199"]
    assert listed(logged_in.get(CALLS, {"outcome": "interested"})) == ["+14155550101"]
    assert listed(logged_in.get(CALLS, {"answered": "yes"})) == ["+14155550101", "+14155550300"]
    assert listed(logged_in.get(CALLS, {"answered": "no"})) == ["+14155550199", "+442071838750"]
    three_days_ago = (now - timedelta(days=3)).date()
    assert listed(logged_in.get(CALLS, {"date_from": three_days_ago, "date_to": three_days_ago})) == ["+14155550300"]
    assert "+14155550300" not in listed(logged_in.get(CALLS, {"date_from": now.date()}))
    # Filters combine.
    assert listed(logged_in.get(CALLS, {"campaign": spring.pk, "answered": "no"})) == ["+14155550199"]
    assert "No calls match these filters." in logged_in.get(CALLS, {"status": "failed"}).content.decode()


def test_a_number_is_found_whole_in_any_spelling_or_by_its_last_digits(logged_in, spring):
    add_call(spring, "+14155550101", minutes_ago=1)
    add_call(spring, "+14155550199", minutes_ago=2)
    add_call(spring, "+442071838750", minutes_ago=3)

    assert listed(logged_in.get(CALLS, {"phone": "+1 (415) 555-0199"})) == ["+14155550199"]
    assert listed(logged_in.get(CALLS, {"phone": "0199"})) == ["+14155550199"]
    assert listed(logged_in.get(CALLS, {"phone": "555-01"})) == []  # the end of the number, not its middle
    assert listed(logged_in.get(CALLS, {"phone": "838750"})) == ["+442071838750"]
    assert listed(logged_in.get(CALLS, {"phone": "4155550101"})) == ["+14155550101"]
    # A whole number with + is that number only, not any number ending like it.
    assert listed(logged_in.get(CALLS, {"phone": "+4155550101"})) == []


def test_a_filter_that_cannot_be_read_says_why_and_lists_nothing(logged_in, spring):
    add_call(spring, "+14155550101")
    too_short = logged_in.get(CALLS, {"phone": "12"})
    assert "Type at least 3 digits" in too_short.content.decode() and listed(too_short) == []
    backwards = logged_in.get(CALLS, {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert "The end date is before the start date." in backwards.content.decode() and listed(backwards) == []


def test_another_accounts_calls_and_campaigns_are_never_listed(logged_in, user, spring):
    from accounts.models import User

    other = User.objects.create_user(email="other@example.com", password="x" * 12)
    theirs = make_campaign(other, ["+14155550177"])
    add_call(theirs, "+14155550177")
    add_call(spring, "+14155550101")

    assert listed(logged_in.get(CALLS)) == ["+14155550101"]
    assert listed(logged_in.get(CALLS, {"phone": "0177"})) == []
    # Their campaign is not a choice: the filter is refused, nothing listed.
    response = logged_in.get(CALLS, {"campaign": theirs.pk})
    assert listed(response) == [] and "Select a valid choice" in response.content.decode()
    assert "Spring outreach" in response.content.decode()


def add_calls(campaign, numbers: list[str], *, tied: range = range(0), **fields) -> list[str]:
    """Calls to `numbers`, a minute apart, newest first; those at the `tied` positions share one
    moment. Returns the numbers in the order the list shows them (among equal times, newest id first)."""
    calls = Call.objects.bulk_create(
        Call(
            workspace=campaign.workspace,
            campaign=campaign,
            agent=campaign.agent,
            to_number=number,
            from_number="+14155550000",
            provider="simulated",
            **{"status": Call.Status.COMPLETED, **fields},
        )
        for number in numbers
    )
    now = timezone.now()
    for n, call in enumerate(calls):
        moment = now - timedelta(minutes=tied.start if n in tied else n)
        Call.objects.filter(pk=call.pk).update(created_at=moment)
        call.created_at = moment
    return [call.to_number for call in sorted(calls, key=lambda call: (call.created_at, call.pk), reverse=True)]


def follow(client, response, rel: str):
    """The page behind the response's newer ("prev") or older ("next") link, or None."""
    match = re.search(rf'href="\?([^"]*)" rel="{rel}"', response.content.decode())
    return match and client.get(CALLS + "?" + match.group(1).replace("&amp;", "&"))


def test_pages_go_older_and_back_newer_without_gaps_or_repeats(logged_in, spring):
    page = selectors.PAGE_SIZE
    # Calls made in the same microsecond across the first page's end still page by id.
    expected = add_calls(spring, [f"+1415555{n:04d}" for n in range(2 * page + 5)], tied=range(page - 2, page + 2))

    pages = [logged_in.get(CALLS)]
    while next_page := follow(logged_in, pages[-1], "next"):
        pages.append(next_page)
    assert [listed(p) for p in pages] == [expected[:page], expected[page : 2 * page], expected[2 * page :]]
    assert follow(logged_in, pages[0], "prev") is None

    back = follow(logged_in, pages[-1], "prev")
    assert listed(back) == expected[page : 2 * page]
    newest = follow(logged_in, back, "prev")
    assert listed(newest) == expected[:page] and follow(logged_in, newest, "prev") is None


def test_pages_keep_the_filters(logged_in, spring):
    page = selectors.PAGE_SIZE
    busy = add_calls(spring, [f"+1415555{n:04d}" for n in range(page + 1)], status=Call.Status.BUSY)
    add_calls(spring, [f"+1415556{n:04d}" for n in range(page)])
    first = logged_in.get(CALLS, {"status": "busy"})
    assert listed(first) == busy[:page]
    older = follow(logged_in, first, "next")
    assert listed(older) == busy[page:]


def test_a_hand_edited_page_link_starts_from_the_newest(logged_in, spring):
    add_call(spring, "+14155550101")
    assert listed(logged_in.get(CALLS, {"before": "yesterday"})) == ["+14155550101"]
    assert listed(logged_in.get(CALLS, {"after": "1_x"})) == ["+14155550101"]


def test_a_page_costs_the_same_queries_however_many_calls_and_filters(logged_in, spring, autumn):
    def queries(params) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get(CALLS, params).status_code == 200
        return len(captured)

    add_call(spring, "+14155550101", outcome="interested", credits_charged=Decimal(3))
    everything = {"campaign": spring.pk, "status": "completed", "outcome": "interested", "answered": "no"}
    few_plain, few_filtered = queries({}), queries(everything)
    for n in range(30):
        add_call(autumn if n % 2 else spring, f"+1415556{n:04d}", minutes_ago=n, outcome="interested")
    assert queries({}) == few_plain
    assert queries(everything) == few_filtered


def test_the_filtered_list_offers_the_campaigns_calls_as_csv(logged_in, spring):
    page = logged_in.get(CALLS, {"campaign": spring.pk}).content.decode()
    assert f"{reverse('calls_export')}?campaign={spring.pk}" in page


def test_the_download_says_which_calls_it_holds(logged_in, spring):
    """The CSV carries the campaign filter only: its button says whether it is every call or the
    campaign's, so a list narrowed by other filters does not promise a narrowed file."""
    everything = logged_in.get(CALLS, {"status": "busy"}).content.decode()
    assert "Download all calls (CSV)" in everything
    one = logged_in.get(CALLS, {"campaign": spring.pk}).content.decode()
    assert "Download the campaign's calls (CSV)" in one and f"?campaign={spring.pk}" in one
