"""Credit balances, their append-only ledger, and holds for calls in progress.

Only `billing.ledger` writes to these tables. Amounts are exact decimals with two places,
so half a credit (an AI query) is representable; floats never touch money.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models

CREDIT_FIELD = {"max_digits": 14, "decimal_places": 2}


class CreditAccount(models.Model):
    """The balance of one account. `held` is reserved by calls in progress."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account")
    balance = models.DecimalField(default=Decimal("0"), **CREDIT_FIELD)
    held = models.DecimalField(default=Decimal("0"), **CREDIT_FIELD)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="credit_balance_not_negative"),
            models.CheckConstraint(condition=models.Q(held__gte=0), name="credit_held_not_negative"),
            models.CheckConstraint(
                condition=models.Q(held__lte=models.F("balance")), name="credit_held_within_balance"
            ),
        ]

    def __str__(self):
        return f"{self.user} — {self.balance} credits"

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


class LedgerEntry(models.Model):
    """One change to a balance. Never updated or deleted; corrections are new entries."""

    class Kind(models.TextChoices):
        STARTER_GRANT = "starter_grant", "Starter credits"
        PURCHASE = "purchase", "Purchase"
        SUBSCRIPTION_GRANT = "subscription_grant", "Subscription grant"
        CALL_USAGE = "call_usage", "Call usage"
        AI_QUERY = "ai_query", "AI assistant query"
        NUMBER_RENTAL = "number_rental", "Phone number rental"
        STAFF_ADJUSTMENT = "staff_adjustment", "Staff adjustment"
        REFUND_CLAWBACK = "refund_clawback", "Refund"
        CHARGEBACK = "chargeback", "Chargeback"
        EXPIRY = "expiry", "Expiry"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    amount = models.DecimalField(**CREDIT_FIELD, help_text="Positive adds credits, negative spends them.")
    balance_after = models.DecimalField(**CREDIT_FIELD)
    reference = models.CharField(max_length=200, unique=True, help_text="Idempotency key: one entry per reference.")
    memo = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "kind", "created_at"])]

    def __str__(self):
        return f"{self.amount:+} {self.get_kind_display()} ({self.reference})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only.")


class CreditHold(models.Model):
    """Credits reserved for the most a call in progress may cost, settled at hang-up."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SETTLED = "settled", "Settled"
        RELEASED = "released", "Released"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="holds")
    reference = models.CharField(max_length=200, unique=True)
    amount = models.DecimalField(**CREDIT_FIELD)
    charged = models.DecimalField(default=Decimal("0"), **CREDIT_FIELD)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="credit_hold_positive")]

    def __str__(self):
        return f"hold {self.reference}: {self.amount} ({self.status})"
