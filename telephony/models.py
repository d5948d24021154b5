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
