"""The one place that builds a Paddle API client (paddle-python-sdk)."""

from dataclasses import dataclass

from django.conf import settings
from paddle_billing import Client, Environment, Options


@dataclass(frozen=True)
class _CustomEnvironment:
    """The SDK reads only `environment.base_url`; this points it at another address (tests' fake)."""

    base_url: str


def paddle_configured() -> bool:
    return bool(settings.PADDLE_API_KEY)


def paddle_client() -> Client:
    if settings.PADDLE_API_BASE_URL:
        environment = _CustomEnvironment(base_url=settings.PADDLE_API_BASE_URL.rstrip("/"))
    else:
        environment = Environment.SANDBOX if settings.PADDLE_ENVIRONMENT == "sandbox" else Environment.PRODUCTION
    return Client(settings.PADDLE_API_KEY, options=Options(environment), timeout=10)
