"""Reads of calls for pages."""

from ..models import Call


def calls_for_owner(*, owner, campaign=None):
    calls = Call.objects.filter(owner=owner).select_related("contact", "campaign", "agent")
    if campaign is not None:
        calls = calls.filter(campaign=campaign)
    return calls
