class CampaignError(Exception):
    """A request the campaign rules refuse; the message is written for the user."""
