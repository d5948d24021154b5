from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A secret another system sends as `Authorization: Bearer <key>` to act in one workspace.

    Only a SHA-256 of the key is stored (the key is random and long, so a slow hash would buy
    nothing); `prefix`, its first characters, is shown in lists so a person can tell keys apart
    and find the one a log names. The whole key is shown once, when it is made."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, unique=True)
    secret_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="api_key_workspace")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` a client sent with a POST, and the answer it got.

    Inserting the row is the lock: the unique (api_key, key) constraint lets exactly one of two
    concurrent requests with the same key run. While it runs `status` is null (a repeat is told
    to wait, 409); once it has answered, its status, content type and body are kept so a repeat
    gets the same answer without the action running again. Answers with a 5xx status are not
    kept (the row is deleted) so the client may retry. Rows older than API_IDEMPOTENCY_HOURS are
    deleted by a daily job."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path (with its query) and body: the same key with another request is refused.
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_once_per_api_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status or 'running'})"
