from django.db import transaction
from django.utils import timezone

from billing import ledger

from .models import User


@transaction.atomic
def account_created(*, user: User) -> None:
    """Everything a brand-new account gets: its credit balance and the starter grant."""
    ledger.starter_grant(user=user)


@transaction.atomic
def account_set_status(*, user: User, status: str, reason: str, by: User) -> User:
    """Suspend, terminate or reactivate an account, recording why and who."""
    if status not in User.Status.values:
        raise ValueError(f"Unknown account status {status!r}")
    user = User.objects.select_for_update().get(pk=user.pk)
    user.status = status
    user.status_reason = f"{reason} (by {by.email})" if by else reason
    user.status_changed_at = timezone.now()
    user.is_active = status != User.Status.TERMINATED
    user.save(update_fields=["status", "status_reason", "status_changed_at", "is_active"])
    return user
