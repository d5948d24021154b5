"""The low-balance warning level of a workspace's credits (CreditAccount.low_balance_threshold).

When a debit takes the balance from this level (or above) to below it, the ledger publishes
`credits.low` (billing.ledger._low_balance_publish): outgoing webhooks send it and the owners and
billing members get an email (notices). Empty means settings.LOW_BALANCE_DEFAULT_CREDITS."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from accounts import audit

from . import ledger
from .models import CreditAccount

MAX_THRESHOLD = Decimal("10000000")


class LowBalanceError(Exception):
    """A warning level the rules refuse; the message is written for the user."""


def low_balance_threshold_of(*, workspace) -> tuple[Decimal, bool]:
    """(the level in force, whether it is the workspace's own rather than the default)."""
    own = CreditAccount.objects.filter(workspace=workspace).values_list("low_balance_threshold", flat=True).first()
    if own is None:
        return Decimal(settings.LOW_BALANCE_DEFAULT_CREDITS), False
    return own, True


@transaction.atomic
def low_balance_threshold_set(*, workspace, credits: Decimal | None, by=None) -> Decimal | None:
    """Set the workspace's warning level in whole credits (0 turns the warning off), or None
    for the default. Takes effect from the next debit; it does not warn about the present balance."""
    if credits is not None:
        credits = Decimal(credits)
        if credits < 0 or credits != credits.to_integral_value():
            raise LowBalanceError("Enter a whole number of credits, 0 or more.")
        if credits > MAX_THRESHOLD:
            raise LowBalanceError(f"Enter at most {MAX_THRESHOLD:,} credits.")
    CreditAccount.objects.get_or_create(workspace=workspace)
    CreditAccount.objects.filter(workspace=workspace).update(low_balance_threshold=credits)
    ledger.low_balance_threshold_forget(workspace_id=workspace.pk)
    audit.record(
        workspace=workspace,
        actor=by,
        action="credits.low_balance_threshold",
        summary=(
            f"Set the low-credit warning to {credits.normalize():f} credits."
            if credits is not None
            else "Set the low-credit warning back to the default."
        ),
    )
    return credits
