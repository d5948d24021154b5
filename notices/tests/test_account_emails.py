"""Each account email is made once per event, listed as a notice, and emailed with a text and an
HTML part (through the RQ job, as in production): replays tell nobody twice."""

from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User, Workspace
from accounts.services import account_set_status, workspace_set_status
from billing import ledger
from billing.low_balance import low_balance_threshold_set
from billing.models import CreditPackage, LedgerEntry, Purchase
from billing.purchases import paddle_event_apply, paddle_event_record
from billing.refunds import paddle_refund_declined, refund_request_approve, refund_request_create, refund_request_reject
from campaigns.lifecycle.services import campaign_pause, campaign_resume
from campaigns.models import Call, Campaign
from campaigns.tests.factories import make_campaign
from clozit import events
from notices import kinds as kinds_module
from notices.models import Notice

pytestmark = pytest.mark.django_db


def emails_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


def html_of(message) -> str:
    (html, mime), *_ = message.alternatives
    assert mime == "text/html"
    return html


def only_email(address: str):
    (message,) = emails_to(address)
    assert message.body and html_of(message)
    return message


# --- Suspension, termination, reactivation -------------------------------------------------------
def test_a_suspended_workspace_tells_its_owners_why_and_how_to_appeal_once(team, deliver, settings):
    workspace = team["owner"].personal_workspace
    deliver(
        lambda: workspace_set_status(
            workspace=workspace, status=Workspace.Status.SUSPENDED, reason="Calls without consent", by=None
        )
    )

    message = only_email("owner@example.com")
    assert message.subject == f"[Clozit] Your workspace {workspace.name} is suspended"
    assert "Why: Calls without consent" in message.body
    assert settings.SUPPORT_EMAIL in message.body and "appeal" in message.body
    assert "Calls without consent" in html_of(message)
    assert not emails_to("admin@example.com") and not emails_to("member@example.com")  # owners only

    # The same status and reason again (a staff double click) tells nobody twice.
    deliver(
        lambda: workspace_set_status(
            workspace=workspace, status=Workspace.Status.SUSPENDED, reason="Calls without consent", by=None
        )
    )
    assert len(emails_to("owner@example.com")) == 1

    deliver(lambda: workspace_set_status(workspace=workspace, status=Workspace.Status.ACTIVE, reason="Fixed", by=None))
    reactivated = emails_to("owner@example.com")[-1]
    assert reactivated.subject == f"[Clozit] Your workspace {workspace.name} is active again"
    assert "stay paused until someone resumes them" in reactivated.body


def test_a_suspended_person_is_told_once_about_their_account_and_its_workspace(user, deliver):
    deliver(lambda: account_set_status(user=user, status=User.Status.SUSPENDED, reason="Spam reports", by=None))

    message = only_email("owner@example.com")  # one email, though the solo workspace is suspended too
    assert message.subject == "[Clozit] Your Clozit account is suspended"
    assert "Why: Spam reports" in message.body
    assert user.personal_workspace.name in message.body and "reply to this email" in message.body


def test_a_terminated_person_is_told_they_cannot_sign_in_and_how_to_appeal(user, deliver):
    deliver(
        lambda: account_set_status(
            user=user, status=User.Status.TERMINATED, reason="Robocalls", by=None, forfeit_credits=True
        )
    )

    message = only_email("owner@example.com")
    assert message.subject == "[Clozit] Your Clozit account is terminated"
    assert "You can no longer sign in" in message.body and "Why: Robocalls" in message.body
    assert "100 unused credits were forfeited" in message.body
    assert "appeal" in message.body


def test_plain_text_is_not_html_escaped(user, deliver):
    Workspace.objects.filter(pk=user.personal_workspace.pk).update(name="Bob's & Co")
    workspace = Workspace.objects.get(pk=user.personal_workspace.pk)
    deliver(
        lambda: workspace_set_status(workspace=workspace, status=Workspace.Status.SUSPENDED, reason="A <b>", by=None)
    )
    message = only_email("owner@example.com")
    assert "Bob's & Co" in message.subject and "Why: A <b>" in message.body
    assert "Bob&#x27;s &amp; Co" in html_of(message) and "A &lt;b&gt;" in html_of(message)


# --- Campaigns ------------------------------------------------------------------------------------
def running(campaign: Campaign) -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    campaign.refresh_from_db()
    return campaign


