"""Policy versions for the tests, and a fresh copy of the published list for each test (the
process keeps one for a minute: policies.selectors)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import PolicyVersion
from policies.selectors import published_versions_forget

TERMS_V1 = """## 1. What the service does

Clozit lets a business set up AI voice agents that telephone its contacts.

## 2. Payment

Credits are bought in advance.
- Credits never expire.
- Prices are shown before you pay.
"""

TERMS_V2 = """## 1. What the service does

Clozit lets a business set up AI voice agents that telephone and text its contacts.

## 2. Payment

Credits are bought in advance.
- Prices are shown before you pay.
- Refunds follow the refund policy.
"""


@pytest.fixture(autouse=True)
def fresh_published_versions():
    published_versions_forget()
    yield
    published_versions_forget()


def make_version(
    policy="terms", version="2027-01", *, days=10, text=TERMS_V2, summary="Agents may also send texts.", published=True
) -> PolicyVersion:
    """A version taking effect in `days` (negative: in effect already), published unless asked.
    Made directly in the database, as if published earlier (the service refuses a past date)."""
    now = timezone.now()
    made = PolicyVersion.objects.create(
        policy=policy,
        version=version,
        summary=summary,
        text=text,
        effective_at=now + timedelta(days=days),
        published_at=now - timedelta(days=30) if published else None,
    )
    published_versions_forget()
    return made
