"""What the HubSpot integration hears from `clozit.events`: calls that ended and opt-outs, for
workspaces with a connection. Runs inside the publisher's transaction, so it only writes the
outbox row and asks for the job after commit (services.push_back_record)."""

import logging

from django.db import DatabaseError, transaction

from campaigns.models import Call
from clozit import events

from . import services
from .models import Connection, PushBack

log = logging.getLogger(__name__)


def on_event(sender, event: events.Event, **kwargs) -> None:
    """Never lets a problem of its own undo the publisher's change (a call's end, an opt-out): its
    writes are in a savepoint, and a database error there is logged and dropped."""
    if event.type not in (events.CALL_COMPLETED, events.CALL_FAILED, events.CONTACT_OPTED_OUT):
        return
    # Most workspaces have no HubSpot: one indexed look-up, before any savepoint or call read.
    if not Connection.objects.filter(workspace_id=event.workspace_id).exists():
        return
    try:
        with transaction.atomic():
            _record(event)
    except DatabaseError:
        log.exception("HubSpot push-back not recorded for %s in workspace %s", event.type, event.workspace_id)


def _record(event: events.Event) -> None:
    if event.type in (events.CALL_COMPLETED, events.CALL_FAILED):
        call_id = event.data.get("call_id")
        if call_id is None:
            return
        number = Call.objects.filter(pk=call_id).values_list("to_number", flat=True).first() or ""
        services.push_back_record(
            workspace_id=event.workspace_id,
            kind=PushBack.Kind.CALL_RESULT,
            key=f"call:{call_id}",
            call_id=call_id,
            phone_number=number,
        )
    elif event.type == events.CONTACT_OPTED_OUT:
        number = event.data.get("phone_number") or ""
        call_id = event.data.get("call_id")
        services.push_back_record(
            workspace_id=event.workspace_id,
            kind=PushBack.Kind.OPT_OUT,
            key=f"opt_out:{number}:{call_id or ''}",
            call_id=call_id,
            phone_number=number,
        )
