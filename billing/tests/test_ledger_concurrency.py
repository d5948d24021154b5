"""Many workers on ONE account at the same moment, on real PostgreSQL: calls (hold, then settle),
AI spends, expiry sweeps, and purchases arriving as signed Paddle webhooks through the real
endpoint, the same transaction delivered by several workers at once. Threads, then processes.

Whatever the interleaving: the balance never goes negative, the entries add up to the balance
(each entry's balance_after is the running total), every Paddle transaction grants exactly once,
every refund takes back at most once, and `verify_ledger` finds nothing.
"""

import hashlib
import hmac
import json
import multiprocessing
import random
import threading
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing import ledger
from billing.models import CreditAccount, CreditHold, CreditPackage, LedgerEntry, PaddleEvent, Purchase
from billing.paddle import events
from billing.verification import ledger_problems

SECRET = "pdl_ntfset_concurrency_secret"
PACK_CREDITS = Decimal("500")
STARTER = Decimal("100")
WEBHOOK = "/billing/paddle/webhook/"


@pytest.fixture(autouse=True)
def paddle(settings):
    settings.PADDLE_WEBHOOK_SECRET = SECRET
    settings.PADDLE_API_KEY = "pdl_test_key"  # real price ids only, as in production


@pytest.fixture
def package(transactional_db):
    return CreditPackage.objects.create(name="Pack", credits=PACK_CREDITS, price=Decimal("10"), paddle_price_id="pri_c")


# --- Paddle events ---------------------------------------------------------------------------


def custom_data(workspace_pk: int) -> dict:
    """What our checkout puts in Paddle's custom data to name the account to credit."""
    return {"clozit_account_token": events.account_token(workspace_pk)}


def completed_event(workspace_pk: int, txn: str, event_id: str) -> dict:
    return {
        "event_id": event_id,
        "event_type": "transaction.completed",
        "occurred_at": "2026-11-24T08:00:00Z",
        "data": {
            "id": txn,
            "status": "completed",
            "custom_data": custom_data(workspace_pk),
            "items": [{"price": {"id": "pri_c"}, "quantity": 1}],
            "details": {"totals": {"total": "1000", "grand_total": "1000", "currency_code": "USD"}},
        },
    }


def refund_event(txn: str, adjustment_id: str, total: str) -> dict:
    return {
        "event_id": f"evt_{adjustment_id}",
        "event_type": "adjustment.updated",
        "occurred_at": "2026-11-24T09:00:00Z",
        "data": {
            "id": adjustment_id,
            "transaction_id": txn,
            "action": "refund",
            "status": "approved",
            "totals": {"total": total, "currency_code": "USD"},
        },
    }


def deliver(client: Client, payload: dict, secret: str = SECRET) -> tuple[int, bytes]:
    body = json.dumps(payload).encode()
    ts = int(time.time())
    digest = hmac.new(secret.encode(), f"{ts}:".encode() + body, hashlib.sha256).hexdigest()
    response = client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_PADDLE_SIGNATURE=f"ts={ts};h1={digest}"
    )
    return response.status_code, response.content


# --- one worker's random mix of operations ----------------------------------------------------


