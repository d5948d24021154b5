"""What the people called may do (look up, opt out, report) and what staff decide, through the services."""

import django_rq
import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User, Workspace
from campaigns.dialing import dialer
from campaigns.lifecycle import services as lifecycle
from campaigns.models import Call, Campaign, CampaignContact, DoNotCall
from campaigns.tests.factories import make_campaign
from campaigns.tests.test_dialer import topup
from clozit import events
from notices.models import Notice
from safety import selectors, services
from safety.errors import SafetyError
from safety.models import Report

from .helpers import CALLEE, CALLER, placed_call

pytestmark = pytest.mark.django_db

OTHER = "+14155550198"


@pytest.fixture
def campaign(user):
    return make_campaign(user, [CALLEE])


# --- Look-up ---------------------------------------------------------------------------------
def test_a_lookup_shows_the_business_its_purpose_and_when(user, campaign):
    call = placed_call(campaign, days_ago=2)
    Workspace.objects.filter(pk=campaign.workspace_id).update(company_name="Acme Dental")

    (match,) = selectors.calls_matching(caller_number=CALLER, callee_number=CALLEE)

    assert (match.call, match.business, match.purpose) == (call, "Acme Dental", "Inviting customers to our spring sale")
    assert match.last_called_at == call.created_at


def test_a_workspace_without_a_company_name_shows_its_name(user, campaign):
    placed_call(campaign)
    Workspace.objects.filter(pk=campaign.workspace_id).update(company_name="", name="Riley's Bakery")

    assert [m.business for m in selectors.calls_matching(caller_number=CALLER, callee_number=CALLEE)] == [
        "Riley's Bakery"
    ]


def test_only_calls_from_that_number_to_that_number_match(user, campaign):
    placed_call(campaign, to=OTHER)
    placed_call(campaign)

    assert selectors.calls_matching(caller_number=CALLER, callee_number="+14155550197") == []
    assert selectors.calls_matching(caller_number="+14155550111", callee_number=CALLEE) == []
    assert len(selectors.calls_matching(caller_number=CALLER, callee_number=CALLEE)) == 1


def test_calls_older_than_ninety_days_or_never_dialled_do_not_match(user, campaign, settings):
    settings.SAFETY_LOOKUP_DAYS = 90
    placed_call(campaign, days_ago=90.01)
    queued = placed_call(campaign, days_ago=0.1, status=Call.Status.QUEUED)
    Call.objects.filter(pk=queued.pk).update(dialing_started_at=None)

    assert selectors.calls_matching(caller_number=CALLER, callee_number=CALLEE) == []

    recent = placed_call(campaign, days_ago=89.9)
    assert [m.call for m in selectors.calls_matching(caller_number=CALLER, callee_number=CALLEE)] == [recent]


def test_several_calls_of_one_campaign_are_one_match_with_the_latest_call(user, campaign):
    placed_call(campaign, days_ago=5)
    latest = placed_call(campaign, days_ago=1)

    (match,) = selectors.calls_matching(caller_number=CALLER, callee_number=CALLEE)

    assert (match.call, match.calls) == (latest, 2)


