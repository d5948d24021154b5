"""The purge, checked against every table. An account gets one row of every kind it can own (found
by walking foreign keys, see account_rows.py), each free-text value a marker; after the purge no
marker of it may be left anywhere in the database, except in the few fields the business keeps
on purpose (KEPT, each with its reason); another account's markers must all still be there."""

import re
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import User
from accounts.tests.account_rows import (
    LINKED_WITHOUT_FK,
    account_models,
    column_of,
    database_text,
    fill_account,
    filled_models,
    label,
    markable_fields,
    unclassified_models,
)
from billing.models import LedgerEntry
from campaigns.agents.playground import playground_say, playground_start
from campaigns.calls.assistant import assistant_ask
from campaigns.models import Call, CallTurn
from campaigns.tests.factories import make_agent
from campaigns.tests.fake_llm import fake_llm_fixture  # noqa: F401 - the `fake_llm` fixture

pytestmark = pytest.mark.django_db

# What the purge keeps of a closed account: references the books and the carriers' and Paddle's
# records are matched by, and codes. None of it is text a person wrote or said.
KEPT = {
    "accounts.User.terms_version": "the version of the terms the account agreed to (the contract record)",
    "billing.LedgerEntry.reference": "the entry's idempotency key, e.g. call:12:usage or paddle:txn_…",
    "billing.LedgerEntry.memo": "the database refuses any change to a ledger entry, so memos are written "
    "without personal text (test_ai_charges_leave_no_personal_text_in_the_ledger)",
    "billing.CreditHold.reference": "the hold's idempotency key",
    "billing.Purchase.paddle_transaction_id": "Paddle's payment id: the sale in the merchant of record's books",
    "billing.Purchase.invoice_number": "Paddle's invoice number, which tax law requires to be kept",
    "billing.Purchase.paddle_subscription_id": "Paddle's id of the plan a period was paid for: part of the sale",
    "billing.Purchase.adjustments_applied": "Paddle's ids of refunds and chargebacks already applied",
    "billing.RefundRequest.paddle_adjustment_id": "Paddle's id of the refund",
    "billing.Subscription.paddle_subscription_id": "Paddle's subscription id",
    "billing.Subscription.status": "Paddle's status code (active, canceled, …)",
    "billing.PaddleEvent.event_id": "a webhook Paddle delivers again must still be recognised",
    "billing.PaddleEvent.event_type": "Paddle's event type code",
    "telephony.ProviderEvent.provider": "the carrier's name",
    "telephony.ProviderEvent.dedupe_key": "a webhook the carrier delivers again must still be recognised",
    "telephony.ProviderEvent.kind": "the event's code (status:completed, …)",
    "telephony.PhoneNumber.number": "a carrier's number the account rented (not a person's), on the carrier's "
    "invoices and the rental ledger entries",
    "telephony.PhoneNumber.provider": "the carrier's name",
    "telephony.PhoneNumber.provider_number_id": "the carrier's id of the rented number",
    "campaigns.Call.provider": "the carrier's name",
    "campaigns.Call.provider_call_id": "the carrier's call id, to match the carrier's invoice",
    "campaigns.Call.hold_reference": "the call's credit hold, matched by the ledger",
    "campaigns.Call.answered_by": "the carrier's code for who answered (human, machine_start, …)",
    "admin.LogEntry.change_message": "the names of the fields staff changed, written by the admin",
}
MARKER = re.compile(r"zq[a-z]\d{3}x")


def account(email: str) -> User:
    user = User.objects.create_user(email=email, password="a long secret pass")
    services.account_created(user=user)
    return user


@pytest.fixture
def owner(db):
    return fill_account(account("owner@example.com"), "a")


@pytest.fixture
def rival(db):
    return fill_account(account("rival@example.com"), "b")


def markers_in_database() -> dict[str, set[tuple[str, str]]]:
    """Each marker found, with the (table, column) pairs it is in."""
    found = defaultdict(set)
    for table, column, value in database_text():
        for marker in MARKER.findall(value):
            found[marker].add((table, column))
    return found


def close_and_purge(user: User) -> None:
    closed = timezone.now() - timedelta(days=31)
    User.objects.filter(pk=user.pk).update(deletion_requested_at=closed, is_active=False)
    assert services.accounts_purge_due() == 1


def test_every_table_is_classified_and_every_account_table_is_filled(owner):
    assert unclassified_models() == []
    expected = {label(m) for m in account_models() if markable_fields(m)} | set(LINKED_WITHOUT_FK)
    assert filled_models(owner) == expected
    assert set(KEPT) <= set(owner.markers.values()), "KEPT names a field the test never fills"
    # The search sees every marker where it was put, sessions and binary columns included.
    found = markers_in_database()
    assert sorted(m for m in owner.markers if m not in found) == []


def test_the_purge_leaves_no_text_of_the_account_anywhere(owner, rival):
    close_and_purge(owner.user)

    found = markers_in_database()
    left = {
        f"{owner.markers[marker]} in {sorted(places)}"
        for marker, places in found.items()
        if marker in owner.markers
        and not (owner.markers[marker] in KEPT and places == {column_of(owner.markers[marker])})
    }
    assert sorted(left) == [], "\n".join(sorted(left))
    untouched = [where for marker, where in rival.markers.items() if marker not in found]
    assert untouched == []


def test_ai_charges_leave_no_personal_text_in_the_ledger(fake_llm, run_jobs, django_capture_on_commit_callbacks):
    """The ledger can never be changed, so what an AI charge's memo says must not be personal."""
    user = account("owner@example.com")
    call = Call.objects.create(
        workspace=user.personal_workspace,
        to_number="+12025550199",
        from_number="+14155550000",
        provider="simulated",
        status="completed",
    )
    CallTurn.objects.create(call=call, sequence=0, speaker="callee", text="Hello?")
    fake_llm.reply("They agreed to a demo.")
    with django_capture_on_commit_callbacks(execute=True):
        assistant_ask(user.personal_workspace, call=call, question="Did Zebulon Quartermaine agree to the demo?")
    run_jobs()
    session = playground_start(user.personal_workspace, make_agent(user, name="Quillon Zastrow"))
    fake_llm.reply("Happy to help.")
    playground_say(session, "Hi there", turn=session.engine_state["turn"])
    assert (
        LedgerEntry.objects.filter(account__workspace=user.personal_workspace, kind=LedgerEntry.Kind.AI_QUERY).count()
        == 2
    )

    close_and_purge(user)

    everything = "\n".join(value for _, _, value in database_text()).lower()
    assert [text for text in ("zebulon", "quartermaine", "quillon", "zastrow") if text in everything] == []
