import os

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def paddle_webhook_checks(app_configs, **kwargs):
    problems = []
    # paddle-python-sdk's Verifier stops checking signature timestamps when TEST_MODE is set,
    # which would let an old, captured webhook be replayed.
    if os.environ.get("TEST_MODE"):
        problems.append(Error("TEST_MODE is set: Paddle webhook timestamps would not be checked.", id="billing.E001"))
    if settings.PADDLE_API_KEY and settings.PADDLE_WEBHOOK_SECRET.startswith("dev-webhook-secret:"):
        problems.append(
            Error(
                "PADDLE_API_KEY is set but PADDLE_WEBHOOK_SECRET is not: Paddle's webhooks would be refused.",
                id="billing.E002",
            )
        )
    if settings.PADDLE_TEST_CHECKOUT and not settings.DEBUG and not settings.PADDLE_API_KEY:
        problems.append(
            Error("PADDLE_TEST_CHECKOUT is on: anyone could add credits without paying.", id="billing.E003")
        )
    return problems