def a_call(campaign: Campaign) -> Call:
    return Call.objects.create(
        workspace=campaign.workspace,
        campaign=campaign,
        to_number="+14155550111",
        from_number="+14155550000",
        provider="simulated",
        status=Call.Status.COMPLETED,
    )


def test_a_campaign_paused_by_the_rules_tells_owners_and_admins_once_per_pause(team, deliver):
    campaign = running(make_campaign(team["owner"], ["+14155550111"]))
    reason = "Paused: not enough credits for the next call. Add credits: the campaign resumes by itself."
    deliver(lambda: campaign_pause(campaign=campaign, reason=reason, kind=Campaign.PauseKind.CREDITS))

    for address in ("owner@example.com", "admin@example.com"):
        message = only_email(address)
        assert message.subject == '[Clozit] Campaign "Spring outreach" was paused'
        assert f"Why: {reason}" in message.body and "Add credits on the Credits page" in message.body
    assert not emails_to("member@example.com") and not emails_to("billing@example.com")

    # The same pause reported again (a duplicated event) is told once.
    deliver(
        lambda: events.publish(
            type=events.CAMPAIGN_PAUSED,
            workspace_id=campaign.workspace_id,
            campaign_id=campaign.pk,
            reason=reason,
            kind=Campaign.PauseKind.CREDITS,
        )
    )
    assert len(emails_to("owner@example.com")) == 1

    # Resumed, calls again, and runs out again: a second pause, told again.
    campaign_resume(campaign=campaign)
    a_call(campaign)
    deliver(lambda: campaign_pause(campaign=campaign, reason=reason, kind=Campaign.PauseKind.CREDITS))
    assert len(emails_to("owner@example.com")) == 2
    assert Notice.objects.filter(user=team["owner"], kind="campaign_paused").count() == 2


def test_a_pause_by_a_person_or_by_the_accounts_suspension_sends_no_campaign_email(user, deliver):
    campaign = running(make_campaign(user, ["+14155550111"]))
    deliver(lambda: campaign_pause(campaign=campaign))  # the Pause button
    assert not Notice.objects.filter(kind="campaign_paused").exists()

    campaign_resume(campaign=campaign)
    deliver(lambda: account_set_status(user=user, status=User.Status.SUSPENDED, reason="Review", by=None))
    assert not Notice.objects.filter(kind="campaign_paused").exists()
    assert [m.subject for m in mail.outbox] == ["[Clozit] Your Clozit account is suspended"]


def test_a_completed_campaign_is_told_once(team, deliver):
    from campaigns.dialing.dialer import _complete_if_done

    campaign = running(make_campaign(team["owner"], ["+14155550111"]))
    deliver(lambda: _complete_if_done(campaign.pk))
    deliver(
        lambda: events.publish(
            type=events.CAMPAIGN_COMPLETED, workspace_id=campaign.workspace_id, campaign_id=campaign.pk
        )
    )
    message = only_email("owner@example.com")
    assert message.subject == '[Clozit] Campaign "Spring outreach" has finished'
    assert f"/campaigns/{campaign.pk}/" in message.body
    # Its own HTML, rendered with the notice's context.
    assert f'data-campaign="{campaign.pk}">See the results of “Spring outreach”</a>' in html_of(message)
    assert len(emails_to("admin@example.com")) == 1


# --- Low balance ----------------------------------------------------------------------------------
def spend(workspace, amount, reference):
    ledger.credit_post(workspace=workspace, amount=Decimal(-amount), kind="call_usage", reference=reference)


def test_low_balance_is_told_once_per_crossing_at_the_accounts_own_threshold(team, deliver):
    workspace = team["owner"].personal_workspace  # 100 starter credits
    low_balance_threshold_set(workspace=workspace, credits=Decimal(50), by=team["owner"])

    deliver(lambda: spend(workspace, 40, "c1"))  # 60: above
    assert not mail.outbox
    deliver(lambda: spend(workspace, 20, "c2"))  # 40: crossed
    deliver(lambda: spend(workspace, 10, "c3"))  # 30: still below
    deliver(lambda: spend(workspace, 10, "c2"))  # a replayed posting: nothing
    message = only_email("owner@example.com")
    assert message.subject == f"[Clozit] Credits running low in {workspace.name}"
    assert "fallen to 40 credits, below the 50 credits" in message.body
    assert len(emails_to("billing@example.com")) == 1
    assert not emails_to("admin@example.com")

    deliver(lambda: ledger.credit_post(workspace=workspace, amount=Decimal(100), kind="purchase", reference="top"))
    deliver(lambda: spend(workspace, 90, "c4"))  # 130 → 40: crossed again
    assert len(emails_to("owner@example.com")) == 2


