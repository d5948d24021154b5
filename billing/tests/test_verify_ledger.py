from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing import ledger
from billing.models import CreditAccount


@pytest.mark.django_db
def test_clean_books_pass(user):
    minute = timedelta(seconds=60)
    hold = ledger.hold_place(
        workspace=user.personal_workspace, reference="call:1", max_amount=Decimal(50), min_amount=1, lifetime=minute
    )
    ledger.hold_settle(reference=hold.reference, amount_used=Decimal(20))
    ledger.hold_place(
        workspace=user.personal_workspace, reference="call:2", max_amount=Decimal(10), min_amount=1, lifetime=minute
    )
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "consistent" in out.getvalue()


@pytest.mark.django_db
@pytest.mark.ledger_corrupted
def test_a_balance_that_disagrees_with_its_entries_fails(user):
    # Simulate corruption behind the ledger's back (raw SQL; the ledger itself cannot do this).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_creditaccount SET balance = balance + 7 WHERE user_id = %s", [user.personal_workspace.pk]
        )
    err = StringIO()
    with pytest.raises(CommandError, match="1 ledger problem"):
        call_command("verify_ledger", stderr=err)
    assert "entries add up to 100" in err.getvalue()


@pytest.mark.django_db
@pytest.mark.ledger_corrupted
def test_held_credits_without_a_hold_fail(user):
    CreditAccount.objects.filter(workspace=user.personal_workspace).update(held=Decimal(5))
    with pytest.raises(CommandError):
        call_command("verify_ledger", stderr=StringIO())
