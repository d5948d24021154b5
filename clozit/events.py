"""What happened in a workspace, for whoever listens: outgoing webhooks and HubSpot
(`integrations`) hear about it here, so the code where it happens never imports them.

`publish` is called inside the transaction that made the change. Listeners run at once, in
that transaction: they may only write rows (an outbox) and ask for work after commit, so a
change rolled back never reaches anyone and a committed one is never lost. The event names the
objects by id; listeners read what they send from the database when they send it."""

from dataclasses import dataclass, field

from django.dispatch import Signal

CALL_COMPLETED = "call.completed"  # an answered call ended (its transcript, outcome and cost are final)
CALL_FAILED = "call.failed"  # a call ended without anyone answering, or could not be placed
CAMPAIGN_COMPLETED = "campaign.completed"
CAMPAIGN_PAUSED = "campaign.paused"  # by the rules (credits, abuse signals, carrier failures) or by a person
CONTACT_OPTED_OUT = "contact.opted_out"  # a number asked not to be called again
CREDITS_LOW = "credits.low"  # the balance fell below the workspace's threshold

EVENT_TYPES = (CALL_COMPLETED, CALL_FAILED, CAMPAIGN_COMPLETED, CAMPAIGN_PAUSED, CONTACT_OPTED_OUT, CREDITS_LOW)


@dataclass(frozen=True)
class Event:
    type: str
    workspace_id: int
    # Ids and small facts: {"call_id": 7}, {"campaign_id": 3, "reason": "..."}, {"phone_number": "+1..."}.
    data: dict = field(default_factory=dict)


# Receivers get `event=Event(...)`.
happened = Signal()


def publish(*, type: str, workspace_id: int, **data) -> None:
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    happened.send(sender=Event, event=Event(type=type, workspace_id=workspace_id, data=data))


# Sent by accounts.services.workspace_purge inside its transaction, with `workspace_id`: whoever
# keeps something of a workspace (integration settings, payloads sent) erases it there.
workspace_purging = Signal()

# Sent by accounts.export with `workspace_id` while it writes a workspace's export: each receiver
# returns {file name in the zip: text} for what it keeps of the workspace (secrets left out).
workspace_exporting = Signal()

# Sent by accounts.services.account_purge inside its transaction, with `user_id`: whoever keeps
# something of the person (notices sent, policies accepted) erases or anonymises it there.
account_purging = Signal()

# Sent by accounts.export with `user_id` while it writes the person's export: each receiver
# returns {file name in the zip: text} for what it keeps of the person.
account_exporting = Signal()