def workload(*, user, seed: int, steps: int, txns: list[str], client: Client, barrier=None) -> dict:
    """Random operations on one account; returns what this worker saw, for the books check."""
    rng = random.Random(seed)
    seen = {
        "spent": Decimal("0"),
        "charged": Decimal("0"),
        "refused": 0,
        "responses": Counter(),
        "delivered": set(),
        "errors": [],
    }
    posted = []
    if barrier is not None:
        barrier.wait(timeout=240)  # spawned processes start slowly on a busy machine
    for n in range(steps):
        op = rng.choice(["call", "call", "spend", "buy", "buy", "repeat", "expire", "refund"])
        try:
            if op == "call":
                reference = f"call:{seed}:{n}"
                try:
                    hold = ledger.hold_place(
                        workspace=user.personal_workspace,
                        reference=reference,
                        max_amount=Decimal(rng.randint(10, 150)),
                        min_amount=Decimal(10),
                        lifetime=timedelta(minutes=1),
                    )
                except ledger.InsufficientCredits:
                    seen["refused"] += 1
                    continue
                # Sometimes more seconds than were held: the charge stops at the hold.
                used = ledger.call_cost(seconds=rng.randint(0, int(hold.amount) + 30))
                seen["charged"] += ledger.hold_settle(reference=reference, amount_used=used)
            elif op == "spend":
                amount = Decimal(rng.randint(1, 160)) / 2
                reference = f"ai:{seed}:{n}"
                try:
                    ledger.credit_post(
                        workspace=user.personal_workspace,
                        amount=-amount,
                        kind=LedgerEntry.Kind.AI_QUERY,
                        reference=reference,
                    )
                except ledger.InsufficientCredits:
                    seen["refused"] += 1
                    continue
                seen["spent"] += amount
                posted.append(reference)
            elif op == "repeat" and posted:
                reference = rng.choice(posted)  # a retried job: must change nothing
                ledger.credit_post(
                    workspace=user.personal_workspace,
                    amount=Decimal(-1),
                    kind=LedgerEntry.Kind.AI_QUERY,
                    reference=reference,
                )
            elif op == "buy":
                txn = rng.choice(txns)
                # Paddle redelivers the same event, and may send another event for the same transaction.
                event_id = f"evt_{txn}" if rng.random() < 0.6 else f"evt_{txn}_{seed}_{n}"
                status, _ = deliver(client, completed_event(user.personal_workspace.pk, txn, event_id))
                seen["responses"][status] += 1
                seen["delivered"].add(txn)
            elif op == "refund":
                txn = rng.choice(txns[:2])  # partial refunds (10%) of the first two transactions, once each
                status, _ = deliver(client, refund_event(txn, f"adj_{txn}", "100"))
                seen["responses"][status] += 1
            elif op == "expire":
                # A sweep that believes every hold is stale, racing the settles above.
                ledger.holds_release_expired(now=timezone.now() + timedelta(days=1))
        except Exception as exc:  # the test reports every unexpected error
            seen["errors"].append(f"{op}: {exc!r}")
    return seen


