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

    workspace = models.OneToOneField(
        "accounts.Workspace", on_delete=models.PROTECT, related_name="credit_account", db_column="user_id"
    )
    balance = models.DecimalField(default=Decimal("0"), **CREDIT_FIELD)
    held = models.DecimalField(default=Decimal("0"), **CREDIT_FIELD)
    # The owners are told (and `credits.low` is sent) when the balance falls below this; empty
    # means LOW_BALANCE_DEFAULT_CREDITS.
    low_balance_threshold = models.DecimalField(null=True, blank=True, **CREDIT_FIELD)
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
        return f"{self.workspace} — {self.balance} credits"

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
        FORFEIT = "forfeit", "Forfeited on termination"
        CALL_CREDIT_BACK = "call_credit_back", "Credit back for a call"

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


class CreditPackage(models.Model):
    """A pack of credits sold through Paddle, managed by staff (e.g. $10 = 500 credits)."""

    name = models.CharField(max_length=80)
    credits = models.DecimalField(**CREDIT_FIELD)
    price = models.DecimalField(max_digits=10, decimal_places=2, help_text="Base price before tax and fees.")
    currency = models.CharField(max_length=3, default="USD")
    paddle_price_id = models.CharField(max_length=64, blank=True, help_text="pri_… in Paddle; empty in development.")
    service_fee = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        help_text="Platform service fee added at checkout, before tax.",
    )
    service_fee_price_id = models.CharField(
        max_length=64, blank=True, help_text="The fee's one-off price in Paddle (pri_…), sold with the pack."
    )
    active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "price"]
        constraints = [
            models.CheckConstraint(condition=models.Q(credits__gt=0), name="package_credits_positive"),
            models.CheckConstraint(condition=models.Q(price__gt=0), name="package_price_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.credits:.0f} credits for {self.price} {self.currency})"


class Purchase(models.Model):
    """One paid Paddle transaction that granted credits, and what became of it.

    Either a credit pack (`package`) or one period of a monthly plan (`plan`, with the
    subscription's id): a plan payment is recorded here too, so that the same adjustment code
    refunds or charges it back exactly like a pack (the unused share taken back, a chargeback
    suspending the account), and the billing history lists every payment in one place. Customers
    may ask for refunds of packs only; paid plan periods are not refundable (billing.refunds).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        COMPLETED = "completed", "Paid"
        REFUNDED = "refunded", "Refunded"
        CHARGED_BACK = "charged_back", "Charged back"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.PROTECT, related_name="purchases", db_column="user_id"
    )
    package = models.ForeignKey(
        CreditPackage, null=True, blank=True, on_delete=models.PROTECT, related_name="purchases"
    )
    plan = models.ForeignKey("Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    paddle_subscription_id = models.CharField(max_length=64, blank=True, help_text="sub_… for a plan payment.")
    paddle_transaction_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    credits = models.DecimalField(**CREDIT_FIELD)
    credits_clawed_back = models.DecimalField(default=Decimal("0"), **CREDIT_FIELD)
    # Credits a chargeback could not take back because they had been spent: for staff to follow up.
    shortfall = models.DecimalField(default=Decimal("0"), **CREDIT_FIELD)
    # Paddle adjustment ids already applied: each refund or chargeback counts once.
    adjustments_applied = models.JSONField(default=list, blank=True)
    total = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    invoice_number = models.CharField(max_length=64, blank=True)
    test_mode = models.BooleanField(default=False, help_text="Made with the development test checkout.")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(package__isnull=False, plan__isnull=True)
                | models.Q(package__isnull=True, plan__isnull=False),
                name="purchase_is_a_pack_or_a_plan_payment",
            )
        ]

    def __str__(self):
        return f"{self.paddle_transaction_id} ({self.get_status_display()})"

    @property
    def is_plan_payment(self) -> bool:
        return self.plan_id is not None

    @property
    def description(self) -> str:
        """What was paid for, as the billing history names it."""
        return f"{self.plan.name} plan" if self.plan_id is not None else self.package.name


class PaddleEvent(models.Model):
    """Every Paddle webhook, stored under its event id before it is applied."""

    event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Signed by Paddle but unusable (e.g. a quantity that is not a positive whole number): kept for
    # staff, never applied, refused again if delivered again.
    rejected_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.event_type} {self.event_id}"


class RefundRequest(models.Model):
    """A customer's request to refund the unused credits of a purchase, decided by staff.

    Changed only through billing.refunds.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.PROTECT, related_name="refund_requests", db_column="user_id"
    )
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refund_requests")
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    staff_note = models.TextField(blank=True)
    credits_refunded = models.DecimalField(default=Decimal("0"), **CREDIT_FIELD)
    # What the customer gets back, in the purchase's currency (None until approved).
    amount_refunded = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    paddle_adjustment_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["purchase"],
                condition=models.Q(status="requested"),
                name="refund_request_one_open_per_purchase",
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="refund_request_reason_required"),
        ]

    def __str__(self):
        return f"Refund request #{self.pk} for {self.purchase.paddle_transaction_id} ({self.get_status_display()})"


