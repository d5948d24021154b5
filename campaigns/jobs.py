"""Jobs enqueued by their dotted path, for code below the module that defines them.

Contact changes, a call's end and a campaign's launch or resume all wake the dialer for a
campaign, and the dialer imports those modules: naming its job, rather than importing it, keeps
the imports one way. A test checks that each name still leads to its function.
"""

from clozit.queueing import enqueue

CAMPAIGN_ADVANCE = "campaigns.dialing.dialer.campaign_advance"


def campaign_wake(campaign_id: int) -> None:
    """Have the dialer fill the campaign's free call slots now (`campaign_advance`, on `dialing`)."""
    enqueue("dialing", CAMPAIGN_ADVANCE, campaign_id)
