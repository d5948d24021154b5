"""Cursor pagination: newest first, by id. The cursor is opaque to clients (the id of the last
object they saw), so a page costs one indexed range scan however deep the client has read and
rows added meanwhile neither repeat nor vanish."""

import base64
import binascii

from django.db.models import QuerySet

from .errors import ApiProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _decode(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise ApiProblem(400, "Invalid cursor", "Pass back the 'next_cursor' of a previous page, unchanged.") from error


def _encode(pk: int) -> str:
    return base64.urlsafe_b64encode(str(pk).encode()).decode().rstrip("=")


def cursor_page(queryset: QuerySet, *, cursor: str | None, limit: int | None) -> tuple[list, str | None]:
    """(objects, next_cursor or None). `limit` is clamped to 1..MAX_LIMIT."""
    limit = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
    if cursor:
        queryset = queryset.filter(pk__lt=_decode(cursor))
    rows = list(queryset.order_by("-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode(rows[-1].pk) if more else None)