def test_the_default_threshold_applies_when_the_account_set_none(user, deliver, settings):
    settings.LOW_BALANCE_DEFAULT_CREDITS = 80
    deliver(lambda: spend(user.personal_workspace, 30, "c1"))  # 100 → 70
    assert "below the 80 credits" in only_email("owner@example.com").body


def test_low_balance_emails_can_be_turned_off_and_the_notice_is_still_listed(user, deliver):
    from notices.services import notice_preferences_set

    notice_preferences_set(user=user, turned_off={"low_balance"})
    deliver(lambda: spend(user.personal_workspace, 60, "c1"))  # 100 → 40, below the default 600? already below
    settings_default = Notice.objects.filter(kind="low_balance")
    assert not settings_default.exists()  # 100 was already below the default 600: no crossing

    low_balance_threshold_set(workspace=user.personal_workspace, credits=Decimal(30), by=user)
    deliver(lambda: spend(user.personal_workspace, 20, "c2"))  # 40 → 20: crossed
    notice = Notice.objects.get(kind="low_balance")
    assert notice.email_note == "turned off" and notice.emailed_at is None
    assert not mail.outbox


# --- Money: chargebacks, refunds, numbers --------------------------------------------------------
def paid_purchase(workspace, *, txn="txn_01", test_mode=False) -> Purchase:
    package, _ = CreditPackage.objects.get_or_create(name="Starter", credits=500, price=Decimal("10.00"))
    purchase = Purchase.objects.create(
        workspace=workspace,
        package=package,
        paddle_transaction_id=txn,
        credits=Decimal(500),
        total=Decimal("10.00"),
        currency="USD",
        status=Purchase.Status.COMPLETED,
        completed_at=timezone.now(),
        test_mode=test_mode,
    )
    ledger.credit_post(
        workspace=workspace, amount=Decimal(500), kind=LedgerEntry.Kind.PURCHASE, reference=f"paddle:{txn}"
    )
    return purchase


def adjustment_event(event_id: str, event_type: str = "adjustment.created") -> dict:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": "2026-11-24T08:00:00Z",
        "data": {"id": "adj_cb", "action": "chargeback", "status": "approved", "transaction_id": "txn_01"},
    }


def test_a_chargeback_tells_owners_and_billing_once_however_often_paddle_reports_it(team, deliver):
    workspace = team["owner"].personal_workspace
    paid_purchase(workspace)
    for event_id, event_type in [("evt_1", "adjustment.created"), ("evt_2", "adjustment.updated"), ("evt_1", "")]:
        payload = adjustment_event(event_id, event_type or "adjustment.created")
        deliver(lambda payload=payload: paddle_event_apply(event_id=paddle_event_record(payload=payload)[0].event_id))

    chargebacks = [m for m in emails_to("owner@example.com") if "chargeback" in m.subject]
    assert len(chargebacks) == 1
    assert chargebacks[0].subject == "[Clozit] A chargeback was filed for payment txn_01"
    assert "taken back: 500 credits" in chargebacks[0].body and "reply to this email" in chargebacks[0].body
    assert len([m for m in emails_to("billing@example.com") if "chargeback" in m.subject]) == 1
    # The suspension that comes with it is told to the owners too, with its reason.
    assert any("is suspended" in m.subject and "chargeback" in m.body for m in emails_to("owner@example.com"))


def test_refund_requests_are_told_when_received_and_when_decided(team, deliver):
    workspace = team["owner"].personal_workspace
    purchase = paid_purchase(workspace, test_mode=True)
    request = deliver(
        lambda: refund_request_create(workspace=workspace, purchase=purchase, reason="Bought twice", by=team["billing"])
    )
    received = only_email("billing@example.com")
    assert received.subject == "[Clozit] We received your refund request for payment txn_01"
    assert "Reason given: Bought twice" in received.body
    assert len(emails_to("owner@example.com")) == 1 and not emails_to("admin@example.com")

    deliver(lambda: refund_request_approve(request=request, by=None, note="Refunded in full"))
    decided = emails_to("owner@example.com")[-1]
    assert decided.subject == "[Clozit] Your refund request for payment txn_01 was approved"
    assert "Credits taken back: 500" in decided.body and "Refunded in full" in decided.body
    assert len([m for m in emails_to("billing@example.com") if "refund" in m.subject]) == 2


