"""Real Paddle notification payloads (see README.md for where they come from), for webhook tests."""

import copy
import json
import uuid
from pathlib import Path

_HERE = Path(__file__).parent

# Ids the fixtures share: the subscription, its first transaction and the price it bills.
FIXTURE_SUBSCRIPTION_ID = "sub_01hv8x29kz0t586xy6zn1a62ny"
FIXTURE_TRANSACTION_ID = "txn_01hv8wptq8987qeep44cyrewp9"
FIXTURE_PLAN_PRICE_ID = "pri_01gsz8x8sawmvhz1pv30nge1ke"  # "Monthly (per seat)", quantity 10 in the transaction


def entity(event_type: str, **changes) -> dict:
    """A fresh copy of the fixture's `data` for `event_type`, with top-level fields changed."""
    data = copy.deepcopy(json.loads((_HERE / f"{event_type}.json").read_text()))
    data.update(changes)
    return data


def notification(event_type: str, data: dict, *, occurred_at: str = "2024-04-12T10:18:49.738971Z", event_id=None):
    """The envelope Paddle posts (as the SDK's test_NotificationEvent.py builds it)."""
    return {
        "data": data,
        "notification_id": f"ntf_{uuid.uuid4().hex[:26]}",
        "event_type": event_type,
        "event_id": event_id or f"evt_{uuid.uuid4().hex[:26]}",
        "occurred_at": occurred_at,
    }
