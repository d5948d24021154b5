"""The ledger: the only code that changes credit balances.

What an account owner or operator would notice: balances add up, nothing is charged twice,
a balance never goes negative, holds never reserve more than is there, and none of that
changes when several workers hit the same account at the same moment (real PostgreSQL).
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from billing import ledger
from billing.models import CreditAccount, CreditHold, LedgerEntry

MINUTE = timedelta(minutes=1)


def balance(user) -> ledger.Balance:
    return ledger.balance_of(workspace=user.personal_workspace)


def hold(user, reference="call:1", max_amount=30, min_amount=10, lifetime=MINUTE) -> CreditHold:
    return ledger.hold_place(
        workspace=user.personal_workspace,
        reference=reference,
        max_amount=Decimal(max_amount),
        min_amount=Decimal(min_amount),
        lifetime=lifetime,
    )


def spend(user, amount, reference) -> LedgerEntry:
    return ledger.credit_post(
        workspace=user.personal_workspace, amount=-Decimal(amount), kind=LedgerEntry.Kind.AI_QUERY, reference=reference
    )


# --- balances and entries --------------------------------------------------------------


@pytest.mark.django_db
def test_new_account_gets_starter_credits_once(user):
    assert balance(user) == ledger.Balance(Decimal("100"), Decimal("0"))
    grant = LedgerEntry.objects.get(account__workspace=user.personal_workspace)
    assert grant.kind == LedgerEntry.Kind.STARTER_GRANT
    assert grant.amount == Decimal("100") and grant.balance_after == Decimal("100")

    account_created(user=user)  # run again (a retried signup): no second grant
    assert balance(user).balance == Decimal("100")
    assert LedgerEntry.objects.filter(account__workspace=user.personal_workspace).count() == 1


@pytest.mark.django_db
def test_zero_starter_credits_creates_an_empty_account(settings):
    settings.STARTER_CREDITS = 0
    user = User.objects.create_user(email="free@example.com", password="correct horse battery")
    assert ledger.starter_grant(workspace=user.personal_workspace) is None
    assert CreditAccount.objects.filter(workspace=user.personal_workspace).exists()
    assert balance(user) == ledger.Balance(Decimal("0"), Decimal("0"))


@pytest.mark.django_db
def test_balance_of_an_account_without_a_row_is_zero():
    user = User.objects.create_user(email="nobody@example.com", password="correct horse battery")
    assert balance(user) == ledger.Balance(Decimal("0"), Decimal("0"))
    assert balance(user).available == Decimal("0")


@pytest.mark.django_db
def test_grant_then_spend(user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("500"), kind=LedgerEntry.Kind.PURCHASE, reference="pack:1"
    )
    entry = spend(user, "120.5", "ai:1")

    assert balance(user).balance == Decimal("479.50")
    assert entry.amount == Decimal("-120.5")
    assert entry.balance_after == Decimal("479.50")
    entries = list(LedgerEntry.objects.filter(account__workspace=user.personal_workspace).order_by("id"))
    assert [e.kind for e in entries] == ["starter_grant", "purchase", "ai_query"]
    assert [e.balance_after for e in entries] == [Decimal("100"), Decimal("600"), Decimal("479.50")]
    # The ledger explains the balance: entries sum to it.
    assert sum(e.amount for e in entries) == balance(user).balance


@pytest.mark.django_db
def test_same_reference_posted_twice_changes_the_balance_once(user):
    first = ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("50"), kind=LedgerEntry.Kind.PURCHASE, reference="pack:7"
    )
    second = ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("50"), kind=LedgerEntry.Kind.PURCHASE, reference="pack:7"
    )

    assert second.pk == first.pk
    assert balance(user).balance == Decimal("150")
    assert LedgerEntry.objects.filter(reference="pack:7").count() == 1


@pytest.mark.django_db
def test_a_replayed_reference_with_a_different_amount_is_still_ignored(user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("50"), kind=LedgerEntry.Kind.PURCHASE, reference="pack:7"
    )
    again = ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("9999"), kind=LedgerEntry.Kind.PURCHASE, reference="pack:7"
    )
    assert again.amount == Decimal("50")
    assert balance(user).balance == Decimal("150")


@pytest.mark.django_db
def test_zero_amount_entry_is_refused(user):
    with pytest.raises(ledger.LedgerError):
        ledger.credit_post(
            workspace=user.personal_workspace, amount=Decimal("0"), kind=LedgerEntry.Kind.PURCHASE, reference="nothing"
        )
    assert not LedgerEntry.objects.filter(reference="nothing").exists()


@pytest.mark.django_db
def test_spending_more_than_available_raises_and_changes_nothing(user):
    with pytest.raises(ledger.InsufficientCredits):
        spend(user, "100.01", "ai:too-much")

    assert balance(user) == ledger.Balance(Decimal("100"), Decimal("0"))
    assert not LedgerEntry.objects.filter(reference="ai:too-much").exists()
    assert CreditAccount.objects.get(workspace=user.personal_workspace).balance == Decimal("100")

    # Spending exactly everything is fine and leaves zero.
    spend(user, "100", "ai:all")
    assert balance(user).balance == Decimal("0")


@pytest.mark.django_db
def test_held_credits_cannot_be_spent(user):
    hold(user, max_amount=60)
    with pytest.raises(ledger.InsufficientCredits):
        spend(user, 41, "ai:eats-into-hold")
    assert balance(user) == ledger.Balance(Decimal("100"), Decimal("60"))

    spend(user, 40, "ai:fits")
    assert balance(user) == ledger.Balance(Decimal("60"), Decimal("60"))
    assert balance(user).available == 0


@pytest.mark.django_db
def test_refused_reference_can_be_posted_later_once_credits_exist(user):
    """A refusal writes nothing, so the same reference is free when it is retried."""
    with pytest.raises(ledger.InsufficientCredits):
        spend(user, 150, "ai:retry")
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("100"), kind=LedgerEntry.Kind.PURCHASE, reference="pack:1"
    )
    spend(user, 150, "ai:retry")
    assert balance(user).balance == Decimal("50")


@pytest.mark.django_db
def test_staff_adjustment_needs_a_reason_and_records_who(user):
    staff = User.objects.create_user(email="staff@example.com", password="correct horse battery", is_staff=True)
    with pytest.raises(ledger.LedgerError):
        ledger.credit_adjust(workspace=user.personal_workspace, amount=Decimal("10"), memo="   ", by=staff)

    first = ledger.credit_adjust(workspace=user.personal_workspace, amount=Decimal("10"), memo="Goodwill", by=staff)
    second = ledger.credit_adjust(workspace=user.personal_workspace, amount=Decimal("-5"), memo="Typo fix", by=staff)

    assert first.reference != second.reference  # each correction is its own entry
    assert first.created_by == staff and first.memo == "Goodwill"
    assert balance(user).balance == Decimal("105")


# --- the database's own guarantees ---------------------------------------------------------


@pytest.mark.django_db
def test_database_refuses_a_negative_balance(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(workspace=user.personal_workspace).update(balance=-1)
    assert balance(user).balance == Decimal("100")


@pytest.mark.django_db
def test_database_refuses_negative_held(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(workspace=user.personal_workspace).update(held=-1)
    assert balance(user).held == Decimal("0")


@pytest.mark.django_db
def test_database_refuses_holding_more_than_the_balance(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(workspace=user.personal_workspace).update(held=Decimal("100.01"))
    assert balance(user).held == Decimal("0")


@pytest.mark.django_db
def test_database_refuses_a_second_entry_with_the_same_reference(user):
    account = CreditAccount.objects.get(workspace=user.personal_workspace)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            account=account,
            kind="purchase",
            amount=1,
            balance_after=101,
            reference=f"starter:{user.personal_workspace.pk}",
        )


@pytest.mark.django_db
def test_ledger_entries_are_append_only(user):
    entry = LedgerEntry.objects.get(account__workspace=user.personal_workspace)

    entry.amount = Decimal("1000000")
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()

    entry.refresh_from_db()
    assert entry.amount == Decimal("100")
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.django_db
def test_the_database_refuses_bulk_rewrites_of_the_ledger(user):
    from django.db import ProgrammingError

    for rewrite in (
        lambda: LedgerEntry.objects.filter(account__workspace=user.personal_workspace).update(
            amount=Decimal("1000000")
        ),
        lambda: LedgerEntry.objects.filter(account__workspace=user.personal_workspace).delete(),
    ):
        with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
            rewrite()
    assert LedgerEntry.objects.get(account__workspace=user.personal_workspace).amount == Decimal("100")


# --- call pricing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "credits"),
    [(0, 0), (1, 1), (2, 2), (37, 37), (180, 180), (-5, 0), (0.2, 1), (1.01, 2), (36.5, 37)],
)
def test_call_cost_counts_every_started_second(seconds, credits):
    cost = ledger.call_cost(seconds=seconds)
    assert isinstance(cost, Decimal)
    assert cost == Decimal(credits)


# --- holds -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_hold_place_reserves_up_to_max(user):
    h = hold(user, max_amount=30)
    assert h.amount == Decimal("30") and h.status == CreditHold.Status.ACTIVE
    assert balance(user) == ledger.Balance(Decimal("100"), Decimal("30"))


@pytest.mark.django_db
def test_hold_place_takes_what_is_available_when_less_than_max(user):
    h = hold(user, max_amount=500)
    assert h.amount == Decimal("100")
    assert balance(user).available == 0


@pytest.mark.django_db
def test_hold_place_only_reserves_whole_credits(user):
    spend(user, "0.5", "ai:half")  # 99.50 available
    h = hold(user, max_amount=500)
    assert h.amount == Decimal("99")
    assert balance(user).available == Decimal("0.50")


@pytest.mark.django_db
def test_hold_place_refuses_below_min_amount_and_changes_nothing(user):
    spend(user, 91, "ai:big")  # 9 left, minimum is 10
    with pytest.raises(ledger.InsufficientCredits):
        hold(user, max_amount=120, min_amount=10)
    assert balance(user) == ledger.Balance(Decimal("9"), Decimal("0"))
    assert not CreditHold.objects.exists()


@pytest.mark.django_db
def test_hold_place_refuses_when_nothing_is_available(user):
    hold(user, reference="call:1", max_amount=100)
    with pytest.raises(ledger.InsufficientCredits):
        hold(user, reference="call:2", max_amount=30, min_amount=0)
    assert CreditHold.objects.count() == 1


@pytest.mark.django_db
def test_hold_place_with_the_same_reference_returns_the_first_hold(user):
    first = hold(user, reference="call:9", max_amount=30)
    again = hold(user, reference="call:9", max_amount=80)
    assert again.pk == first.pk and again.amount == Decimal("30")
    assert balance(user).held == Decimal("30")


@pytest.mark.django_db
def test_hold_expiry_includes_the_grace_period(user, settings):
    settings.CREDIT_HOLD_GRACE_SECONDS = 900
    before = timezone.now()
    h = hold(user, lifetime=timedelta(seconds=300))
    assert before + timedelta(seconds=1200) <= h.expires_at <= timezone.now() + timedelta(seconds=1200)


@pytest.mark.django_db
def test_hold_settle_charges_what_was_used_and_frees_the_rest(user):
    hold(user, reference="call:1", max_amount=60)
    charge = ledger.hold_settle(reference="call:1", amount_used=Decimal("37"), memo="Call 1, 37s")

    assert charge == Decimal("37")
    assert balance(user) == ledger.Balance(Decimal("63"), Decimal("0"))
    h = CreditHold.objects.get(reference="call:1")
    assert h.status == CreditHold.Status.SETTLED and h.charged == Decimal("37") and h.closed_at is not None
    usage = LedgerEntry.objects.get(kind=LedgerEntry.Kind.CALL_USAGE)
    assert usage.amount == Decimal("-37") and usage.reference == "call:1:usage" and usage.memo == "Call 1, 37s"


@pytest.mark.django_db
def test_hold_settle_never_charges_more_than_was_held(user):
    hold(user, reference="call:1", max_amount=30)
    charge = ledger.hold_settle(reference="call:1", amount_used=Decimal("500"))
    assert charge == Decimal("30")
    assert balance(user) == ledger.Balance(Decimal("70"), Decimal("0"))


@pytest.mark.django_db
def test_hold_settle_twice_charges_once(user):
    hold(user, reference="call:1", max_amount=60)
    first = ledger.hold_settle(reference="call:1", amount_used=Decimal("37"))
    second = ledger.hold_settle(reference="call:1", amount_used=Decimal("37"))
    third = ledger.hold_settle(reference="call:1", amount_used=Decimal("50"))  # a late, different report

    assert first == second == third == Decimal("37")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).count() == 1
    assert balance(user) == ledger.Balance(Decimal("63"), Decimal("0"))


@pytest.mark.django_db
def test_hold_settle_with_nothing_used_releases_without_an_entry(user):
    hold(user, reference="call:1", max_amount=60)
    assert ledger.hold_settle(reference="call:1", amount_used=Decimal("0")) == Decimal("0")
    assert CreditHold.objects.get(reference="call:1").status == CreditHold.Status.RELEASED
    assert balance(user) == ledger.Balance(Decimal("100"), Decimal("0"))
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).exists()


@pytest.mark.django_db
def test_hold_release_then_settle_charges_nothing(user):
    hold(user, reference="call:1", max_amount=60)
    ledger.hold_release(reference="call:1")
    ledger.hold_release(reference="call:1")
    assert ledger.hold_settle(reference="call:1", amount_used=Decimal("40")) == Decimal("0")
    assert balance(user) == ledger.Balance(Decimal("100"), Decimal("0"))
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).exists()


@pytest.mark.django_db
def test_settle_of_an_unknown_hold_raises(user):
    with pytest.raises(CreditHold.DoesNotExist):
        ledger.hold_settle(reference="call:nope", amount_used=Decimal("1"))


@pytest.mark.django_db
def test_holds_release_expired_frees_only_expired_active_holds(user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("100"), kind=LedgerEntry.Kind.PURCHASE, reference="pack:1"
    )
    hold(user, reference="call:expired", max_amount=30)
    hold(user, reference="call:current", max_amount=30)
    hold(user, reference="call:settled", max_amount=30)
    ledger.hold_settle(reference="call:settled", amount_used=Decimal("12"))
    past = timezone.now() - MINUTE
    CreditHold.objects.filter(reference__in=["call:expired", "call:settled"]).update(expires_at=past)

    assert ledger.holds_release_expired() == 1

    status = dict(CreditHold.objects.values_list("reference", "status"))
    assert status == {"call:expired": "released", "call:current": "active", "call:settled": "settled"}
    assert CreditHold.objects.get(reference="call:settled").charged == Decimal("12")
    assert balance(user) == ledger.Balance(Decimal("188"), Decimal("30"))
    # Running it again finds nothing more to do.
    assert ledger.holds_release_expired() == 0


@pytest.mark.django_db
def test_holds_release_expired_uses_the_given_time(user, settings):
    settings.CREDIT_HOLD_GRACE_SECONDS = 0
    hold(user, reference="call:1", max_amount=30, lifetime=timedelta(minutes=5))
    assert ledger.holds_release_expired(now=timezone.now() + timedelta(minutes=4)) == 0
    assert ledger.holds_release_expired(now=timezone.now() + timedelta(minutes=6)) == 1
    assert balance(user).held == 0


# --- concurrency on real PostgreSQL --------------------------------------------------------


def run_at_once(count: int, work) -> list:
    """Run `work(i)` in `count` threads released together; returns each result or exception."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def target(i):
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_holds_never_reserve_more_than_the_balance(user):
    results = run_at_once(8, lambda i: hold(user, reference=f"call:{i}", max_amount=30, min_amount=30))

    placed = [r for r in results if isinstance(r, CreditHold)]
    refused = [r for r in results if isinstance(r, ledger.InsufficientCredits)]
    assert len(placed) == 3, results
    assert len(refused) == 5, results
    assert balance(user) == ledger.Balance(Decimal("100"), Decimal("90"))
    assert sum(h.amount for h in CreditHold.objects.all()) == Decimal("90")