def test_a_rejected_refund_says_why(user, deliver):
    purchase = paid_purchase(user.personal_workspace, test_mode=True)
    request = refund_request_create(workspace=user.personal_workspace, purchase=purchase, reason="x", by=user)
    mail.outbox.clear()
    deliver(lambda: refund_request_reject(request=request, by=None, note="The credits were used for calls"))
    message = only_email("owner@example.com")
    assert message.subject == "[Clozit] Your refund request for payment txn_01 was not approved"
    assert "Why: The credits were used for calls" in message.body
    # A Paddle decline of an approved refund is a decision of its own; a replay of it is not.
    deliver(lambda: paddle_refund_declined(adjustment_id="adj_none"))
    assert len(mail.outbox) == 1


# --- Delivery ---------------------------------------------------------------------------------------
class RefusingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server down")


def test_a_failing_email_leaves_the_notice_listed_with_the_failure_noted(user, deliver, settings, client):
    settings.EMAIL_BACKEND = "notices.tests.test_account_emails.RefusingBackend"
    deliver(lambda: account_set_status(user=user, status=User.Status.SUSPENDED, reason="Review", by=None))
    notice = Notice.objects.get(user=user)
    assert notice.emailed_at is None and notice.email_note == "failed: ConnectionRefusedError"

    account_set_status(user=user, status=User.Status.ACTIVE, reason="Done", by=None)
    client.force_login(user)
    page = client.get("/notices/").content.decode()
    assert "Your Clozit account is suspended" in page and "could not be sent" in page


def test_a_failed_email_is_sent_again_once_the_server_is_back_and_only_within_the_retry_window(user, deliver, settings):
    from datetime import timedelta

    from django.utils import timezone

    from notices.jobs import notice_emails_retry_due

    settings.EMAIL_BACKEND = "notices.tests.test_account_emails.RefusingBackend"
    deliver(lambda: account_set_status(user=user, status=User.Status.SUSPENDED, reason="Review", by=None))
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notice = Notice.objects.get(user=user)

    assert notice_emails_retry_due() == 0  # minutes old: the first job may still be on its way
    later = timezone.now() + timedelta(minutes=30)
    assert notice_emails_retry_due(now=later) == 1
    [message] = mail.outbox
    assert message.subject == notice.subject
    assert notice_emails_retry_due(now=later) == 0  # sent: never twice
    notice.refresh_from_db()
    assert notice.emailed_at is not None and notice.email_note == ""

    # Past the window, a failure stays a note on the listed notice.
    Notice.objects.filter(pk=notice.pk).update(emailed_at=None, email_note="failed: SMTPDataError")
    assert notice_emails_retry_due(now=timezone.now() + timedelta(hours=settings.NOTICE_EMAIL_RETRY_HOURS + 1)) == 0


# --- Broadcasts (policy and price changes use these) ----------------------------------------------
def test_a_broadcast_tells_every_active_account_once_and_respects_turned_off_emails(
    user, django_capture_on_commit_callbacks, run_jobs
):
    from notices.services import notice_broadcast, notice_preferences_set
    from notices.tests.conftest import make_user

    quiet = make_user("quiet@example.com")
    notice_preferences_set(user=quiet, turned_off={"low_balance"})
    closed = make_user("closed@example.com")
    User.objects.filter(pk=closed.pk).update(is_active=False)
    context = {"workspace": {"name": "Everyone"}, "balance": "1", "threshold": "2"}
    for _ in range(2):  # sent twice (a job run twice): told once
        with django_capture_on_commit_callbacks(execute=True):
            notice_broadcast(kind=kinds_module.LOW_BALANCE, key="broadcast:test", context=context)
        with django_capture_on_commit_callbacks(execute=True):
            run_jobs()
        run_jobs()

    assert sorted(Notice.objects.values_list("user__email", flat=True)) == ["owner@example.com", "quiet@example.com"]
    assert [m.to for m in mail.outbox] == [["owner@example.com"]]
    assert Notice.objects.get(user=quiet).email_note == "turned off"
