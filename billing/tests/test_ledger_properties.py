"""Property-based tests of the ledger: random sequences of grants, spends, holds, settles,
releases, clawbacks, expiry and repeated references on one or two accounts.

A plain-Python model predicts every result; after every step the database must agree with it and
the books must balance (what `manage.py verify_ledger` checks). Each Hypothesis example runs in its
own savepoint that is rolled back, so every example starts from an empty database.
"""

import math
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts.models import User
from billing import ledger
from billing.models import CreditAccount, CreditHold, LedgerEntry
from billing.verification import ledger_problems

ZERO = Decimal("0")


def cents(low: int, high: int):
    """Credit amounts with at most two decimal places, as the ledger stores them."""
    return st.integers(low, high).map(lambda c: Decimal(c) / 100)


ACCOUNT = st.integers(0, 1)  # folded onto the accounts the example opened (one or two)
USED = st.one_of(cents(0, 10_000), cents(10_000, 100_000))  # up to far more than any hold


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")  # hold references, active or closed
    posted = Bundle("posted")  # references that made an entry: (kind, reference, account index, result)

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.users: list[User] = []
        self.balance: list[Decimal] = []
        self.held: list[Decimal] = []
        # reference -> [account index, amount, status, charged, expires_at]
        self.hold_model: dict[str, list] = {}
        self.counter = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -----------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}:{self.counter}"

    def pick(self, who: int) -> int:
        return who % len(self.users)

    def available(self, i: int) -> Decimal:
        return self.balance[i] - self.held[i]

    def snapshot(self):
        """Everything a ledger call could change."""
        return (
            list(CreditAccount.objects.order_by("pk").values_list("pk", "balance", "held")),
            list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount", "balance_after", "reference")),
            list(CreditHold.objects.order_by("pk").values_list("pk", "amount", "charged", "status", "closed_at")),
        )

    # --- setup -------------------------------------------------------------------------

    @initialize(count=st.integers(1, 2), starts=st.lists(cents(1_000, 100_000), min_size=2, max_size=2))
    def open_accounts(self, count, starts):
        for i in range(count):
            user = User.objects.create_user(email=f"prop{i}@example.com", password="x")
            CreditAccount.objects.create(workspace=user.personal_workspace)
            self.users.append(user)
            self.balance.append(ZERO)
            self.held.append(ZERO)
            if starts[i] > 0:
                ledger.credit_post(
                    workspace=user.personal_workspace,
                    amount=starts[i],
                    kind=LedgerEntry.Kind.STARTER_GRANT,
                    reference=f"s:{i}",
                )
                self.balance[i] += starts[i]

    # --- plain postings ----------------------------------------------------------------

    @rule(target=posted, who=ACCOUNT, amount=cents(1, 50_000))
    def grant(self, who, amount):
        i = self.pick(who)
        ref = self.fresh("grant")
        entry = ledger.credit_post(
            workspace=self.users[i].personal_workspace, amount=amount, kind=LedgerEntry.Kind.PURCHASE, reference=ref
        )
        self.balance[i] += amount
        assert entry.amount == amount and entry.balance_after == self.balance[i]
        return ("post", ref, i, entry.pk)

    @rule(target=posted, who=ACCOUNT, amount=st.one_of(cents(1, 2_000), cents(1, 100_000)))
    def spend(self, who, amount):
        i = self.pick(who)
        ref = self.fresh("spend")
        if amount > self.available(i):
            before = self.snapshot()
            with pytest.raises(ledger.InsufficientCredits):
                ledger.credit_post(
                    workspace=self.users[i].personal_workspace,
                    amount=-amount,
                    kind=LedgerEntry.Kind.AI_QUERY,
                    reference=ref,
                )
            assert self.snapshot() == before
            return multiple()
        entry = ledger.credit_post(
            workspace=self.users[i].personal_workspace, amount=-amount, kind=LedgerEntry.Kind.AI_QUERY, reference=ref
        )
        self.balance[i] -= amount
        assert entry.amount == -amount and entry.balance_after == self.balance[i]
        return ("post", ref, i, entry.pk)

    @rule(target=posted, who=ACCOUNT, wanted=cents(1, 20_000))
    def clawback(self, who, wanted):
        i = self.pick(who)
        ref = self.fresh("clawback")
        expected = min(wanted, max(self.available(i), ZERO))
        taken = ledger.credit_clawback(
            workspace=self.users[i].personal_workspace,
            wanted=wanted,
            kind=LedgerEntry.Kind.REFUND_CLAWBACK,
            reference=ref,
        )
        assert taken == expected
        if taken == 0:
            # Nothing to take: no entry is written, so the reference is not used up and is not repeated.
            assert not LedgerEntry.objects.filter(reference=ref).exists()
            return multiple()
        self.balance[i] -= taken
        return ("clawback", ref, i, taken)

    @rule(item=posted, who=ACCOUNT, amount=cents(-100_000, 100_000).filter(bool))
    def repeat_posted_reference(self, item, who, amount):
        """Any reference that made an entry, posted again (any account, amount or sign): no change."""
        kind, ref, i, result = item
        user = self.users[self.pick(who)]
        before = self.snapshot()
        if kind == "post":
            entry = ledger.credit_post(
                workspace=user.personal_workspace, amount=amount, kind=LedgerEntry.Kind.PURCHASE, reference=ref
            )
            assert entry.pk == result
        else:
            taken = ledger.credit_clawback(
                workspace=user.personal_workspace, wanted=abs(amount), kind=LedgerEntry.Kind.CHARGEBACK, reference=ref
            )
            assert taken == result
        assert self.snapshot() == before

    # --- holds -------------------------------------------------------------------------

    @rule(
        target=holds,
        who=ACCOUNT,
        max_amount=st.one_of(st.integers(1, 200).map(Decimal), cents(1, 20_000)),
        min_share=st.integers(0, 120),  # percent of max_amount; over 100 may ask more than a hold gives
        lifetime=st.integers(0, 3_600),
    )
    def hold_place(self, who, max_amount, min_share, lifetime):
        i = self.pick(who)
        min_amount = Decimal(math.floor(max_amount * min_share / 100))
        ref = self.fresh("call")
        amount = min(max_amount, Decimal(math.floor(self.available(i))))
        args = {"reference": ref, "max_amount": max_amount, "min_amount": min_amount}
        if amount < min_amount or amount <= 0:
            before = self.snapshot()
            with pytest.raises(ledger.InsufficientCredits):
                ledger.hold_place(
                    workspace=self.users[i].personal_workspace, lifetime=timedelta(seconds=lifetime), **args
                )
            assert self.snapshot() == before
            return multiple()
        hold = ledger.hold_place(
            workspace=self.users[i].personal_workspace, lifetime=timedelta(seconds=lifetime), **args
        )
        assert hold.amount == amount and hold.status == CreditHold.Status.ACTIVE
        self.held[i] += amount
        self.hold_model[ref] = [i, amount, CreditHold.Status.ACTIVE, ZERO, hold.expires_at]
        return ref

    @rule(ref=holds, who=ACCOUNT, max_amount=st.integers(1, 1_000).map(Decimal))
    def repeat_hold_place(self, ref, who, max_amount):
        """Placing a hold again under its reference returns the first hold, whatever its state."""
        before = self.snapshot()
        hold = ledger.hold_place(
            workspace=(self.users[self.pick(who)]).personal_workspace,
            reference=ref,
            max_amount=max_amount,
            min_amount=ZERO,
            lifetime=timedelta(minutes=5),
        )
        i, amount, status, charged, _ = self.hold_model[ref]
        assert (hold.account.workspace_id, hold.amount, hold.status) == (
            self.users[i].personal_workspace.pk,
            amount,
            status,
        )
        assert self.snapshot() == before

    def _close(self, ref, used) -> None:
        i, amount, status, charged, _ = self.hold_model[ref]
        if status != CreditHold.Status.ACTIVE:
            before = self.snapshot()
            assert ledger.hold_settle(reference=ref, amount_used=used) == charged
            assert self.snapshot() == before
            return
        charge = min(used, amount)
        assert ledger.hold_settle(reference=ref, amount_used=used) == charge
        self.held[i] -= amount
        self.balance[i] -= charge
        status = CreditHold.Status.SETTLED if charge > 0 else CreditHold.Status.RELEASED
        self.hold_model[ref][2:4] = [status, charge]
        hold = CreditHold.objects.get(reference=ref)
        assert (hold.status, hold.charged) == (status, charge) and hold.closed_at is not None

    @rule(ref=holds, seconds=st.integers(0, 400))
    def hold_settle_call(self, ref, seconds):
        self._close(ref, ledger.call_cost(seconds=seconds))  # what a call really reports

    @rule(ref=holds, used=USED)
    def hold_settle_any(self, ref, used):
        self._close(ref, used)

    @rule(ref=holds)
    def hold_release(self, ref):
        i, _, status, charged, _ = self.hold_model[ref]
        before = self.snapshot()
        ledger.hold_release(reference=ref)
        if status == CreditHold.Status.ACTIVE:
            self.held[i] -= self.hold_model[ref][1]
            self.hold_model[ref][2] = CreditHold.Status.RELEASED
        else:
            assert self.snapshot() == before
        assert CreditHold.objects.get(reference=ref).charged == charged

    @precondition(lambda self: any(h[2] == CreditHold.Status.ACTIVE for h in self.hold_model.values()))
    @rule(later=st.sampled_from([0, 600, 900, 1_800, 3_600, 4_600, 7_200]))
    def release_expired(self, later):
        now = timezone.now() + timedelta(seconds=later)
        expired = [
            ref
            for ref, (_, _, status, _, expires_at) in self.hold_model.items()
            if status == "active" and expires_at < now
        ]
        assert ledger.holds_release_expired(now=now) == len(expired)
        for ref in expired:
            i, amount = self.hold_model[ref][:2]
            self.held[i] -= amount
            self.hold_model[ref][2] = CreditHold.Status.RELEASED

    # --- after every step --------------------------------------------------------------

    @invariant()
    def books_balance(self):
        accounts = {a.workspace_id: a for a in CreditAccount.objects.all()}
        entries = defaultdict(list)
        for account_id, amount, balance_after in LedgerEntry.objects.order_by("pk").values_list(
            "account_id", "amount", "balance_after"
        ):
            entries[account_id].append((amount, balance_after))
        active = dict(
            CreditHold.objects.filter(status=CreditHold.Status.ACTIVE)
            .values_list("account_id")
            .annotate(s=Sum("amount"))
            .values_list("account_id", "s")
        )
        for i, user in enumerate(self.users):
            account = accounts[user.personal_workspace.pk]
            assert account.balance >= 0 and account.held >= 0 and account.held <= account.balance
            assert (account.balance, account.held) == (self.balance[i], self.held[i])
            assert sum((amount for amount, _ in entries[account.pk]), ZERO) == account.balance
            running = ZERO
            for amount, balance_after in entries[account.pk]:  # each entry records the balance it left
                running += amount
                assert balance_after == running >= 0
            assert active.get(account.pk, ZERO) == account.held
        assert ledger_problems() == []


@pytest.mark.django_db
def test_random_ledger_operations_keep_the_books_balanced():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
