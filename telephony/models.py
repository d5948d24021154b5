from django.db import models


class ProviderEvent(models.Model):
    """Every webhook a provider sent, stored by a unique key before it is applied.

    A second delivery of the same event finds its key taken and is acknowledged without
    being applied again.
    """

    provider = models.CharField(max_length=20)
    dedupe_key = models.CharField(max_length=200)
    call_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["provider", "dedupe_key"], name="provider_event_once")]

    def __str__(self):
        return f"{self.provider} {self.kind} {self.dedupe_key}"


class PhoneNumber(models.Model):
    """A caller number: one of the platform's shared numbers (no owner, kept by staff in
    admin) or one an account bought from the provider and pays for monthly in credits."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RELEASED = "released", "Released"

    workspace = models.ForeignKey(
        "accounts.Workspace",
        on_delete=models.CASCADE,
        related_name="phone_numbers",
        db_column="owner_id",
        null=True,
        blank=True,
        help_text="Empty for the platform's shared numbers, which every account may call from.",
    )
    number = models.CharField(max_length=20, help_text="E.164, e.g. +14155550100.")
    provider = models.CharField(max_length=20)
    provider_number_id = models.CharField(max_length=80, blank=True)
    label = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    inbound_agent = models.ForeignKey(
        "campaigns.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_numbers",
        help_text="Answers calls to this number. Without one, callers hear a short message.",
    )
    monthly_fee = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    paid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["number"], condition=models.Q(status="active"), name="phone_number_active_once"
            )
        ]

    def __str__(self):
        return self.number

    @property
    def is_shared(self) -> bool:
        return self.workspace_id is None
