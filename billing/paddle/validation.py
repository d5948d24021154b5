"""What a signed Paddle event must look like before anything is stored or applied.

A correct signature proves who sent the body, not that its fields are usable. The envelope is
checked first (an event we cannot identify or order is refused with 400 and not stored); then, for
the event types we apply, the fields their handlers rely on (an unusable event is stored as
rejected, for staff to see in the admin, and refused with 400 at every delivery). Either way
nothing is granted and nothing raises a 500.

Each function returns a sentence saying what is wrong, or None.
"""

from django.utils.dateparse import parse_datetime

# The columns these values are stored in (PaddleEvent.event_id/event_type, Purchase and
# Subscription ids) are 64 characters wide.
MAX_ID_LENGTH = 64
# Far above any real order, low enough that credits × quantity fits the ledger's columns.
MAX_QUANTITY = 1_000_000


def _is_id(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _is_datetime(value) -> bool:
    """An RFC 3339 date-time with its offset, as Paddle writes them."""
    if not isinstance(value, str):
        return False
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well formed but impossible, e.g. month 13
        return False
    return parsed is not None and parsed.tzinfo is not None


def envelope_problem(payload) -> str | None:
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    if not _is_id(payload.get("event_id")):
        return f"event_id must be a string of 1 to {MAX_ID_LENGTH} characters"
    if not _is_id(payload.get("event_type")):
        return f"event_type must be a string of 1 to {MAX_ID_LENGTH} characters"
    if not _is_datetime(payload.get("occurred_at")):
        return "occurred_at must be a date-time with a time zone (RFC 3339)"
    if not isinstance(payload.get("data"), dict):
        return "data must be an object"
    return None


def _optional_dict(data: dict, field: str) -> str | None:
    if data.get(field) is not None and not isinstance(data[field], dict):
        return f"data.{field} must be an object or null"
    return None


def _transaction_problem(data: dict) -> str | None:
    if data.get("subscription_id") is not None and not _is_id(data["subscription_id"]):
        return f"data.subscription_id must be null or a string of 1 to {MAX_ID_LENGTH} characters"
    items = data.get("items")
    if not isinstance(items, list):
        return "data.items must be a list"
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("price"), dict):
            return f"data.items[{index}] must be an object with a price object"
        if not isinstance(item["price"].get("id"), str):
            return f"data.items[{index}].price.id must be a string"
        quantity = item.get("quantity")
        # bool is an int in Python; Paddle's quantities are JSON integers.
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            return f"data.items[{index}].quantity must be a whole number from 1 to {MAX_QUANTITY:,}, not {quantity!r}"
    return _optional_dict(data, "custom_data") or _optional_dict(data, "details")


def _adjustment_problem(data: dict) -> str | None:
    if not _is_id(data.get("transaction_id")):
        return f"data.transaction_id must be a string of 1 to {MAX_ID_LENGTH} characters"
    for field in ("action", "status"):
        if not isinstance(data.get(field), str):
            return f"data.{field} must be a string"
    return _optional_dict(data, "totals")


def _subscription_problem(data: dict) -> str | None:
    if not isinstance(data.get("status"), str):
        return "data.status must be a string"
    if not isinstance(data.get("items") or [], list):
        return "data.items must be a list"
    for field, dates in (("current_billing_period", ("starts_at", "ends_at")), ("scheduled_change", ())):
        problem = _optional_dict(data, field)
        if problem:
            return problem
        for name in dates:
            if data.get(field) and not _is_datetime(data[field].get(name)):
                return f"data.{field}.{name} must be a date-time with a time zone"
    change = data.get("scheduled_change") or {}
    if change.get("effective_at") is not None and not _is_datetime(change["effective_at"]):
        return "data.scheduled_change.effective_at must be a date-time with a time zone"
    if data.get("canceled_at") is not None and not _is_datetime(data["canceled_at"]):
        return "data.canceled_at must be null or a date-time with a time zone"
    return _optional_dict(data, "custom_data")


def data_problem(event_type: str, data: dict) -> str | None:
    """Problems in the fields the handler of `event_type` uses; other types are not inspected."""
    if event_type.startswith("transaction."):
        check = _transaction_problem if event_type == "transaction.completed" else None
    elif event_type.startswith("adjustment."):
        check = _adjustment_problem
    elif event_type.startswith("subscription."):
        check = _subscription_problem
    else:
        check = None
    if check is None:
        return None
    if not _is_id(data.get("id")):
        return f"data.id must be a string of 1 to {MAX_ID_LENGTH} characters"
    return check(data)