def test_a_campaign_without_a_purpose_says_nothing_rather_than_something_made_up(user, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(purpose="")
    placed_call(campaign)

    (match,) = selectors.calls_matching(caller_number=CALLER, callee_number=CALLEE)
    assert match.purpose == ""


# --- Opting out: at once, for the dialer too --------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_stopping_the_business_cancels_its_queued_call_to_that_number_before_dialling(user):
    topup(user)
    campaign = make_campaign(user, [CALLEE, OTHER], concurrency=2)
    earlier = placed_call(make_campaign(user, [CALLEE]), days_ago=3)
    lifecycle.campaign_launch(campaign=campaign, by=user)
    claimed = {Call.objects.get(pk=pk).to_number: pk for pk in dialer._claim_calls(campaign.pk)}
    django_rq.get_queue("simulator").empty()

    services.callee_opt_out(call=earlier, everyone=False)
    for call_id in claimed.values():
        dialer.call_place(call_id)

    assert Call.objects.get(pk=claimed[CALLEE]).status == Call.Status.CANCELED
    assert Call.objects.get(pk=claimed[OTHER]).status == Call.Status.DIALING
    assert django_rq.get_queue("simulator").count == 1
    entry = DoNotCall.objects.get(phone_number=CALLEE)
    assert entry.workspace_id == user.personal_workspace.pk


@pytest.mark.django_db(transaction=True)
def test_stopping_everyone_stops_other_businesses_too(user):
    other = User.objects.create_user(email="other@example.com", password="x", company_name="Other Co")
    topup(user)
    topup(other, "5001")  # another amount: the top-up's ledger reference is unique
    earlier = placed_call(make_campaign(user, [CALLEE]), days_ago=3)
    theirs = make_campaign(other, [CALLEE, OTHER], concurrency=2)
    pending_elsewhere = make_campaign(other, [CALLEE])
    lifecycle.campaign_launch(campaign=theirs, by=other)
    lifecycle.campaign_launch(campaign=pending_elsewhere, by=other)
    claimed = {Call.objects.get(pk=pk).to_number: pk for pk in dialer._claim_calls(theirs.pk)}
    django_rq.get_queue("simulator").empty()

    services.callee_opt_out(call=earlier, everyone=True)
    for call_id in claimed.values():
        dialer.call_place(call_id)

    assert Call.objects.get(pk=claimed[CALLEE]).status == Call.Status.CANCELED
    assert Call.objects.get(pk=claimed[OTHER]).status == Call.Status.DIALING
    # Still waiting in another campaign of another business: skipped at once, never claimed.
    assert CampaignContact.objects.get(campaign=pending_elsewhere).status == CampaignContact.Status.SKIPPED
    assert DoNotCall.objects.get(phone_number=CALLEE).workspace_id is None


def test_opting_out_twice_is_harmless(user, campaign):
    call = placed_call(campaign)
    services.callee_opt_out(call=call, everyone=False)
    services.callee_opt_out(call=call, everyone=False)
    services.callee_opt_out(call=call, everyone=True)
    services.callee_opt_out(call=call, everyone=True)

    assert DoNotCall.objects.filter(phone_number=CALLEE).count() == 2


def test_the_business_that_called_hears_of_the_opt_out_once(user, campaign):
    """contact.opted_out reaches the calling workspace's webhooks and HubSpot, whichever list."""
    heard = []

    def listen(event, **_):
        heard.append((event.type, event.workspace_id, event.data["phone_number"], event.data["call_id"]))

    events.happened.connect(listen)
    try:
        call = placed_call(campaign)
        services.callee_opt_out(call=call, everyone=False)
        services.callee_opt_out(call=call, everyone=False)  # already on the list: no second event
        services.callee_opt_out(call=call, everyone=True)
    finally:
        events.happened.disconnect(listen)

    workspace_id = campaign.workspace_id
    assert heard == [(events.CONTACT_OPTED_OUT, workspace_id, CALLEE, call.pk)] * 2


# --- Reports ---------------------------------------------------------------------------------
def test_a_report_keeps_the_reporters_words_but_not_their_number(user, campaign):
    call = placed_call(campaign)

    report = services.report_submit(call=call, reason="scam", text="  They asked for my bank details. ")

    assert (report.workspace, report.campaign, report.reason, report.text) == (
        campaign.workspace,
        campaign,
        "scam",
        "They asked for my bank details.",
    )
    assert report.status == Report.Status.OPEN
    assert CALLEE not in report.reporter_digest and CALLEE[2:] not in report.reporter_digest
    assert report.reporter_masked == "+1••••••••99"
    assert report.reporter_digest == services.number_digest(CALLEE)


def test_a_call_is_reported_once(user, campaign):
    call = placed_call(campaign)
    services.report_submit(call=call, reason="spam")

    with pytest.raises(SafetyError, match="already reported"):
        services.report_submit(call=call, reason="harassment")
    assert Report.objects.count() == 1


def test_a_report_needs_a_reason_and_other_needs_words(user, campaign):
    call = placed_call(campaign)
    with pytest.raises(SafetyError, match="what was wrong"):
        services.report_submit(call=call, reason="")
    with pytest.raises(SafetyError, match="in a few words"):
        services.report_submit(call=call, reason="other", text="   ")
    assert Report.objects.count() == 0


def running(user, numbers):
    topup(user)
    campaign = make_campaign(user, numbers)
    lifecycle.campaign_launch(campaign=campaign, by=user)
    return campaign


def test_enough_reports_from_different_people_pause_and_flag_the_campaign(user, settings):
    settings.SAFETY_REPORTS_TO_PAUSE, settings.SAFETY_REPORT_WINDOW_HOURS = 3, 24
    numbers = [f"+1415555017{n}" for n in range(3)]
    campaign = running(user, numbers)
    calls = [placed_call(campaign, to=n, days_ago=0.1) for n in numbers]

    services.report_submit(call=calls[0], reason="spam")
    services.report_submit(call=calls[1], reason="harassment")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and campaign.flag_reason == ""

    services.report_submit(call=calls[2], reason="scam")

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "3 people reported calls of this campaign as unwanted within 24 hours" in campaign.status_reason
    assert campaign.flagged_at is not None and campaign.flag_reason.startswith("Callee reports: 3 people")


def test_reports_outside_the_window_or_already_resolved_do_not_count(user, settings, admin_user):
    settings.SAFETY_REPORTS_TO_PAUSE, settings.SAFETY_REPORT_WINDOW_HOURS = 2, 24
    numbers = ["+14155550170", "+14155550171", "+14155550172"]
    campaign = running(user, numbers)
    calls = [placed_call(campaign, to=n, days_ago=0.1) for n in numbers]
    old = services.report_submit(call=calls[0], reason="spam")
    Report.objects.filter(pk=old.pk).update(created_at=timezone.now() - timezone.timedelta(hours=25))
    dismissed = services.report_submit(call=calls[1], reason="spam")
    services.reports_resolve(report_ids=[dismissed.pk], decision="dismissed", note="A real customer.", by=admin_user)

    services.report_submit(call=calls[2], reason="spam")

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


def test_one_person_reporting_several_calls_counts_once(user, settings):
    settings.SAFETY_REPORTS_TO_PAUSE = 2
    campaign = running(user, [CALLEE])
    for days in (0.1, 0.2):
        services.report_submit(call=placed_call(campaign, days_ago=days), reason="spam")

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


# --- Staff decide ----------------------------------------------------------------------------
def reported(user, campaign) -> Report:
    return services.report_submit(call=placed_call(campaign), reason="harassment", text="He would not stop.")


@pytest.mark.parametrize(
    ("decision", "subject", "says"),
    [
        ("dismissed", "no action", "Decision: no action."),
        ("warned", "A warning about your calls", "Decision: a warning."),
        ("suspended", "Your workspace is suspended", "Decision: your workspace is suspended."),
    ],
)
def test_each_decision_is_emailed_to_the_owners_in_text_and_html(
    user, campaign, admin_user, decision, subject, says, django_capture_on_commit_callbacks, run_jobs
):
    report = reported(user, campaign)
    Campaign.objects.filter(pk=campaign.pk).update(flagged_at=timezone.now(), flag_reason="Callee reports: 3 people")

    with django_capture_on_commit_callbacks(execute=True):
        count = services.reports_resolve(
            report_ids=[report.pk], decision=decision, note="Calls without consent.", by=admin_user
        )
    run_jobs()

    assert count == 1
    report.refresh_from_db()
    assert (report.status, report.resolution_note) == (decision, "Calls without consent.")
    assert report.resolved_by == admin_user
    (email,) = mail.outbox
    assert email.to == ["owner@example.com"] and subject in email.subject
    assert says in email.body and "Calls without consent." in email.body and "He would not stop." in email.body
    html, kind = email.alternatives[0]
    assert kind == "text/html" and says.replace("Decision: ", "") in html and "Calls without consent." in html
    # Listed on the owner's notices page (a suspended workspace's owner sees it there once reactivated).
    assert Notice.objects.get(user=user, kind="report_decision").subject == email.subject
    campaign.refresh_from_db()
    assert campaign.flag_reason == ""  # reviewed
    workspace = Workspace.objects.get(pk=campaign.workspace_id)
    assert workspace.status == ("suspended" if decision == "suspended" else "active")
    assert workspace.events.filter(action=f"report.{decision}").exists()


def test_suspending_pauses_the_running_campaigns_through_the_account_rules(user, admin_user):
    campaign = running(user, [CALLEE, OTHER])
    report = reported(user, campaign)

    services.reports_resolve(report_ids=[report.pk], decision="suspended", note="Scam calls.", by=admin_user)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.pause_kind == Campaign.PauseKind.ACCOUNT
    assert user.personal_workspace.status_changes.get().reason == "After reports of its calls: Scam calls."


def test_a_decision_needs_a_reason_and_resolved_reports_stay_as_they_are(user, campaign, admin_user):
    report = reported(user, campaign)
    with pytest.raises(SafetyError, match="Give a reason"):
        services.reports_resolve(report_ids=[report.pk], decision="warned", note="  ", by=admin_user)
    services.reports_resolve(report_ids=[report.pk], decision="dismissed", note="Fine.", by=admin_user)

    assert services.reports_resolve(report_ids=[report.pk], decision="suspended", note="Again", by=admin_user) == 0
    report.refresh_from_db()
    assert report.status == "dismissed"
    assert Workspace.objects.get(pk=campaign.workspace_id).status == "active"


def test_one_email_per_workspace_for_several_reports(user, admin_user, django_capture_on_commit_callbacks, run_jobs):
    campaign = make_campaign(user, [CALLEE, OTHER])
    reports = [
        services.report_submit(call=placed_call(campaign, to=n), reason="spam", text=f"About {n}")
        for n in (CALLEE, OTHER)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        services.reports_resolve(
            report_ids=[r.pk for r in reports], decision="warned", note="Check consent.", by=admin_user
        )
    run_jobs()

    assert len(mail.outbox) == 1 and "reported 2 calls" in mail.outbox[0].body
    assert Notice.objects.filter(user=user, kind="report_decision").count() == 1


def test_a_purged_workspace_loses_its_reports_but_another_keeps_its_own(user, campaign):
    from accounts.services import workspace_purge

    other = User.objects.create_user(email="other@example.com", password="x")
    kept = services.report_submit(call=placed_call(make_campaign(other, [OTHER]), to=OTHER), reason="spam")
    services.report_submit(call=placed_call(campaign), reason="scam", text="My words.")

    workspace_purge(workspace_id=campaign.workspace_id)

    assert list(Report.objects.all()) == [kept]
