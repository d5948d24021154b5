"""HubSpot access tokens at rest: Fernet (AES with an HMAC), keys from HUBSPOT_TOKEN_KEYS, or one
derived from SECRET_KEY when none is set. A token is decrypted only to make a request."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from .errors import HubSpotIntegrationError


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.HUBSPOT_TOKEN_KEYS if k.strip()]
    if not keys:
        # A key of its own purpose, so the SECRET_KEY itself never encrypts anything.
        digest = hashlib.sha256(b"clozit.hubspot.token:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def token_encrypt(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode()


def token_decrypt(encrypted: str) -> str:
    try:
        return _fernet().decrypt(encrypted.encode()).decode()
    except InvalidToken:
        raise HubSpotIntegrationError(
            "The stored HubSpot token can no longer be read (the server's keys changed). Connect HubSpot again."
        ) from None
