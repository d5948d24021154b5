"""Workspaces own the work: migrating a database full of accounts (accounts 0004, campaigns
0018-0019, billing 0010, telephony 0003).

Every existing account becomes its personal workspace, with the account's id and its user as
owner, and the data migration keeps every row, balance and ledger entry as it is. The database is
migrated back to before the change, filled through the historical models (calls, ledger, holds,
purchases, subscriptions, refund requests, numbers, do-not-call entries, status changes), checked
as `verify_ledger` checks it, migrated forward, and checked again.
"""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps as current_apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import Membership, User, Workspace, WorkspaceStatusChange
from accounts.workspaces import workspace_create
from billing.ledger import balance_of
from billing.verification import ledger_problems
from campaigns.calls.counters import counter_problems
from campaigns.models import DoNotCall
from telephony.models import PhoneNumber

BEFORE = [
    ("accounts", "0003_account_call_limit"),
    ("campaigns", "0017_call_list_indexes"),
    ("billing", "0009_ledger_forfeit"),
    ("telephony", "0002_phonenumber"),
]
OUR_TABLES = ("accounts_", "billing_", "campaigns_", "telephony_")
# The only column the change takes away: the call limit moved to the workspace.
DROPPED = {"accounts_user": {"max_concurrent_calls"}}
# Columns later migrations add (the test migrates to the latest): new, so no row had them before.
ADDED_LATER = {
    "campaigns_campaign": {"purpose", "paused_by_stop_id"},
    "campaigns_agent": {"mention_who_called"},
    "billing_creditaccount": {"low_balance_threshold"},
}


def migrate(targets=None) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return executor


# --- Reading the database as it is, whatever the models say -----------------------------------
def table_rows() -> dict[str, tuple[list[str], list[dict]]]:
    """Every table of ours: its columns, and every row as column -> value."""
    snapshot = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if not table.startswith(OUR_TABLES):
                continue
            cursor.execute(f'SELECT * FROM "{table}"')
            columns = [column.name for column in cursor.description]
            snapshot[table] = (columns, [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])
    return snapshot


