"""Staff's queue of reports in admin: what it shows, and deciding with a reason."""

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Workspace
from campaigns.tests.factories import make_campaign
from notices.models import Notice
from safety import services
from safety.models import Report

from .helpers import CALLEE, placed_call

pytestmark = pytest.mark.django_db

QUEUE = "/admin/safety/report/"


@pytest.fixture
def report(user):
    campaign = make_campaign(user, [CALLEE])
    return services.report_submit(call=placed_call(campaign), reason="scam", text="Asked for my card number.")


def test_the_queue_lists_open_reports_with_the_reporters_words(admin_client, report, admin_user):
    other = services.report_submit(
        call=placed_call(report.campaign, to="+14155550198"), reason="spam", text="Resolved already."
    )
    services.reports_resolve(report_ids=[other.pk], decision="dismissed", note="Fine.", by=admin_user)

    page = admin_client.get(QUEUE).content.decode()

    assert "Asked for my card number." in page and "Spring outreach" in page
    assert "Resolved already." not in page  # open reports unless asked otherwise
    assert "Resolved already." in admin_client.get(QUEUE + "?status=all").content.decode()


def test_a_report_shows_the_transcript_and_the_campaigns_purpose(admin_client, report):
    page = admin_client.get(reverse("admin:safety_report_change", args=[report.pk])).content.decode()

    assert "Hi, this is Riley from Acme." in page and "Stop calling me." in page
    assert "Inviting customers to our spring sale" in page
    assert "+1••••••••99" in page


def test_suspending_from_the_queue_asks_for_a_reason_then_decides_and_emails(
    admin_client, report, django_capture_on_commit_callbacks, run_jobs, user
):
    chosen = {"action": "suspend", "_selected_action": [report.pk]}
    asked = admin_client.post(QUEUE, chosen)
    assert "Suspend: give a reason" in asked.content.decode()
    assert Report.objects.get().status == "open"

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(QUEUE, {**chosen, "apply": "Confirm", "note": "Scam calls asking for card numbers."})
    run_jobs()

    report.refresh_from_db()
    assert report.status == "suspended" and report.resolution_note == "Scam calls asking for card numbers."
    assert Workspace.objects.get(pk=report.workspace_id).status == "suspended"
    # One message for the decision (not a second "workspace suspended" one), listed as a notice too.
    assert len(mail.outbox) == 1 and "Scam calls asking for card numbers." in mail.outbox[0].body
    assert Notice.objects.get(user=user).kind == "report_decision"
