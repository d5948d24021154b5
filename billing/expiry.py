"""Credit expiry, a per-plan policy that is off unless staff turn it on.

Turning it on takes effect no sooner than 30 days after subscribers are told. Spending uses the
oldest credits first, so when a plan grant reaches its expiry, the part still unused is what the
balance holds beyond every credit granted after it; that part (never more than the grant, never
credits held for a call in progress) expires with one ledger entry per grant.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Membership
from notices import kinds as notice_kinds
from notices.services import notice_send_to_workspace

from . import ledger
from .models import LedgerEntry, Plan, Subscription

NOTICE_DAYS = 30


class ExpiryError(Exception):
    pass


@transaction.atomic
def plan_expiry_announce(*, plan: Plan, days: int, starting: date) -> int:
    """Turn expiry on for `plan` from `starting` (≥ 30 days away) and tell its subscribers' owners
    and billing members (a notice each, emailed after commit). Returns how many people were told."""
    if days < 1:
        raise ExpiryError("Expiry must be at least one day after a grant.")
    if starting < timezone.localdate() + timedelta(days=NOTICE_DAYS):
        raise ExpiryError(f"Subscribers must be told at least {NOTICE_DAYS} days before credits start to expire.")
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    plan.credit_expiry_days, plan.credit_expiry_from = days, starting
    plan.credit_expiry_announced_at = timezone.now()
    plan.save(update_fields=["credit_expiry_days", "credit_expiry_from", "credit_expiry_announced_at"])
    # One notice per person (someone who pays for two subscribed workspaces is told once).
    told = set()
    context = {"plan_name": plan.name, "starting": starting, "days": days}
    key = f"plan:{plan.pk}:expiry-announced:{plan.credit_expiry_announced_at.isoformat()}"
    for subscription in Subscription.objects.filter(plan=plan).select_related("workspace").order_by("pk"):
        notices = notice_send_to_workspace(
            workspace=subscription.workspace,
            kind=notice_kinds.PLAN_CREDIT_EXPIRY,
            key=key,
            context=context,
            roles=(Membership.Role.OWNER, Membership.Role.BILLING),
        )
        told.update(notice.user_id for notice in notices)
    return len(told)


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
