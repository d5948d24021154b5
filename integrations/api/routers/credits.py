"""Credits: the balance and the ledger, read from billing's ledger (the only code that knows
balances). Amounts are decimal strings ("12.50"), never floats; times are ISO 8601."""

from datetime import UTC, datetime

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from billing import ledger
from billing.models import LedgerEntry

from ..pagination import cursor_page

router = Router(tags=["Credits"])


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    return moment


class BalanceOut(Schema):
    balance: str = Field(description="Credits on the account, including those held.", examples=["120.00"])
    held: str = Field(description="Credits held for calls in progress.", examples=["4.50"])
    available: str = Field(description="What new calls may spend: balance minus held.", examples=["115.50"])


class LedgerEntryOut(Schema):
    id: int
    kind: str = Field(description="What moved the balance.", examples=["call_usage"])
    amount: str = Field(description="Positive adds credits, negative spends them.", examples=["-1.25"])
    balance_after: str = Field(examples=["118.75"])
    reference: str
    memo: str
    created_at: datetime


class LedgerPage(Schema):
    items: list[LedgerEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class LedgerFilters(Schema):
    since: datetime | None = Field(None, description="Entries at or after this time (ISO 8601; UTC if no offset).")
    until: datetime | None = Field(None, description="Entries before this time (ISO 8601; UTC if no offset).")
    kind: LedgerEntry.Kind | None = Field(None, description="Only entries of this kind.")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


@router.get("/balance", response=BalanceOut, summary="The workspace's credit balance")
def balance(request):
    current = ledger.balance_of(workspace=request.workspace)
    return {"balance": str(current.balance), "held": str(current.held), "available": str(current.available)}


@router.get("/ledger", response=LedgerPage, summary="Ledger entries, newest first")
def ledger_entries(request, filters: Query[LedgerFilters]):
    entries = LedgerEntry.objects.filter(account__workspace=request.workspace)
    if filters.since:
        entries = entries.filter(created_at__gte=_aware(filters.since))
    if filters.until:
        entries = entries.filter(created_at__lt=_aware(filters.until))
    if filters.kind:
        entries = entries.filter(kind=filters.kind)
    rows, next_cursor = cursor_page(entries, cursor=filters.cursor, limit=filters.limit)
    items = [
        {
            "id": e.pk,
            "kind": e.kind,
            "amount": str(e.amount),
            "balance_after": str(e.balance_after),
            "reference": e.reference,
            "memo": e.memo,
            "created_at": e.created_at,
        }
        for e in rows
    ]
    return {"items": items, "next_cursor": next_cursor}