def run_threads(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results = [None] * count

    def target(i):
        try:
            results[i] = work(i, barrier)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


def assert_books(user, results: list[dict]) -> None:
    """The account's history adds up, whatever order the workers' operations landed in."""
    for seen in results:
        assert isinstance(seen, dict), seen
        assert seen["errors"] == [], seen["errors"]
        # 200: applied or a duplicate; 409: a refund that came before its payment (Paddle retries).
        assert set(seen["responses"]) <= {200, 409}, seen["responses"]
    delivered = set().union(*(seen["delivered"] for seen in results))
    account = CreditAccount.objects.get(workspace=user.personal_workspace)
    entries = list(account.entries.order_by("pk").values_list("amount", "balance_after", "kind", "reference"))

    # Entries are written under the account lock, so id order is the order they happened in.
    running = Decimal("0")
    for amount, balance_after, _, reference in entries:
        running += amount
        assert balance_after == running >= 0, reference
    assert running == account.balance >= 0
    assert account.held == 0 and not CreditHold.objects.filter(status=CreditHold.Status.ACTIVE).exists()

    # Exactly one purchase and one grant per Paddle transaction, however often it was delivered.
    purchases = [e for e in entries if e[2] == LedgerEntry.Kind.PURCHASE]
    assert sorted(e[3] for e in purchases) == sorted(f"paddle:{txn}" for txn in delivered)
    assert Purchase.objects.count() == len(delivered)
    assert all(p.credits == PACK_CREDITS and p.status != "pending" for p in Purchase.objects.all())
    assert not PaddleEvent.objects.filter(processed_at=None, event_type="transaction.completed").exists()
    # A refund takes back at most once, and what it took is what the purchase records.
    clawbacks = {e[3]: -e[0] for e in entries if e[2] == LedgerEntry.Kind.REFUND_CLAWBACK}
    for purchase in Purchase.objects.all():
        assert purchase.credits_clawed_back == clawbacks.get(f"paddle:adj_{purchase.paddle_transaction_id}", 0)
        assert len(purchase.adjustments_applied) <= 1

    spent = sum((seen["spent"] for seen in results), Decimal("0"))
    charged = sum((seen["charged"] for seen in results), Decimal("0"))
    clawed = sum(clawbacks.values(), Decimal("0"))
    assert account.balance == STARTER + PACK_CREDITS * len(delivered) - spent - charged - clawed
    assert -sum(e[0] for e in entries if e[2] == LedgerEntry.Kind.CALL_USAGE) == charged
    assert ledger_problems() == []


# --- threads -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_one_transaction_delivered_by_many_threads_at_once_grants_once(user, package):
    threads, rounds = 10, 5

    def work(i, barrier):
        client = Client()
        statuses = []
        for r in range(rounds):
            # Half the threads deliver the very same event, the others new events for the same transaction.
            event_id = f"evt_r{r}" if i % 2 else f"evt_r{r}_{i}"
            barrier.wait(timeout=240)
            statuses.append(deliver(client, completed_event(user.personal_workspace.pk, f"txn_r{r}", event_id)))
        return statuses

    results = run_threads(threads, work)

    for statuses in results:
        assert isinstance(statuses, list), statuses
        assert all(status == 200 for status, _ in statuses), statuses
    answers = Counter(content for statuses in results for _, content in statuses)
    # Per round the shared event is applied once ("ok", then "duplicate ignored"); each distinct
    # event is applied too, but finds the transaction already granted.
    assert answers == {b"ok": rounds * (1 + threads // 2), b"duplicate ignored": rounds * (threads // 2 - 1)}
    assert PaddleEvent.objects.count() == rounds * (1 + threads // 2)
    assert Purchase.objects.filter(status="completed").count() == rounds
    for r in range(rounds):
        assert LedgerEntry.objects.filter(reference=f"paddle:txn_r{r}", kind="purchase").count() == 1
    assert ledger.balance_of(workspace=user.personal_workspace).balance == STARTER + PACK_CREDITS * rounds
    assert ledger_problems() == []


@pytest.mark.django_db(transaction=True)
def test_calls_spends_expiry_and_purchases_at_once_on_one_account(user, package):
    txns = [f"txn_m{k}" for k in range(6)]

    results = run_threads(
        10,
        lambda i, barrier: workload(user=user, seed=i, steps=30, txns=txns, client=Client(), barrier=barrier),
    )

    assert_books(user, results)
    # The workload really ran into both: refusals for lack of credits and repeated webhooks.
    assert sum(seen["refused"] for seen in results) > 0
    assert sum(seen["responses"][200] for seen in results) > len(txns)


# --- processes ---------------------------------------------------------------------------------


_CHILD = """
import django
django.setup()
from billing.tests.test_ledger_concurrency import process_worker
process_worker(**kwargs)
"""


def process_worker(*, db_name, user_pk, seed, steps, txns, barrier, results) -> None:
    """Runs in a fresh interpreter ('spawn'): point Django at the parent's test database first."""
    from django.conf import settings
    from django.db import connections

    from accounts.models import User

    connections["default"].settings_dict["NAME"] = db_name
    settings.PADDLE_WEBHOOK_SECRET = SECRET
    settings.PADDLE_API_KEY = "pdl_test_key"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    try:
        user = User.objects.get(pk=user_pk)
        seen = workload(user=user, seed=seed, steps=steps, txns=txns, client=Client(), barrier=barrier)
    except Exception as exc:
        seen = {"errors": [repr(exc)]}
    finally:
        connections.close_all()
    results.put(seen)


@pytest.mark.django_db(transaction=True)
def test_calls_spends_and_purchases_from_several_processes_at_once(user, package, monkeypatch, settings):
    # The children belong to this test run: they share its slot (a claim of their own fails
    # when other runs hold the rest, and a child that cannot start never reports).
    monkeypatch.setenv("CLOZIT_TEST_SLOT", str(settings.TEST_SLOT))
    ctx = multiprocessing.get_context("spawn")
    count = 4
    barrier, results = ctx.Barrier(count), ctx.Queue()
    txns = [f"txn_p{k}" for k in range(4)]
    db_name = connection.settings_dict["NAME"]
    connection.close()  # the children must not share this process's connection
    processes = [
        ctx.Process(
            target=exec,
            args=(
                _CHILD,
                {
                    "kwargs": {
                        "db_name": db_name,
                        "user_pk": user.pk,
                        "seed": 100 + i,
                        "steps": 30,
                        "txns": txns,
                        "barrier": barrier,
                        "results": results,
                    }
                },
            ),
        )
        for i in range(count)
    ]
    for p in processes:
        p.start()
    try:
        seen = [results.get(timeout=300) for _ in processes]
        for p in processes:
            p.join(timeout=60)
    finally:
        for p in processes:
            if p.is_alive():
                p.terminate()
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]

    assert_books(user, seen)
