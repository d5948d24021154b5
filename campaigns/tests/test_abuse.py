"""Abuse signals: a campaign whose callees ask not to be called, or hang up at once, pauses itself
with a reason its owner reads, and staff find it flagged in admin; staff keep the platform-wide
do-not-call list."""

import html
import inspect
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import User
from billing import ledger
from campaigns.contacts import donotcall
from campaigns.dialing import abuse, dialer
from campaigns.dialing.abuse import campaign_abuse_check
from campaigns.lifecycle import services
from campaigns.models import Call, Campaign, DoNotCall
from campaigns.tests.factories import make_campaign


@pytest.fixture(autouse=True)
def limits(settings):
    settings.ABUSE_MIN_ANSWERED = 10
    settings.ABUSE_OPT_OUT_RATE = 0.15
    settings.ABUSE_SHORT_CALL_RATE = 0.6
    settings.ABUSE_SHORT_CALL_SECONDS = 5


@pytest.fixture
def campaign(user):
    campaign = make_campaign(user, ["+12025550101"])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    campaign.refresh_from_db()
    return campaign


@pytest.fixture
def staff_client(client, db):
    staff = User.objects.create_superuser(email="support@example.com", password="pw")
    client.force_login(staff)
    client.staff = staff
    return client


def finished_calls(campaign, count, *, outcome="interested", seconds=60, answered_by="human", status="completed"):
    Call.objects.bulk_create(
        Call(
            workspace=campaign.workspace,
            campaign=campaign,
            to_number="+12025550101",
            from_number=campaign.caller_number,
            provider="simulated",
            status=status,
            answered_by=answered_by,
            outcome=outcome,
            duration_seconds=seconds,
        )
        for _ in range(count)
    )


def page_text(response) -> str:
    return html.unescape(response.content.decode())


# --- the check --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_nothing_happens_before_enough_calls_are_answered(campaign):
    finished_calls(campaign, 9, outcome="do_not_call", seconds=2)  # every one an opt-out, and short
    # Calls nobody answered, or a machine answered, say nothing about how callees feel.
    finished_calls(campaign, 20, status="no_answer", outcome="", seconds=0, answered_by="")
    finished_calls(campaign, 20, outcome="voicemail", seconds=3, answered_by="machine")
    assert campaign_abuse_check(campaign.pk) == ""
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and campaign.flagged_at is None


@pytest.mark.django_db
def test_opt_outs_over_the_limit_pause_the_campaign_with_a_reason_the_owner_sees(campaign, client):
    finished_calls(campaign, 41)
    finished_calls(campaign, 9, outcome="do_not_call")  # 9 of 50 = 18%, over 15%

    reason = campaign_abuse_check(campaign.pk)

    assert reason == (
        "Paused for review: 18% of people asked not to be called again (limit 15%). "
        "Review the agent's script and the list's consent, then resume."
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_reason == reason
    assert campaign.flagged_at is not None
    assert campaign.flag_reason == "Abuse signals: opt-outs 9 of 50 answered calls (18%, limit 15%)"
    # The owner reads why on the campaign page.
    client.force_login(campaign.workspace.personal_for)
    assert reason in page_text(client.get(reverse("campaign_detail", args=[campaign.pk])))
    # Checked again, nothing more happens: the campaign is no longer running.
    assert campaign_abuse_check(campaign.pk) == ""


@pytest.mark.django_db
def test_a_rate_at_the_limit_does_not_pause(campaign, settings):
    finished_calls(campaign, 17)
    finished_calls(campaign, 3, outcome="do_not_call")  # exactly 15%
    assert campaign_abuse_check(campaign.pk) == ""
    finished_calls(campaign, 1, outcome="do_not_call")  # 4 of 21: 19%
    assert "19% of people asked not to be called again" in campaign_abuse_check(campaign.pk)


@pytest.mark.django_db
def test_short_calls_over_the_limit_pause_the_campaign(campaign):
    finished_calls(campaign, 7, seconds=4)  # under 5 s
    finished_calls(campaign, 3, seconds=5)  # 5 s is not short: 7 of 10 = 70%, over 60%
    reason = campaign_abuse_check(campaign.pk)
    assert reason.startswith("Paused for review: 70% of answered calls lasted under 5 seconds (limit 60%).")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "calls under 5 s 7 of 10 answered (70%, limit 60%)" in campaign.flag_reason


@pytest.mark.django_db
def test_both_signals_are_named_together(campaign):
    finished_calls(campaign, 10, outcome="do_not_call", seconds=3)
    reason = campaign_abuse_check(campaign.pk)
    assert "100% of people asked not to be called again (limit 15%) and 100% of answered calls lasted" in reason
    assert len(reason) <= 300


@pytest.mark.django_db
def test_thresholds_come_from_settings(campaign, settings):
    finished_calls(campaign, 8)
    finished_calls(campaign, 2, outcome="do_not_call")  # 20%
    settings.ABUSE_OPT_OUT_RATE = 0.25
    assert campaign_abuse_check(campaign.pk) == ""
    settings.ABUSE_MIN_ANSWERED = 11
    settings.ABUSE_OPT_OUT_RATE = 0.1
    assert campaign_abuse_check(campaign.pk) == ""  # not enough answered calls yet
    settings.ABUSE_MIN_ANSWERED = 10
    assert "20% of people" in campaign_abuse_check(campaign.pk)


@pytest.mark.django_db
def test_a_resumed_campaign_pauses_again_only_on_new_calls(campaign, user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(500), kind="staff_adjustment", reference="topup"
    )
    finished_calls(campaign, 5)
    finished_calls(campaign, 5, outcome="do_not_call")
    assert campaign_abuse_check(campaign.pk)
    campaign.refresh_from_db()
    flagged_at = campaign.flagged_at

    # The owner resumes (the flag still awaits review): the calls already judged do not count.
    services.campaign_resume(campaign=campaign)
    assert campaign_abuse_check(campaign.pk) == ""
    # New calls that are fine do not pause it either...
    finished_calls(campaign, 10)
    assert campaign_abuse_check(campaign.pk) == ""
    # ...new opt-outs beyond the limit do, counted from the flag on.
    finished_calls(campaign, 4, outcome="do_not_call")
    assert "29% of people" in campaign_abuse_check(campaign.pk)  # 4 of 14 new answered calls
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.flagged_at > flagged_at


@pytest.mark.django_db
def test_a_reviewed_campaign_is_not_paused_again_for_the_calls_staff_reviewed(campaign, user, staff_client):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(500), kind="staff_adjustment", reference="topup"
    )
    finished_calls(campaign, 10, outcome="do_not_call")
    campaign_abuse_check(campaign.pk)
    staff_client.post(
        reverse("admin:campaigns_campaign_changelist"), {"action": "clear_flag", "_selected_action": [campaign.pk]}
    )
    campaign.refresh_from_db()
    services.campaign_resume(campaign=campaign)
    assert campaign_abuse_check(campaign.pk) == ""
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and campaign.flag_reason == ""


