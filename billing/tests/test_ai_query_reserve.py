"""AI answers are paid for exactly: reserved before the model is asked, charged once when the
answer is delivered, and free when the model failed."""

from decimal import Decimal

import pytest

from billing import ledger
from billing.models import LedgerEntry


@pytest.mark.django_db
def test_a_delivered_answer_costs_half_a_credit_once(user):
    ledger.ai_query_reserve(workspace=user.personal_workspace, reference="ask:1")
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(100), Decimal("0.5"))

    assert ledger.ai_query_settle(reference="ask:1", memo="Summary of call 7") == Decimal("0.5")
    assert ledger.ai_query_settle(reference="ask:1") == Decimal("0.5")  # a repeat changes nothing

    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal("99.5"), Decimal(0))
    [entry] = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.AI_QUERY)
    assert entry.amount == Decimal("-0.5") and entry.memo == "Summary of call 7"


@pytest.mark.django_db
def test_a_failed_answer_costs_nothing(user):
    ledger.ai_query_reserve(workspace=user.personal_workspace, reference="ask:2")
    ledger.hold_release(reference="ask:2")
    assert ledger.ai_query_settle(reference="ask:2") == 0  # released holds stay released
    assert ledger.balance_of(workspace=user.personal_workspace) == ledger.Balance(Decimal(100), Decimal(0))
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.AI_QUERY).exists()


@pytest.mark.django_db
def test_half_a_credit_must_be_available(user):
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("-99.6"), kind="staff_adjustment", reference="spend"
    )
    with pytest.raises(ledger.InsufficientCredits):
        ledger.ai_query_reserve(workspace=user.personal_workspace, reference="ask:3")
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("0.1"), kind="staff_adjustment", reference="top"
    )
    ledger.ai_query_reserve(workspace=user.personal_workspace, reference="ask:3")  # exactly 0.5 available is enough
    assert ledger.balance_of(workspace=user.personal_workspace).available == 0
