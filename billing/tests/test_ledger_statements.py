"""The ledger's one-statement postings: what a replay, a refusal and a batch of holds do.

Each posting is one SQL statement that locks the account row itself; these tests pin what that
must keep: a replay (even racing the first) returns the first result and changes nothing, a
refusal by the database's CHECK is InsufficientCredits and leaves the caller's transaction usable,
and a batch of holds takes what is there in order and nothing more.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.models import User
from billing import ledger
from billing.models import CreditAccount, CreditHold, LedgerEntry
from billing.tests.test_ledger import run_at_once

MINUTE = timedelta(minutes=1)


def holds(user, references, max_amount=30, min_amount=10, total_at_most=None) -> list[CreditHold]:
    return ledger.holds_place(
        workspace=user.personal_workspace,
        references=references,
        max_amount=Decimal(max_amount),
        min_amount=Decimal(min_amount),
        lifetime=MINUTE,
        total_at_most=total_at_most,
    )


# --- replays racing the first posting --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_racing_replays_of_a_hold_that_takes_everything_all_get_that_hold(user):
    # The first takes all 100 credits: the others, finding nothing available once they hold the
    # lock, must still answer with that hold, not "not enough credits".
    results = run_at_once(
        12,
        lambda i: ledger.hold_place(
            workspace=user.personal_workspace,
            reference="call:1",
            max_amount=Decimal(500),
            min_amount=Decimal(10),
            lifetime=MINUTE,
        ),
    )

    assert all(isinstance(r, CreditHold) for r in results), results
    assert {r.pk for r in results} == {CreditHold.objects.get().pk}
    assert {r.amount for r in results} == {Decimal("100")}
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal("100"), Decimal("100"))


@pytest.mark.django_db(transaction=True)
def test_racing_replays_of_a_spend_inside_callers_transactions_make_one_entry(user):
    def spend(i):
        with transaction.atomic():  # a caller's own transaction: the posting runs in a savepoint
            entry = ledger.credit_post(
                workspace=user.personal_workspace, amount=Decimal("-40"), kind="ai_query", reference="ai:1"
            )
            assert CreditAccount.objects.filter(
                workspace=user.personal_workspace
            ).exists()  # the transaction is still usable
            return entry

    results = run_at_once(8, spend)

    assert all(isinstance(r, LedgerEntry) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert ledger.balance_of(workspace=user.personal_workspace).balance == Decimal("60")


@pytest.mark.django_db(transaction=True)
def test_racing_settles_and_replayed_holds_on_one_account_keep_the_books(user):
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal("900"), kind="purchase", reference="pack:1")

    def call(i):
        reference = f"call:{i % 4}"  # four calls, each placed and settled by three workers at once
        ledger.hold_place(
            workspace=user.personal_workspace,
            reference=reference,
            max_amount=Decimal(60),
            min_amount=10,
            lifetime=MINUTE,
        )
        return ledger.hold_settle(reference=reference, amount_used=Decimal(37))

    results = run_at_once(12, call)

    assert results == [Decimal("37")] * 12
    assert LedgerEntry.objects.filter(kind="call_usage").count() == 4
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(
        Decimal("1000") - 4 * 37, Decimal("0")
    )


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_spend_the_check_refuses_is_insufficient_credits_and_the_transaction_goes_on(user):
    ledger.hold_place(
        workspace=user.personal_workspace, reference="call:1", max_amount=Decimal(70), min_amount=10, lifetime=MINUTE
    )
    with transaction.atomic():
        # 100 credits, 70 held: the balance may not fall below what is held.
        with pytest.raises(ledger.InsufficientCredits):
            ledger.credit_post(
                workspace=user.personal_workspace, amount=Decimal("-31"), kind="ai_query", reference="ai:1"
            )
        # The refusal undid its own statement only: the caller's transaction carries on.
        entry = ledger.credit_post(
            workspace=user.personal_workspace, amount=Decimal("-30"), kind="ai_query", reference="ai:2"
        )

    assert entry.balance_after == Decimal("70")
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal("70"), Decimal("70"))
    assert not LedgerEntry.objects.filter(reference="ai:1").exists()


@pytest.mark.django_db
def test_a_refused_hold_inside_a_transaction_leaves_it_usable(user):
    with transaction.atomic():
        ledger.hold_place(
            workspace=user.personal_workspace,
            reference="call:1",
            max_amount=Decimal(95),
            min_amount=10,
            lifetime=MINUTE,
        )
        with pytest.raises(ledger.InsufficientCredits):
            ledger.hold_place(
                workspace=user.personal_workspace,
                reference="call:2",
                max_amount=Decimal(30),
                min_amount=10,
                lifetime=MINUTE,
            )
        assert CreditHold.objects.count() == 1
    assert ledger.balance_of(workspace=user.personal_workspace).held == Decimal("95")


@pytest.mark.django_db
def test_a_first_posting_for_an_account_without_a_balance_row_creates_it():
    newcomer = User.objects.create_user(email="new@example.com", password="correct horse battery")
    CreditAccount.objects.filter(workspace=newcomer.personal_workspace).delete()

    entry = ledger.credit_post(
        workspace=newcomer.personal_workspace, amount=Decimal("25"), kind="purchase", reference="pack:new"
    )

    assert entry.balance_after == Decimal("25")
    assert ledger.balance_of(workspace=newcomer.personal_workspace).balance == Decimal("25")


# --- a batch of holds --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_of_holds_takes_what_is_there_in_order(user):
    placed = holds(user, ["call:1", "call:2", "call:3", "call:4", "call:5"], max_amount=30, min_amount=10)

    # 100 credits: three full holds, one of the remaining 10, none for the fifth.
    assert [(h.reference, h.amount) for h in placed] == [
        ("call:1", Decimal("30")),
        ("call:2", Decimal("30")),
        ("call:3", Decimal("30")),
        ("call:4", Decimal("10")),
    ]
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal("100"), Decimal("100"))
    assert not CreditHold.objects.filter(reference="call:5").exists()


@pytest.mark.django_db
def test_a_batch_stops_at_the_first_hold_below_the_minimum(user):
    placed = holds(user, ["call:1", "call:2", "call:3", "call:4"], max_amount=30, min_amount=15)

    assert [h.amount for h in placed] == [Decimal("30")] * 3  # the remaining 10 is below 15
    assert ledger.balance_of(workspace=user.personal_workspace).held == Decimal("90")


@pytest.mark.django_db
def test_a_batch_within_a_total_takes_no_more_than_it(user):
    placed = holds(user, ["call:1", "call:2", "call:3"], max_amount=30, min_amount=10, total_at_most=Decimal("55.5"))

    assert [h.amount for h in placed] == [Decimal("30"), Decimal("25")]  # whole credits only
    assert ledger.balance_of(workspace=user.personal_workspace).held == Decimal("55")


@pytest.mark.django_db
def test_a_batch_with_nothing_available_places_nothing(user):
    ledger.credit_post(workspace=user.personal_workspace, amount=Decimal("-95"), kind="ai_query", reference="ai:1")

    assert holds(user, ["call:1", "call:2"], max_amount=30, min_amount=10) == []
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal("5"), Decimal("0"))


@pytest.mark.django_db
def test_a_replayed_batch_returns_the_first_holds_and_reserves_nothing_more(user):
    first = holds(user, ["call:1", "call:2"], max_amount=30)
    again = holds(user, ["call:1", "call:2", "call:3"], max_amount=30)

    assert [h.pk for h in again[:2]] == [h.pk for h in first]
    assert [h.amount for h in again] == [Decimal("30")] * 3
    assert ledger.balance_of(workspace=user.personal_workspace).held == Decimal("90")
    assert CreditHold.objects.count() == 3