@pytest.mark.django_db
def test_the_rates_are_those_of_the_latest_answered_calls(campaign, monkeypatch):
    monkeypatch.setattr(abuse, "WINDOW", 20)
    # A long good start does not hide a campaign going bad: 5 opt-outs in the latest 20 calls
    # pause it, though they are 2% of all its calls.
    finished_calls(campaign, 200)
    finished_calls(campaign, 15)
    finished_calls(campaign, 5, outcome="do_not_call")
    assert "25% of people asked not to be called again" in campaign_abuse_check(campaign.pk)


@pytest.mark.django_db
def test_old_opt_outs_age_out_of_the_window(campaign, monkeypatch):
    monkeypatch.setattr(abuse, "WINDOW", 20)
    finished_calls(campaign, 20, outcome="do_not_call")
    finished_calls(campaign, 20)  # the latest 20 are fine
    assert campaign_abuse_check(campaign.pk) == ""


@pytest.mark.django_db
def test_only_running_campaigns_are_paused(campaign):
    finished_calls(campaign, 10, outcome="do_not_call")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    assert campaign_abuse_check(campaign.pk) == ""
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED and campaign.flagged_at is None


@pytest.mark.django_db
def test_the_check_is_one_query_when_nothing_is_wrong(campaign, django_assert_num_queries):
    finished_calls(campaign, 30)
    with django_assert_num_queries(1):
        assert campaign_abuse_check(campaign.pk) == ""


# --- admin ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_flagged_campaigns_show_in_the_admin_filter_and_column(campaign, user, staff_client):
    quiet = make_campaign(user, ["+12025550102"])
    finished_calls(campaign, 10, outcome="do_not_call")
    campaign_abuse_check(campaign.pk)
    url = reverse("admin:campaigns_campaign_changelist")

    flagged = staff_client.get(url, {"flagged": "yes"})
    assert list(flagged.context["cl"].result_list) == [campaign]
    body = page_text(flagged)
    assert "Flagged for review" in body  # the filter
    assert "Abuse signals: opt-outs 10 of 10 answered calls" in body  # the column
    assert list(staff_client.get(url, {"flagged": "no"}).context["cl"].result_list) == [quiet]