def sql(query: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def ledger_problems_in_sql() -> tuple[int, list[str]]:
    """billing.verification.ledger_problems, in SQL that reads the tables under either schema
    (the credit account's column is `user_id` before and after), plus each account's chain of
    balance_after. Returns how many accounts were checked, and the problems."""
    problems = []
    accounts = sql(
        """
        SELECT a.id, a.user_id, a.balance, a.held,
               (SELECT COALESCE(SUM(e.amount), 0) FROM billing_ledgerentry e WHERE e.account_id = a.id),
               (SELECT COALESCE(SUM(h.amount), 0) FROM billing_credithold h
                WHERE h.account_id = a.id AND h.status = 'active')
        FROM billing_creditaccount a ORDER BY a.id
        """
    )
    for account_id, owner_id, balance, held, entries, active in accounts:
        if balance != entries:
            problems.append(f"account {account_id} of {owner_id}: balance {balance} but entries add up to {entries}")
        if balance < 0:
            problems.append(f"account {account_id} of {owner_id}: negative balance {balance}")
        if held != active:
            problems.append(f"account {account_id} of {owner_id}: {held} held but active holds add up to {active}")
    for reference, charged, count, amount in sql(
        """
        SELECT h.reference, h.charged, COUNT(e.id), COALESCE(SUM(e.amount), 0)
        FROM billing_credithold h
        LEFT JOIN billing_ledgerentry e
               ON e.reference = h.reference || ':usage' AND e.kind IN ('call_usage', 'ai_query')
        WHERE h.status <> 'active' GROUP BY h.id ORDER BY h.id
        """
    ):
        expected = 1 if charged > 0 else 0
        if count != expected:
            problems.append(f"hold {reference}: {count} usage entries, expected {expected}")
        elif expected and -amount != charged:
            problems.append(f"hold {reference}: charged {charged} but its usage entry is {amount}")
    for account_id, entry_id, after, running in sql(
        """
        SELECT account_id, id, balance_after, SUM(amount) OVER (PARTITION BY account_id ORDER BY id)
        FROM billing_ledgerentry ORDER BY account_id, id
        """
    ):
        if after != running:
            problems.append(f"account {account_id}: entry {entry_id} says {after} after it, the entries {running}")
    return len(accounts), problems


# --- The database before the change, filled through the historical models ------------------------
class Books:
    """One account's credits, posted as the ledger posts them: each entry's balance_after is the
    running sum, the balance is the sum of the entries, `held` the sum of its active holds."""

    def __init__(self, apps, user):
        self.Entry = apps.get_model("billing", "LedgerEntry")
        self.Hold = apps.get_model("billing", "CreditHold")
        self.account = apps.get_model("billing", "CreditAccount").objects.create(user=user)

    def post(self, kind: str, amount: str, reference: str):
        self.account.balance += Decimal(amount)
        self.Entry.objects.create(
            account=self.account,
            kind=kind,
            amount=Decimal(amount),
            balance_after=self.account.balance,
            reference=reference,
            memo=kind,
        )
        self.account.save()

    def hold(self, reference: str, amount: str, *, charged: str | None = None, released: bool = False):
        hold = self.Hold.objects.create(
            account=self.account,
            reference=reference,
            amount=Decimal(amount),
            expires_at=timezone.now() + timedelta(hours=1),
        )
        if charged is not None:
            self.post("call_usage", f"-{charged}", f"{reference}:usage")
            hold.status, hold.charged, hold.closed_at = "settled", Decimal(charged), timezone.now()
        elif released:
            hold.status, hold.closed_at = "released", timezone.now()
        else:
            self.account.held += Decimal(amount)
            self.account.save()
        hold.save()
        return hold


def fill_account(apps, user, n: int, *, plan, package, live: bool = True) -> dict:
    """An account's work and money, as the product made them before workspaces."""
    m = {name: apps.get_model("campaigns", name) for name in ("Agent", "ContactList", "Contact", "Campaign")}
    CampaignContact = apps.get_model("campaigns", "CampaignContact")
    Call = apps.get_model("campaigns", "Call")
    billing = {name: apps.get_model("billing", name) for name in ("Purchase", "Subscription", "RefundRequest")}
    PhoneNumber = apps.get_model("telephony", "PhoneNumber")

    books = Books(apps, user)
    books.post("starter_grant", "100", f"starter:{user.pk}")
    purchase = billing["Purchase"].objects.create(
        user=user,
        package=package,
        paddle_transaction_id=f"txn_{n}",
        status="completed",
        credits=Decimal("1000"),
        total=Decimal("49.00"),
        currency="USD",
        completed_at=timezone.now(),
    )
    books.post("purchase", "1000", f"purchase:txn_{n}")
    subscription = billing["Subscription"].objects.create(
        user=user, plan=plan, paddle_subscription_id=f"sub_{n}", status="active"
    )
    plan_payment = billing["Purchase"].objects.create(
        user=user,
        plan=plan,
        paddle_transaction_id=f"txn_{n}_plan",
        paddle_subscription_id=f"sub_{n}",
        status="completed",
        credits=Decimal("500"),
        completed_at=timezone.now(),
    )
    books.post("subscription_grant", "500", f"subscription:txn_{n}_plan")
    refund = billing["RefundRequest"].objects.create(user=user, purchase=purchase, reason="Bought too many")
    number = PhoneNumber.objects.create(
        owner=user, number=f"+1202555{n:04d}", provider="simulated", monthly_fee=Decimal("5")
    )
    books.post("number_rental", "-5", f"rental:{number.pk}:1")

    agent = m["Agent"].objects.create(owner=user, name=f"Agent {n}", opening_line="Hello", closing_line="Bye")
    contact_list = m["ContactList"].objects.create(owner=user, name=f"List {n}")
    contacts = [
        m["Contact"].objects.create(contact_list=contact_list, phone_number=f"+1415555{n:02d}{k:02d}", first_name="C")
        for k in range(4)
    ]
    campaign = m["Campaign"].objects.create(
        owner=user,
        name=f"Campaign {n}",
        agent=agent,
        contact_list=contact_list,
        caller_number=number.number,
        status="running" if live else "stopped",
    )
    targets = [
        CampaignContact.objects.create(campaign=campaign, contact=contact, status=status, attempts=1)
        for contact, status in zip(contacts, ["done", "failed", "claimed" if live else "done", "pending"], strict=True)
    ]
    an_hour_ago = timezone.now() - timedelta(hours=1, minutes=n)
    calls = []
    for target, status, seconds, outcome in (
        (targets[0], "completed", 42, "interested"),
        (targets[1], "no_answer", 0, ""),
        *([(targets[2], "in_progress", 0, "")] if live else []),
    ):
        reference = f"call:{n}:{target.pk}"
        if status == "completed":
            books.hold(reference, "60", charged=str(seconds))
        elif status == "no_answer":
            books.hold(reference, "60", released=True)
        else:
            books.hold(reference, "60")
        call = Call.objects.create(
            owner=user,
            campaign=campaign,
            agent=agent,
            target=target,
            contact=target.contact,
            to_number=target.contact.phone_number,
            from_number=number.number,
            provider="simulated",
            provider_call_id=f"sim-{reference}",
            status=status,
            answered_by="human" if seconds else "",
            outcome=outcome,
            duration_seconds=seconds,
            credits_charged=Decimal(seconds),
            hold_reference=reference,
            captured=[["name", "Ada"]] if seconds else [],
        )
        Call.objects.filter(pk=call.pk).update(created_at=an_hour_ago)
        calls.append(call)
    # A test call from the agent page: no campaign, still the account's.
    calls.append(
        Call.objects.create(
            owner=user,
            agent=agent,
            to_number="+14155550000",
            from_number=number.number,
            provider="simulated",
            status="busy",
        )
    )
    dnc = apps.get_model("campaigns", "DoNotCall").objects.create(
        owner=user, phone_number=f"+1415555{n:02d}99", reason="asked"
    )
    session = apps.get_model("campaigns", "PlaygroundSession").objects.create(owner=user, agent=agent)
    question = apps.get_model("campaigns", "AssistantQuestion").objects.create(
        owner=user, campaign=campaign, question="How many?"
    )
    return {
        "books": books,
        "balance": books.account.balance,
        "held": books.account.held,
        "owned": {
            "campaigns.Agent": [agent.pk],
            "campaigns.ContactList": [contact_list.pk],
            "campaigns.Campaign": [campaign.pk],
            "campaigns.Call": [call.pk for call in calls],
            "campaigns.DoNotCall": [dnc.pk],
            "campaigns.PlaygroundSession": [session.pk],
            "campaigns.AssistantQuestion": [question.pk],
            "telephony.PhoneNumber": [number.pk],
            "billing.CreditAccount": [books.account.pk],
            "billing.Purchase": [purchase.pk, plan_payment.pk],
            "billing.Subscription": [subscription.pk],
            "billing.RefundRequest": [refund.pk],
        },
    }


def fill_database(apps) -> dict:
    """Four accounts: an active business with a company and a call limit, a suspended one, a
    deleted one whose rows were anonymised and kept, and a staff member with nothing of their own.
    Returns what to compare after the migration."""
    User = apps.get_model("accounts", "User")
    now = timezone.now()
    staff = User.objects.create(
        email="staff@example.com", password="!", is_staff=True, date_joined=now - timedelta(days=900)
    )
    active = User.objects.create(
        email="ada@example.com",
        password="!",
        first_name="Ada",
        last_name="Lovelace",
        company_name="Analytical Engines Ltd",
        default_country="GB",
        time_zone="Europe/London",
        max_concurrent_calls=7,
        date_joined=now - timedelta(days=400),
    )
    suspended = User.objects.create(
        email="bob@example.com",
        password="!",
        first_name="Bob",
        last_name="Barker",
        status="suspended",
        status_reason="Complaints about the calls",
        status_changed_at=now - timedelta(days=2),
        date_joined=now - timedelta(days=100),
    )
    deleted = User.objects.create(
        email="carol@example.com",
        password="!",
        company_name="Carol's Calls",
        date_joined=now - timedelta(days=300),
    )
    change = apps.get_model("accounts", "AccountStatusChange").objects.create(
        user=suspended, status="suspended", reason="Complaints about the calls", changed_by=staff
    )
    apps.get_model("accounts", "AccountStatusChange").objects.filter(pk=change.pk).update(
        changed_at=now - timedelta(days=2)
    )

    plan = apps.get_model("billing", "Plan").objects.create(
        name="Starter", paddle_price_id="pri_plan", monthly_price=Decimal("29"), included_credits=Decimal("500")
    )
    package = apps.get_model("billing", "CreditPackage").objects.create(
        name="1000 credits", credits=Decimal("1000"), price=Decimal("49")
    )
    accounts = {
        active.pk: fill_account(apps, active, 1, plan=plan, package=package),
        suspended.pk: fill_account(apps, suspended, 2, plan=plan, package=package),
        deleted.pk: fill_account(apps, deleted, 3, plan=plan, package=package, live=False),
    }
    # The deleted account: its remaining credits forfeited, then purged (account_purge's marks).
    books = accounts[deleted.pk]["books"]
    books.post("forfeit", f"-{books.account.balance}", f"forfeit:{deleted.pk}")
    accounts[deleted.pk]["balance"] = books.account.balance
    User.objects.filter(pk=deleted.pk).update(
        email=f"deleted-{deleted.pk}@deleted.invalid",
        company_name="",
        first_name="",
        is_active=False,
        status="terminated",
        deletion_requested_at=now - timedelta(days=40),
        purged_at=now - timedelta(days=10),
    )
    accounts[staff.pk] = {"balance": Decimal("0"), "held": Decimal("0"), "owned": {}}
    # The platform's own rows, which no account owns.
    apps.get_model("telephony", "PhoneNumber").objects.create(number="+12025550999", provider="simulated")
    apps.get_model("campaigns", "DoNotCall").objects.create(phone_number="+14155559999", reason="regulator")
    return {
        "users": {user.pk: user for user in User.objects.all()},
        "accounts": accounts,
        "ids": {"active": active.pk, "suspended": suspended.pk, "deleted": deleted.pk, "staff": staff.pk},
    }


# --- The test ------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_every_account_becomes_its_personal_workspace_and_keeps_every_row():
    executor = migrate(BEFORE)
    try:
        old = fill_database(executor.loader.project_state(BEFORE).apps)

        # verify_ledger before, on the old schema: the books balance, and are not empty.
        checked, problems = ledger_problems_in_sql()
        assert (checked, problems) == (3, [])
        before = table_rows()
        counters = ("campaigns_callcount", "campaigns_callhourcount", "campaigns_targetcount")
        assert all(before[table][1] for table in counters)
        assert len(before["billing_ledgerentry"][1]) == 3 * 5 + 1 and len(before["campaigns_call"][1]) == 11
    finally:
        # Whatever happened, later tests find the database as the code expects it.
        migrate()

    # verify_ledger after, the same SQL on the new schema, the product's check and its command.
    assert ledger_problems_in_sql() == (3, [])
    assert ledger_problems() == []
    assert counter_problems() == []
    for command, said in (("verify_ledger", "Ledger is consistent."), ("verify_counters", "Counters match")):
        out, err = io.StringIO(), io.StringIO()
        call_command(command, stdout=out, stderr=err)  # raises CommandError on any problem
        assert said in out.getvalue() and err.getvalue() == ""

    # Every row of every table is as it was: same ids, same owner_id / user_id values (naming
    # workspaces now), same amounts, same balances and ledger entries, same counters.
    after = table_rows()
    for table, (columns, rows) in before.items():
        assert table in after, f"{table} is gone"
        kept = [c for c in columns if c not in DROPPED.get(table, set())]
        now = [c for c in after[table][0] if c not in ADDED_LATER.get(table, set())]
        assert now == kept, f"{table}: columns {after[table][0]}, were {columns}"
        want = sorted((tuple(row[c] for c in kept) for row in rows), key=repr)
        have = sorted((tuple(row[c] for c in kept) for row in after[table][1]), key=repr)
        assert have == want, f"{table} changed"

    # One personal workspace per account, with the account's id, its user as owner.
    ids = old["ids"]
    assert set(Workspace.objects.values_list("pk", flat=True)) == set(old["users"])
    for user_id, old_user in old["users"].items():
        user = User.objects.get(pk=user_id)
        workspace = Workspace.objects.get(personal_for=user)
        assert workspace.pk == user.pk
        assert list(Membership.objects.filter(workspace=workspace).values_list("user_id", "role")) == [
            (user.pk, Membership.Role.OWNER)
        ]
        assert list(Membership.objects.filter(user=user).values_list("workspace_id", flat=True)) == [workspace.pk]
        assert (
            workspace.company_name,
            workspace.default_country,
            workspace.time_zone,
            workspace.status,
            workspace.status_reason,
            workspace.status_changed_at,
            workspace.max_concurrent_calls,
            workspace.closing_requested_at,
            workspace.purged_at,
            workspace.created_at,
        ) == (
            old_user.company_name,
            old_user.default_country,
            old_user.time_zone,
            old_user.status,
            old_user.status_reason,
            old_user.status_changed_at,
            old_user.max_concurrent_calls,
            old_user.deletion_requested_at,
            old_user.purged_at,
            old_user.date_joined,
        )
        account = old["accounts"][user_id]
        balance = balance_of(workspace=workspace)
        assert (balance.balance, balance.held) == (account["balance"], account["held"])
        # Every row the account owned resolves to its workspace.
        for label, pks in account["owned"].items():
            model = current_apps.get_model(label)
            rows = model.objects.filter(pk__in=pks).select_related("workspace")
            assert sorted(row.pk for row in rows) == sorted(pks), label
            assert {row.workspace for row in rows} == {workspace}, label
            assert set(model.objects.filter(workspace=workspace).values_list("pk", flat=True)) == set(pks), label

    active = Workspace.objects.get(pk=ids["active"])
    assert (active.name, active.max_concurrent_calls, active.call_limit) == ("Analytical Engines Ltd", 7, 7)
    assert active.can_dial and active.credit_account.balance == old["accounts"][ids["active"]]["balance"]
    suspended = Workspace.objects.get(pk=ids["suspended"])
    assert (suspended.name, suspended.status, suspended.status_reason) == (
        "Bob Barker",
        Workspace.Status.SUSPENDED,
        "Complaints about the calls",
    )
    assert not suspended.can_dial
    change = WorkspaceStatusChange.objects.get(workspace=suspended)
    assert (change.status, change.reason, change.changed_by_id) == (
        "suspended",
        "Complaints about the calls",
        ids["staff"],
    )
    assert change.changed_at == old["users"][ids["suspended"]].status_changed_at
    deleted = Workspace.objects.get(pk=ids["deleted"])
    assert deleted.name == f"Deleted workspace {ids['deleted']}" and deleted.purged_at is not None
    assert balance_of(workspace=deleted).balance == 0
    staff = Workspace.objects.get(pk=ids["staff"])
    assert staff.name == "staff@example.com" and not hasattr(staff, "credit_account")

    # The platform's shared number and do-not-call entry still belong to no workspace.
    assert PhoneNumber.objects.get(number="+12025550999").workspace_id is None
    assert DoNotCall.objects.get(phone_number="+14155559999").workspace_id is None

    # New workspaces continue past the migrated ids: the sequence was moved on.
    newcomer = User.objects.create_user(email="new@example.com", password="a long password")
    team = workspace_create(name="A team", owner=newcomer)
    assert min(newcomer.personal_workspace.pk, team.pk) > max(old["users"])
    assert newcomer.personal_workspace.pk != team.pk
