"""Credits by API, over real HTTP: the balance as the ledger states it, the ledger's entries in
cursor pages with a date range; amounts are decimal strings."""

from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests
from django.utils import timezone

from billing import ledger
from billing.models import LedgerEntry

from .test_api_auth import assert_problem, bearer
from .test_keys import make_key, make_owner


@pytest.fixture
def live(transactional_db, asgi_server):
    return SimpleNamespace(url=asgi_server)


def test_the_balance_is_the_ledgers_in_decimal_strings(live):
    owner = make_owner("ada@example.com")
    workspace = owner.personal_workspace
    ledger.credit_post(workspace=workspace, amount=Decimal("12.50"), kind=LedgerEntry.Kind.PURCHASE, reference="t:1")
    ledger.ai_query_reserve(workspace=workspace, reference="t:hold")
    secret = make_key(owner)

    body = requests.get(f"{live.url}/api/v1/credits/balance", headers=bearer(secret)).json()

    current = ledger.balance_of(workspace=workspace)
    assert body == {"balance": str(current.balance), "held": str(current.held), "available": str(current.available)}
    assert Decimal(body["held"]) > 0 and Decimal(body["available"]) == Decimal(body["balance"]) - Decimal(body["held"])
    ledger.hold_release(reference="t:hold")


def test_ledger_pages_and_date_range(live):
    owner = make_owner("ada@example.com")
    workspace = owner.personal_workspace
    for n in range(3):
        ledger.credit_post(
            workspace=workspace, amount=Decimal("1.25"), kind=LedgerEntry.Kind.PURCHASE, reference=f"a:{n}"
        )
    middle = timezone.now()
    for n in range(2):
        ledger.credit_post(
            workspace=workspace, amount=Decimal("-0.50"), kind=LedgerEntry.Kind.AI_QUERY, reference=f"b:{n}"
        )
    secret = make_key(owner)
    url = f"{live.url}/api/v1/credits/ledger"
    everything = list(
        LedgerEntry.objects.filter(account__workspace=workspace).order_by("-pk").values_list("pk", flat=True)
    )

    seen, cursor = [], None
    while True:
        page = requests.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=bearer(secret))
        seen += [e["id"] for e in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == everything

    after = requests.get(url, params={"since": middle.isoformat()}, headers=bearer(secret)).json()["items"]
    before = requests.get(url, params={"until": middle.isoformat(), "kind": "purchase"}, headers=bearer(secret)).json()
    assert [(e["kind"], e["amount"]) for e in after] == [("ai_query", "-0.50"), ("ai_query", "-0.50")]
    assert [e["reference"] for e in before["items"]] == ["a:2", "a:1", "a:0"]
    # Compared as times, not as text: "…:12Z" sorts after "…:12.5Z" though it is earlier.
    assert all(datetime.fromisoformat(e["created_at"]) < middle for e in before["items"])
    assert_problem(requests.get(url, params={"since": "yesterday"}, headers=bearer(secret)), 422)


def test_another_workspaces_ledger_is_not_shown(live):
    alice, bob = make_owner("ada@example.com"), make_owner("bob@example.com")
    ledger.credit_post(
        workspace=alice.personal_workspace, amount=Decimal("5"), kind=LedgerEntry.Kind.PURCHASE, reference="x"
    )
    mine = set(LedgerEntry.objects.filter(account__workspace=bob.personal_workspace).values_list("pk", flat=True))

    items = requests.get(f"{live.url}/api/v1/credits/ledger", headers=bearer(make_key(bob))).json()["items"]

    assert {e["id"] for e in items} == mine
