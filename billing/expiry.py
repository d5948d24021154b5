"""Credit expiry, a per-plan policy that is off unless staff turn it on.

Turning it on takes effect no sooner than 30 days after subscribers are told. Spending uses the
oldest credits first, so when a plan grant reaches its expiry, the part still unused is what the
balance holds beyond every credit granted after it; that part (never more than the grant, never
credits held for a call in progress) expires with one ledger entry per grant.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.workspaces import billing_contacts_of

from . import ledger
from .models import LedgerEntry, Plan, Subscription

NOTICE_DAYS = 30


class ExpiryError(Exception):
    pass


@transaction.atomic
def plan_expiry_announce(*, plan: Plan, days: int, starting: date) -> int:
    """Turn expiry on for `plan` from `starting` (≥ 30 days away) and email its subscribers."""
    if days < 1:
        raise ExpiryError("Expiry must be at least one day after a grant.")
    if starting < timezone.localdate() + timedelta(days=NOTICE_DAYS):
        raise ExpiryError(f"Subscribers must be told at least {NOTICE_DAYS} days before credits start to expire.")
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    plan.credit_expiry_days, plan.credit_expiry_from = days, starting
    plan.credit_expiry_announced_at = timezone.now()
    plan.save(update_fields=["credit_expiry_days", "credit_expiry_from", "credit_expiry_announced_at"])
    emails = sorted(set(billing_contacts_of(Subscription.objects.filter(plan=plan).values("workspace"))))
    for email in emails:
        send_mail(
            subject=f"[Clozit] Credits from your {plan.name} plan will start to expire",
            message=(
                f"From {starting:%d %B %Y}, credits granted by your {plan.name} plan expire {days} days after "
                "they are added, if unused. Credits you bought separately never expire.\n\n— Clozit"
            ),
            from_email=None,
            recipient_list=[email],
        )
    return len(emails)


def credits_expire_due(*, now=None) -> int:
    """Scheduled daily: post expiry entries for plan grants past their expiry. Returns how many."""
    now = now or timezone.now()
    expired = 0
    for plan in Plan.objects.filter(credit_expiry_days__isnull=False, credit_expiry_from__isnull=False):
        grants = LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.SUBSCRIPTION_GRANT,
            memo__endswith=f"(plan {plan.pk})",
            created_at__date__gte=plan.credit_expiry_from,
            created_at__lte=now - timedelta(days=plan.credit_expiry_days),
        ).select_related("account__workspace")
        for grant in grants.order_by("created_at", "id"):
            if LedgerEntry.objects.filter(reference=f"expiry:{grant.pk}").exists():
                continue
            later = LedgerEntry.objects.filter(
                account=grant.account, amount__gt=0, created_at__gt=grant.created_at
            ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
            balance = ledger.balance_of(workspace=grant.account.workspace).balance
            unused = min(grant.amount, balance - later)
            if unused > 0 and ledger.credit_clawback(
                workspace=grant.account.workspace,
                wanted=unused,
                kind=LedgerEntry.Kind.EXPIRY,
                reference=f"expiry:{grant.pk}",
                memo=f"Unused {plan.name} credits expired",
            ):
                expired += 1
    return expired
