"""What a message says: built from the database when it is first delivered (the event itself
carries only ids, so publishing stays cheap inside the transaction that made the change).

Every payload is `{"type": ..., "timestamp": ISO 8601, "data": {...}}`; the shapes of `data`
are documented in docs/integrations.md and must only ever grow (receivers parse them)."""

from decimal import Decimal

from django.conf import settings
from django.urls import reverse

from billing import ledger
from campaigns.models import Call, CallTurn, Campaign
from clozit import events


def _credits(value) -> str | None:
    # Decimal strings, never floats: credits are money.
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def call_data(call_id: int) -> dict:
    call = Call.objects.filter(pk=call_id).first()
    if call is None:  # deleted with its workspace's data since: the ids are all that is left
        return {"id": call_id}
    turns = CallTurn.objects.filter(call_id=call_id).order_by("sequence").values_list("speaker", "text")
    return {
        "id": call.pk,
        "campaign_id": call.campaign_id,
        "to": call.to_number,
        "from": call.from_number,
        "status": call.status,
        "outcome": call.outcome,
        "failure_reason": call.failure_reason,
        "answered_by": call.answered_by,
        "transcript": [{"speaker": speaker, "text": text} for speaker, text in turns],
        "captured": dict(call.captured or []),
        "duration_seconds": call.duration_seconds,
        "credits": _credits(call.credits_charged),
        "recording_url": (
            settings.PUBLIC_BASE_URL + reverse("call_recording", args=[call.pk]) if call.recording_id else None
        ),
        "started_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
    }


def campaign_data(campaign_id: int, reason: str = "") -> dict:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return {"id": campaign_id, "reason": reason}
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "reason": reason or campaign.status_reason,
    }


def build(*, event_type: str, workspace_id: int, data: dict) -> dict:
    """The `data` of a message from the ids its event named."""
    if event_type in (events.CALL_COMPLETED, events.CALL_FAILED):
        return call_data(data["call_id"])
    if event_type in (events.CAMPAIGN_COMPLETED, events.CAMPAIGN_PAUSED):
        body = campaign_data(data["campaign_id"], data.get("reason", ""))
        if "kind" in data:
            body["kind"] = data["kind"]
        return body
    if event_type == events.CONTACT_OPTED_OUT:
        return {"phone_number": data["phone_number"], "call_id": data.get("call_id")}
    if event_type == events.CREDITS_LOW:
        balance = ledger.balance_of(workspace=workspace_id)
        return {
            "available": _credits(data.get("available", balance.available)),
            "balance": _credits(data.get("balance", balance.balance)),
            "threshold": _credits(data.get("threshold", settings.WEBHOOK_CREDITS_LOW_THRESHOLD)),
        }
    if event_type == "webhook.test":
        return {"message": "A test event from Clozit: your endpoint received and (we hope) verified it."}
    return dict(data)  # pragma: no cover - every type above
