"""Checks that the books balance: what `manage.py verify_ledger` runs, and the test suite after each test."""

from decimal import Decimal

from django.db.models import Count, Q, Sum

from .models import CreditAccount, CreditHold, LedgerEntry


def ledger_problems() -> list[str]:
    """Every inconsistency found, as sentences; an empty list means the books are right."""
    problems = []
    sums = dict(
        LedgerEntry.objects.values_list("account").annotate(total=Sum("amount")).values_list("account", "total")
    )
    held = dict(
        CreditHold.objects.filter(status=CreditHold.Status.ACTIVE)
        .values_list("account")
        .annotate(total=Sum("amount"))
        .values_list("account", "total")
    )
    for account in CreditAccount.objects.select_related("workspace").order_by("pk"):
        total = sums.get(account.pk) or Decimal("0")
        if total != account.balance:
            problems.append(f"{account.workspace}: balance {account.balance} but entries add up to {total}")
        if account.balance < 0:
            problems.append(f"{account.workspace}: negative balance {account.balance}")
        active = held.get(account.pk) or Decimal("0")
        if active != account.held:
            problems.append(f"{account.workspace}: {account.held} held but active holds add up to {active}")
    usage = {
        reference: (count, amount)
        # A settled hold posts one usage entry: call seconds, or an AI answer.
        for reference, count, amount in LedgerEntry.objects.filter(
            kind__in=[LedgerEntry.Kind.CALL_USAGE, LedgerEntry.Kind.AI_QUERY], reference__endswith=":usage"
        )
        .values_list("reference")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .values_list("reference", "count", "amount")
    }
    for hold in CreditHold.objects.filter(~Q(status=CreditHold.Status.ACTIVE)).iterator():
        count, amount = usage.get(f"{hold.reference}:usage", (0, Decimal("0")))
        expected = 1 if hold.charged > 0 else 0
        if count != expected:
            problems.append(f"hold {hold.reference}: {count} usage entries, expected {expected}")
        elif expected and -amount != hold.charged:
            problems.append(f"hold {hold.reference}: charged {hold.charged} but its usage entry is {amount}")
    return problems