@pytest.mark.django_db
def test_staff_clear_a_flag_after_review(campaign, staff_client):
    finished_calls(campaign, 10, outcome="do_not_call")
    campaign_abuse_check(campaign.pk)
    url = reverse("admin:campaigns_campaign_changelist")

    response = staff_client.post(url, {"action": "clear_flag", "_selected_action": [campaign.pk]}, follow=True)

    assert "Cleared the flag of 1 campaign." in page_text(response)
    campaign.refresh_from_db()
    assert campaign.flag_reason == "" and campaign.flagged_at is not None  # kept: counting restarts there
    assert campaign.status == Campaign.Status.PAUSED  # the owner resumes it, not staff
    assert list(staff_client.get(url, {"flagged": "yes"}).context["cl"].result_list) == []
    assert list(staff_client.get(url, {"flagged": "reviewed"}).context["cl"].result_list) == [campaign]
    # Who cleared it, and when, is in the campaign's admin history.
    history = page_text(staff_client.get(reverse("admin:campaigns_campaign_history", args=[campaign.pk])))
    assert "Abuse flag cleared after review" in history and "support@example.com" in history


@pytest.mark.django_db
def test_staff_pause_a_campaign_with_a_reason_the_owner_sees(campaign, staff_client):
    url = reverse("admin:campaigns_campaign_changelist")
    form = staff_client.post(url, {"action": "pause_campaigns", "_selected_action": [campaign.pk]})
    assert form.status_code == 200 and "give a reason" in page_text(form)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING  # nothing happens before the reason

    staff_client.post(
        url,
        {
            "action": "pause_campaigns",
            "_selected_action": [campaign.pk],
            "apply": "Pause",
            "reason": "Complaints about call content; we will be in touch.",
        },
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_reason == "Paused by support: Complaints about call content; we will be in touch."


@pytest.mark.django_db
def test_staff_add_a_platform_wide_do_not_call_number(staff_client, user):
    url = reverse("admin:campaigns_donotcall_add")
    response = staff_client.post(url, {"owner": "", "phone_number": "(202) 555-0199", "reason": "Regulator request"})
    assert response.status_code == 302
    entry = DoNotCall.objects.get()
    assert entry.workspace is None and entry.phone_number == "+12025550199"
    assert entry.added_by == staff_client.staff

    # The platform-wide list holds a number once.
    again = staff_client.post(url, {"owner": "", "phone_number": "+1 202 555 0199", "reason": "again"})
    assert again.status_code == 200 and DoNotCall.objects.count() == 1

    donotcall.dnc_add(workspace=user.personal_workspace, phone_number="+12025550101", reason="asked")
    changelist = reverse("admin:campaigns_donotcall_changelist")
    platform = staff_client.get(changelist, {"scope": "platform"})
    assert [e.phone_number for e in platform.context["cl"].result_list] == ["+12025550199"]
    assert "Platform-wide" in page_text(platform)
    account = staff_client.get(changelist, {"scope": "account"})
    assert [e.phone_number for e in account.context["cl"].result_list] == ["+12025550101"]
    # Searching by the number as people write it finds the entry.
    found = staff_client.get(changelist, {"q": "(202) 555-0199"})
    assert [e.phone_number for e in found.context["cl"].result_list] == ["+12025550199"]


@pytest.mark.django_db
def test_staff_import_platform_numbers_from_csv(staff_client):
    DoNotCall.objects.create(workspace=None, phone_number="+12025550101")
    data = b"phone\n(202) 555-0101\n+12025550102\n202-555-0103\nnot a number\n+12025550102\n"
    response = staff_client.post(
        reverse("admin:campaigns_donotcall_import"),
        {"file": SimpleUploadedFile("dnc.csv", data, content_type="text/csv"), "reason": "Complaint list"},
        follow=True,
    )
    body = page_text(response)
    assert "Added 2 numbers to the platform-wide do-not-call list." in body
    assert "1 line skipped: line 5" in body
    platform = DoNotCall.objects.filter(workspace__isnull=True)
    assert sorted(platform.values_list("phone_number", flat=True)) == ["+12025550101", "+12025550102", "+12025550103"]
    assert platform.get(phone_number="+12025550103").added_by == staff_client.staff


# --- in the dialer ---------------------------------------------------------------------------

STOP = [f"+1{area}5550141" for area in (202, 212, 312, 415, 512, 617)]  # callees who ask to stop

dialer_hooked = pytest.mark.skipif(
    "campaign_abuse_check" not in inspect.getsource(dialer),
    reason="the dialer does not call campaign_abuse_check yet",
)


@dialer_hooked
@pytest.mark.django_db(transaction=True)
def test_a_campaign_whose_callees_ask_to_stop_pauses_itself(live_server, settings, user, run_jobs):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.ABUSE_MIN_ANSWERED = 3
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal(2000), kind="staff_adjustment", reference="topup"
    )
    campaign = make_campaign(user, STOP, concurrency=1)
    services.campaign_launch(campaign=campaign, by=user)
    run_jobs()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_reason.startswith("Paused for review: 100% of people asked not to be called again")
    assert campaign.flag_reason
    # The claim round after the third opt-out placed no more calls.
    assert Call.objects.filter(campaign=campaign).count() == 3
