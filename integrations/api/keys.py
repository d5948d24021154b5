"""API keys: made, found and revoked here only."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts import audit
from clozit.exporting import export_json, export_rows

from .models import ApiKey

# "clz_" + 8 characters to show and look the key up by, "_" + 40 characters of secret.
KEY_PREFIX = "clz_"
LOOKUP_LENGTH = len(KEY_PREFIX) + 8


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the whole key: shown once, never stored


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, workspace, by, name: str, scope: str, expires_at: datetime | None = None) -> NewKey:
    lookup = KEY_PREFIX + secrets.token_hex(4)
    secret = f"{lookup}_{secrets.token_urlsafe(30)}"
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name.strip()[:100] or "API key",
        prefix=lookup,
        secret_hash=_digest(secret),
        scope=scope,
        created_by=by,
        expires_at=expires_at,
    )
    audit.record(workspace=workspace, actor=by, action="api_key_created", summary=f"API key {key} ({scope})")
    return NewKey(key=key, secret=secret)


def api_key_revoke(*, key: ApiKey, by) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit.record(workspace=key.workspace_id, actor=by, action="api_key_revoked", summary=f"API key {key}")
    return key


def api_key_find(secret: str) -> ApiKey | None:
    """The live key `secret` is, or None (unknown, wrong, revoked, expired)."""
    lookup, rest = secret[:LOOKUP_LENGTH], secret[LOOKUP_LENGTH + 1 :]
    if not lookup.startswith(KEY_PREFIX) or secret[LOOKUP_LENGTH : LOOKUP_LENGTH + 1] != "_" or not rest:
        return None
    key = ApiKey.objects.select_related("workspace").filter(prefix=lookup).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(secret)):
        return None
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= timezone.now()):
        return None
    return key


def api_keys_erase(*, workspace_id: int, **_) -> None:
    """A purged workspace keeps no keys, nor the answers their Idempotency-Keys would replay.
    Receiver of `clozit.events.workspace_purging`."""
    ApiKey.objects.filter(workspace_id=workspace_id).delete()


def api_keys_export(*, workspace_id: int, **_) -> dict[str, str]:
    """The keys (name, prefix, scope, use; never the secret's hash) and the answers kept for
    their Idempotency-Keys."""
    from .models import IdempotencyRecord

    data = {
        "keys": export_rows(ApiKey.objects.filter(workspace_id=workspace_id), leave_out=["secret_hash"]),
        "idempotency_records": export_rows(IdempotencyRecord.objects.filter(api_key__workspace_id=workspace_id)),
    }
    return {"integrations/api_keys.json": export_json(data)}
