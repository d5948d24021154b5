"""Calls as the dialer leaves them, for the look-up and reports tests."""

from datetime import timedelta

from django.utils import timezone

from campaigns.models import Call, CallTurn, Campaign

CALLEE = "+14155550199"
CALLER = "+14155550000"  # campaigns.tests.factories.SHARED_CALLER


def placed_call(campaign: Campaign, *, to: str = CALLEE, days_ago: float = 1, status=Call.Status.COMPLETED) -> Call:
    """A call the campaign placed `days_ago` (the carrier dialled it), with a short transcript."""
    when = timezone.now() - timedelta(days=days_ago)
    call = Call.objects.create(
        workspace=campaign.workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number=to,
        from_number=campaign.caller_number,
        provider="simulated",
        status=status,
        dialing_started_at=when,
    )
    Call.objects.filter(pk=call.pk).update(created_at=when)
    CallTurn.objects.create(call=call, sequence=1, speaker="agent", text="Hi, this is Riley from Acme.")
    CallTurn.objects.create(call=call, sequence=2, speaker="callee", text="Stop calling me.")
    call.refresh_from_db()
    return call
