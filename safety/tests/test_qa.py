"""The QA review queue: which calls wait for staff review (a sample, and every call that went
wrong for the callee), one review per call however often its end is told, and what staff's
verdicts lead to (a violation flags, emails, and enough of them suspend the workspace)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Workspace, WorkspaceEvent
from campaigns.calls.services import call_finish
from campaigns.models import Call, CallTurn, Campaign
from campaigns.tests.factories import make_campaign
from clozit import events
from notices.models import Notice
from safety import qa, services
from safety.errors import SafetyError
from safety.models import QAReview

from .helpers import CALLEE, placed_call

pytestmark = pytest.mark.django_db

QUEUE = "/admin/safety/qareview/"


@pytest.fixture(autouse=True)
def no_sample(settings):
    # Only the must-review reasons, unless a test samples.
    settings.QA_SAMPLE_RATE = 0
    settings.QA_VIOLATIONS_TO_SUSPEND = 3
    settings.QA_VIOLATION_WINDOW_DAYS = 30


@pytest.fixture
def campaign(user):
    return make_campaign(user, [CALLEE])


def live_call(campaign, *, answered=True, outcome="", answered_by="human") -> Call:
    """A call in progress, as the carrier and the engine leave it before its end."""
    call = placed_call(campaign, days_ago=0, status=Call.Status.IN_PROGRESS if answered else Call.Status.RINGING)
    Call.objects.filter(pk=call.pk).update(
        answered_at=timezone.now() if answered else None,
        answered_by=answered_by if answered else "",
        outcome=outcome,
        recording_url="simulated://CA1?seconds=2" if answered else "",
        recording_seconds=2 if answered else 0,
    )
    return call


def end(call, status=Call.Status.COMPLETED, seconds=40) -> Call:
    assert call_finish(call_id=call.pk, status=status, duration_seconds=seconds)
    call.refresh_from_db()
    return call


def reasons(call) -> list[str]:
    return QAReview.objects.get(call=call).reasons


# --- What is queued ------------------------------------------------------------------------------


def answered_calls(campaign, count) -> list[int]:
    now = timezone.now()
    made = Call.objects.bulk_create(
        Call(
            workspace=campaign.workspace,
            campaign=campaign,
            to_number=CALLEE,
            from_number=campaign.caller_number,
            provider="simulated",
            status=Call.Status.COMPLETED,
            answered_at=now,
            answered_by="human",
            outcome="interested",
            duration_seconds=60,
        )
        for _ in range(count)
    )
    return [c.pk for c in made]


def completed_events(call_ids):
    for call_id in call_ids:
        events.publish(type=events.CALL_COMPLETED, workspace_id=1, call_id=call_id)


def test_the_sample_is_exactly_the_calls_whose_hash_falls_under_the_rate(campaign, settings):
    settings.QA_SAMPLE_RATE = 0.25
    ids = answered_calls(campaign, 400)
    completed_events(ids)

    sampled = set(QAReview.objects.filter(reasons__contains=["sample"]).values_list("call_id", flat=True))
    assert sampled == {pk for pk in ids if qa.sample_point(pk) < 0.25}
    # About a quarter: the hash spreads ids evenly (over 4 standard deviations either side).
    assert 60 <= len(sampled) <= 140
    # The same calls every time: replaying the events samples nothing new.
    completed_events(ids)
    assert QAReview.objects.count() == len(sampled)


def test_rate_zero_samples_none_and_rate_one_samples_every_answered_call(campaign, settings):
    ids = answered_calls(campaign, 50)
    completed_events(ids)
    assert not QAReview.objects.exists()

    settings.QA_SAMPLE_RATE = 1
    completed_events(ids)
    assert set(QAReview.objects.values_list("call_id", flat=True)) == set(ids)


def test_machines_and_unanswered_calls_are_not_sampled(campaign, settings):
    settings.QA_SAMPLE_RATE = 1
    voicemail = end(live_call(campaign, answered_by="machine"))
    rang_out = end(live_call(campaign, answered=False), status=Call.Status.NO_ANSWER, seconds=0)
    person = end(live_call(campaign))
    assert list(QAReview.objects.values_list("call_id", flat=True)) == [person.pk]
    assert reasons(person) == ["sample"]
    assert voicemail.pk and rang_out.pk


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [("do_not_call", "opt_out"), ("transferred", "transfer"), ("technical_failure", "technical_failure")],
)
def test_every_call_with_an_opt_out_a_transfer_or_a_technical_failure_is_queued(campaign, outcome, reason):
    call = end(live_call(campaign, outcome=outcome))
    review = QAReview.objects.get()
    assert review.call == call and review.reasons == [reason] and review.status == "open"
    assert review.workspace_id == campaign.workspace_id and review.campaign == campaign


def test_a_callee_who_asked_for_a_person_is_queued_even_when_the_agent_could_not_transfer(campaign):
    asked = live_call(campaign, outcome="call_back")  # no transfer number: a colleague will call back
    said = {"speaker": CallTurn.Speaker.CALLEE, "sequence": 99}  # after whatever the call already holds
    CallTurn.objects.create(call=asked, text="Can I talk to a real person?", **said)
    other = live_call(campaign, outcome="call_back")
    CallTurn.objects.create(call=other, text="Call me back tomorrow.", **said)

    assert reasons(end(asked)) == ["transfer"]
    assert not QAReview.objects.filter(call=end(other)).exists()


def test_a_call_that_broke_after_the_answer_is_queued_but_a_carrier_refusal_is_not(campaign):
    broke = end(live_call(campaign), status=Call.Status.FAILED, seconds=0)
    refused = end(live_call(campaign, answered=False), status=Call.Status.FAILED, seconds=0)
    assert reasons(broke) == ["technical_failure"]
    assert not QAReview.objects.filter(call=refused).exists()


def test_a_fine_answered_call_outside_the_sample_is_not_queued(campaign):
    end(live_call(campaign, outcome="interested"))
    assert not QAReview.objects.exists()


def test_a_reported_call_is_queued_as_a_complaint_even_long_after_it_ended(campaign):
    call = end(live_call(campaign, outcome="not_interested"))
    assert not QAReview.objects.exists()
    services.report_submit(call=call, reason="harassment", text="They kept talking over me.")
    assert reasons(call) == ["complaint"]


def test_an_opt_out_on_the_who_called_me_page_queues_the_call(campaign):
    call = end(live_call(campaign, outcome="not_interested"))
    services.callee_opt_out(call=call, everyone=False)
    assert reasons(call) == ["opt_out"]


def test_one_review_per_call_when_its_end_is_replayed_or_reasons_add_up(campaign, settings):
    settings.QA_SAMPLE_RATE = 1
    call = end(live_call(campaign, outcome="do_not_call"))
    for _ in range(3):
        events.publish(type=events.CALL_COMPLETED, workspace_id=campaign.workspace_id, call_id=call.pk)
    services.report_submit(call=call, reason="spam")
    services.callee_opt_out(call=call, everyone=True)
    assert QAReview.objects.count() == 1
    assert reasons(call) == ["sample", "opt_out", "complaint"]


def test_a_complaint_reopens_a_review_already_judged_fine(campaign, admin_user):
    call = end(live_call(campaign, outcome="transferred"))
    review = QAReview.objects.get()
    qa.qa_reviews_mark(review_ids=[review.pk], verdict="fine", notes="", by=admin_user)
    services.report_submit(call=call, reason="scam", text="Asked for my bank details.")
    review.refresh_from_db()
    assert review.status == "open" and review.verdict == "fine" and review.reasons == ["transfer", "complaint"]


# --- Verdicts ------------------------------------------------------------------------------------


def queued(campaign, count=1) -> list[QAReview]:
    for _ in range(count):
        end(live_call(campaign, outcome="do_not_call"))
    return list(QAReview.objects.order_by("pk"))


def test_fine_and_coaching_are_kept_with_the_call_and_change_nothing_else(campaign, admin_user):
    fine, coaching = queued(campaign, 2)
    assert qa.qa_reviews_mark(review_ids=[fine.pk], verdict="fine", notes="", by=admin_user) == 1
    with pytest.raises(SafetyError, match="Write what was wrong"):
        qa.qa_reviews_mark(review_ids=[coaching.pk], verdict="coaching", notes=" ", by=admin_user)
    qa.qa_reviews_mark(review_ids=[coaching.pk], verdict="coaching", notes="Talked over the callee.", by=admin_user)

    fine.refresh_from_db()
    coaching.refresh_from_db()
    assert (fine.status, fine.verdict, fine.reviewed_by) == ("reviewed", "fine", admin_user)
    assert (coaching.verdict, coaching.notes) == ("coaching", "Talked over the callee.")
    campaign.refresh_from_db()
    assert campaign.flag_reason == "" and not mail.outbox
    assert Workspace.objects.get(pk=campaign.workspace_id).status == "active"
    with pytest.raises(SafetyError):
        qa.qa_reviews_mark(review_ids=[fine.pk], verdict="suspend", notes="x", by=admin_user)


def test_a_violation_flags_the_campaign_and_emails_the_owners(
    campaign, admin_user, user, django_capture_on_commit_callbacks, run_jobs
):
    (review,) = queued(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        qa.qa_reviews_mark(
            review_ids=[review.pk], verdict="violation", notes="Claimed to be the callee's bank.", by=admin_user
        )
    run_jobs()

    campaign.refresh_from_db()
    assert campaign.flag_reason == "QA violation: Claimed to be the callee's bank." and campaign.flagged_at
    assert WorkspaceEvent.objects.filter(workspace=campaign.workspace, action="qa.violation").exists()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email] and "breach of our terms" in message.subject
    assert "Claimed to be the callee's bank." in message.body and "Further violations" in message.body
    assert Notice.objects.get(user=user, kind="qa_violation").subject == message.subject  # on the notices page
    assert Workspace.objects.get(pk=campaign.workspace_id).status == "active"


def test_enough_violations_within_the_window_suspend_the_workspace(
    campaign, admin_user, user, django_capture_on_commit_callbacks, run_jobs
):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    old, first, second, third = queued(campaign, 4)
    qa.qa_reviews_mark(review_ids=[old.pk], verdict="violation", notes="Rude.", by=admin_user)
    QAReview.objects.filter(pk=old.pk).update(reviewed_at=timezone.now() - timedelta(days=31))
    qa.qa_reviews_mark(review_ids=[first.pk], verdict="violation", notes="Rude.", by=admin_user)
    # Marking the same call a violation again does not count it twice.
    qa.qa_reviews_mark(review_ids=[first.pk], verdict="violation", notes="Rude.", by=admin_user)
    qa.qa_reviews_mark(review_ids=[second.pk], verdict="violation", notes="Rude again.", by=admin_user)
    workspace = Workspace.objects.get(pk=campaign.workspace_id)
    assert workspace.status == "active"  # two within 30 days (the first is older)

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        qa.qa_reviews_mark(review_ids=[third.pk], verdict="violation", notes="Threatened the callee.", by=admin_user)
    run_jobs()

    workspace.refresh_from_db()
    assert workspace.status == "suspended"
    assert workspace.status_reason.startswith("3 calls reviewed as violations of our terms within 30 days")
    assert "Threatened the callee." in workspace.status_reason
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.pause_kind == Campaign.PauseKind.ACCOUNT
    assert len(mail.outbox) == 1 and "suspended" in mail.outbox[0].subject
    assert mail.outbox[0].to == [user.email] and "Threatened the callee." in mail.outbox[0].body
    # One notice per violation marked (the older one too; the repeated one not), and no separate
    # "workspace suspended" one.
    assert list(Notice.objects.filter(user=user).values_list("kind", flat=True)) == ["qa_violation"] * 4


# --- In admin ------------------------------------------------------------------------------------


def test_staff_review_a_call_with_its_transcript_and_recording_and_mark_it(
    admin_client, campaign, django_capture_on_commit_callbacks, run_jobs
):
    call = end(live_call(campaign, outcome="do_not_call"))
    review = QAReview.objects.get()

    listing = admin_client.get(QUEUE).content.decode()
    assert f">{call.pk}</a>" in listing and "Opt-out" in listing

    page = admin_client.get(reverse("admin:safety_qareview_change", args=[review.pk])).content.decode()
    assert "Hi, this is Riley from Acme." in page and "Stop calling me." in page
    recording = reverse("admin:safety_qareview_recording", args=[review.pk])
    assert recording in page
    audio = admin_client.get(recording)
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"

    chosen = {"action": "mark_violation", "_selected_action": [review.pk]}
    asked = admin_client.post(QUEUE, chosen).content.decode()
    assert "Violation: notes" in asked
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(QUEUE, {**chosen, "apply": "Confirm", "notes": "Ignored the callee's request to stop."})
    run_jobs()
    review.refresh_from_db()
    assert review.verdict == "violation" and review.notes == "Ignored the callee's request to stop."
    assert len(mail.outbox) == 1
    # Reviewed: it leaves the queue of reviews to do.
    assert f">{call.pk}</a>" not in admin_client.get(QUEUE).content.decode()


def test_the_recording_is_for_staff_only(client, user, campaign):
    end(live_call(campaign, outcome="do_not_call"))
    review = QAReview.objects.get()
    client.force_login(user)
    response = client.get(reverse("admin:safety_qareview_recording", args=[review.pk]))
    assert response.status_code in (302, 404)


def test_a_purged_workspace_loses_its_reviews_but_another_keeps_its_own(user, campaign, admin_user):
    from accounts.models import User
    from accounts.services import workspace_purge

    other = User.objects.create_user(email="other@example.com", password="x")
    kept_call = end(live_call(make_campaign(other, [CALLEE]), outcome="do_not_call"))
    (mine,) = [r for r in queued(campaign) if r.call_id != kept_call.pk]
    qa.qa_reviews_mark(review_ids=[mine.pk], verdict="coaching", notes="The callee said her name twice.", by=admin_user)

    workspace_purge(workspace_id=campaign.workspace_id)

    assert list(QAReview.objects.values_list("call_id", flat=True)) == [kept_call.pk]


@pytest.fixture
def live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


@pytest.mark.django_db(transaction=True)
def test_a_simulated_campaign_queues_its_opt_out_for_review(live, user, run_jobs):
    from decimal import Decimal

    from billing import ledger
    from campaigns.lifecycle import services as lifecycle

    interested, stop, fails = "+12025550101", "+12025550141", "+12025550196"
    campaign = make_campaign(user, [interested, stop, fails], concurrency=3)
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("500"), kind="staff_adjustment", reference="test-topup"
    )
    lifecycle.campaign_launch(campaign=campaign, by=user)
    run_jobs()

    review = QAReview.objects.get()  # the sample rate is 0; the carrier's refusal has no conversation
    assert review.call.to_number == stop and review.reasons == ["opt_out"] and review.status == "open"


def test_staff_mark_one_review_from_its_page_and_go_on_to_the_next(admin_client, campaign):
    first, second = queued(campaign, 2)
    page = admin_client.get(reverse("admin:safety_qareview_change", args=[first.pk])).content.decode()
    coaching = reverse("admin:safety_qareview_mark", args=[first.pk, "coaching"])
    assert coaching in page

    assert "Coaching: notes" in admin_client.get(coaching).content.decode()
    refused = admin_client.post(coaching, {"notes": ""}, follow=True).content.decode()
    assert "Write what was wrong" in refused
    first.refresh_from_db()
    assert first.status == "open"

    response = admin_client.post(coaching, {"notes": "Read the price twice."})
    assert response.url == reverse("admin:safety_qareview_change", args=[second.pk])
    first.refresh_from_db()
    assert (first.status, first.verdict, first.notes) == ("reviewed", "coaching", "Read the price twice.")
    assert admin_client.get(reverse("admin:safety_qareview_mark", args=[first.pk, "suspend"])).status_code == 404
