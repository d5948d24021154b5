"""Outgoing webhooks: where a workspace wants to hear about events (Endpoint), what happened
(Message, the outbox, written in the transaction of the change) and each message's way to each
endpoint (Delivery, with its attempts and next retry)."""

import uuid

from django.db import models
from django.db.models import Q


class Endpoint(models.Model):
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=500)  # checked by integrations.http (scheme, address), not a URLField
    description = models.CharField(max_length=200, blank=True)
    # A list of clozit.events.EVENT_TYPES.
    event_types = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    # Standard Webhooks form: "whsec_" + base64 of random bytes.
    secret = models.CharField(max_length=100)
    # After a rotation the old secret signs too, until previous_secret_until.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # Since when every delivery has failed (None: the last one succeeded, or none yet).
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.url


class Message(models.Model):
    """One event for one workspace. `data` holds the ids the event named; `body` (the JSON sent) is
    built from the database at the first delivery attempt and kept as text, so every attempt and
    every endpoint gets the same bytes under the same webhook-id (and its keys keep their order)."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="webhook_messages")
    event_type = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    msg_id = models.CharField(max_length=40, unique=True, default="")
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.event_type} {self.msg_id}"

    def save(self, *args, **kwargs):
        if not self.msg_id:
            self.msg_id = new_msg_id()
        super().save(*args, **kwargs)


def new_msg_id() -> str:
    return "msg_" + uuid.uuid4().hex


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker sending it now: others leave it alone until then (a job run twice sends once).
    leased_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.TextField(blank=True)  # at most 1 KB of the receiver's answer
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["message", "endpoint"], name="webhook_delivery_once")]
        indexes = [
            # The sweep's: pending deliveries whose time has come.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self):
        return f"{self.message} → {self.endpoint}"