class Plan(models.Model):
    """A monthly plan sold through Paddle; each paid period grants its included credits."""

    name = models.CharField(max_length=80)
    paddle_price_id = models.CharField(max_length=64, unique=True, help_text="The plan's recurring price (pri_…).")
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    included_credits = models.DecimalField(
        **CREDIT_FIELD, help_text="Granted for each paid period, per unit of the subscription's quantity."
    )
    active = models.BooleanField(default=True)
    # Off by default: credits do not expire. When a plan turns it on, subscribers are told at
    # least 30 days before `credit_expiry_from` (billing.expiry).
    credit_expiry_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Unused plan credits expire this many days after they were granted."
    )
    credit_expiry_from = models.DateField(null=True, blank=True, help_text="Expiry applies to grants from this day.")
    credit_expiry_announced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["monthly_price"]

    def __str__(self):
        return f"{self.name} ({self.included_credits:.0f} credits a month)"


class Subscription(models.Model):
    """An account's Paddle subscription, as Paddle last told us."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.PROTECT, related_name="subscriptions", db_column="user_id"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    paddle_subscription_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=20)  # Paddle's: active, trialing, past_due, paused, canceled
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at = models.DateTimeField(null=True, blank=True, help_text="Ends then (cancelled at period end).")
    canceled_at = models.DateTimeField(null=True, blank=True, help_text="When Paddle cancelled it.")
    # occurred_at of the newest event applied: an older event arriving late changes nothing.
    state_as_of = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.paddle_subscription_id} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in ("active", "trialing", "past_due")


class CallCreditBack(models.Model):
    """What a call was charged, given back: automatically when the call failed through our fault
    (billing.credit_backs), or when staff approve the customer's dispute (billing.disputes).

    At most one per call (its ledger reference is `call:<id>:credit-back`, and this row is unique
    per call), so a replayed event, a job run twice and a dispute approved at the same moment
    all end with one entry."""

    class Reason(models.TextChoices):
        TECHNICAL_FAILURE = "technical_failure", "the AI model did not answer, even after a retry"
        CRASH = "crash", "our platform lost track of the call"
        DEAD_AIR = "dead_air", "the agent never spoke after the call was answered"
        DISPUTE = "dispute", "our staff approved your dispute"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="call_credit_backs")
    call = models.OneToOneField("campaigns.Call", on_delete=models.CASCADE, related_name="credit_back")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    amount = models.DecimalField(**CREDIT_FIELD)
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="call_credit_back")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Call {self.call_id} credited back {self.amount} ({self.reason})"


class CallDispute(models.Model):
    """A customer's dispute of one call's charge, decided by staff (billing.disputes)."""

    class Status(models.TextChoices):
        OPEN = "open", "Awaiting review"
        APPROVED = "approved", "Approved: credited back"
        DECLINED = "declined", "Declined"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="call_disputes")
    call = models.ForeignKey("campaigns.Call", on_delete=models.CASCADE, related_name="disputes")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()
    charge = models.DecimalField(**CREDIT_FIELD, help_text="What the call was charged when it was disputed.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    staff_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["call"], condition=models.Q(status="open"), name="call_dispute_one_open_per_call"
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="call_dispute_reason_required"),
        ]

    def __str__(self):
        return f"Dispute #{self.pk} of call {self.call_id} ({self.get_status_display()})"


class PriceChange(models.Model):
    """A price or rate that changes on `effective_at`: until then the old one applies everywhere
    (billing.prices). A change that raises a price is scheduled PRICE_RAISE_NOTICE_DAYS ahead
    and every active account is told when it is scheduled."""

    class Item(models.TextChoices):
        CALL_SECOND = "call_second", "Voice calls (credits per second)"
        AI_QUERY = "ai_query", "AI assistant query (credits)"
        NUMBER_MONTHLY = "number_monthly", "Phone number (credits per month)"
        PACKAGE_PRICE = "package_price", "Credit pack price"
        PLAN_PRICE = "plan_price", "Plan price (per month)"

    item = models.CharField(max_length=20, choices=Item.choices)
    package = models.ForeignKey(CreditPackage, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    old_value = models.DecimalField(max_digits=14, decimal_places=4, help_text="In force when it was scheduled.")
    new_value = models.DecimalField(max_digits=14, decimal_places=4)
    # Packs and plans are charged through Paddle's price: the new one, made in Paddle beforehand.
    new_paddle_price_id = models.CharField(max_length=64, blank=True)
    effective_at = models.DateTimeField()
    summary = models.TextField(blank=True, help_text="Why, in a sentence or two (sent in the notice).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    announced_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-effective_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(new_value__gte=0), name="price_change_not_negative"),
            models.CheckConstraint(
                condition=(
                    models.Q(item="package_price", package__isnull=False, plan__isnull=True)
                    | models.Q(item="plan_price", plan__isnull=False, package__isnull=True)
                    | (
                        models.Q(item__in=["call_second", "ai_query", "number_monthly"])
                        & models.Q(package__isnull=True, plan__isnull=True)
                    )
                ),
                name="price_change_names_its_item",
            ),
        ]

    def __str__(self):
        return f"{self.get_item_display()}: {self.old_value} → {self.new_value} from {self.effective_at:%Y-%m-%d}"