@pytest.mark.django_db(transaction=True)
def test_concurrent_holds_with_a_lower_minimum_take_the_remainder(user):
    results = run_at_once(8, lambda i: hold(user, reference=f"call:{i}", max_amount=30, min_amount=10))

    placed = sorted(r.amount for r in results if isinstance(r, CreditHold))
    assert placed == [Decimal("10"), Decimal("30"), Decimal("30"), Decimal("30")], results
    assert balance(user) == ledger.Balance(Decimal("100"), Decimal("100"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_the_same_reference_make_one_entry(user):
    def post(i):
        return ledger.credit_post(
            workspace=user.personal_workspace, amount=Decimal("25"), kind=LedgerEntry.Kind.PURCHASE, reference="pack:x"
        )

    results = run_at_once(8, post)

    assert all(isinstance(r, LedgerEntry) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert LedgerEntry.objects.filter(reference="pack:x").count() == 1
    assert balance(user).balance == Decimal("125")


@pytest.mark.django_db(transaction=True)
def test_concurrent_spends_never_overdraw(user):
    results = run_at_once(10, lambda i: spend(user, 15, f"ai:{i}"))

    spent = [r for r in results if isinstance(r, LedgerEntry)]
    assert len(spent) == 6, results
    assert all(isinstance(r, ledger.InsufficientCredits) for r in results if r not in spent)
    assert balance(user).balance == Decimal("10")
    # Every entry's balance_after is a distinct step: no two spends read the same balance.
    after = sorted(e.balance_after for e in LedgerEntry.objects.filter(kind=LedgerEntry.Kind.AI_QUERY))
    assert after == [Decimal(v) for v in (10, 25, 40, 55, 70, 85)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_settles_of_one_hold_charge_once(user):
    hold(user, reference="call:1", max_amount=60)
    results = run_at_once(6, lambda i: ledger.hold_settle(reference="call:1", amount_used=Decimal("37")))

    assert results == [Decimal("37")] * 6
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).count() == 1
    assert balance(user) == ledger.Balance(Decimal("63"), Decimal("0"))


@pytest.mark.django_db(transaction=True)
def test_settle_racing_expiry_release_charges_at_most_once(user):
    hold(user, reference="call:1", max_amount=60)
    CreditHold.objects.filter(reference="call:1").update(expires_at=timezone.now() - MINUTE)

    def work(i):
        if i % 2:
            return ledger.holds_release_expired()
        return ledger.hold_settle(reference="call:1", amount_used=Decimal("37"))

    results = run_at_once(6, work)

    assert not any(isinstance(r, Exception) for r in results), results
    h = CreditHold.objects.get(reference="call:1")
    assert h.status in (CreditHold.Status.SETTLED, CreditHold.Status.RELEASED)
    assert balance(user).held == 0
    assert balance(user).balance == Decimal("100") - h.charged
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CALL_USAGE).count() == (1 if h.charged else 0)


@pytest.mark.django_db
def test_amounts_finer_than_a_hundredth_are_refused(user):
    with pytest.raises(ledger.LedgerError, match="two decimals"):
        ledger.credit_post(
            workspace=user.personal_workspace, amount=Decimal("-1.555"), kind="call_usage", reference="fine"
        )
    assert ledger.balance_of(workspace=user.personal_workspace).balance == 100
