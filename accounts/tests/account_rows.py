"""Every kind of row an account owns, found by walking foreign keys, and one of each filled with
marker strings: what the purge and export completeness tests are built on.

A model belongs to an account when a chain of foreign keys leads from it to the User (an agent's
knowledge passage: passage → source → agent → owner). The walk finds a model added later without
anyone remembering to list it; foreign keys that only say *who did something* (a staff member
who decided a refund) are not ownership and are listed in ACTOR_FIELDS. Rows that name an
account without a foreign key, and the platform's own tables, are listed by hand below, and
`unclassified_models()` fails the tests when a new table is in none of these lists.

Every free-text field (char, text, JSON, binary) of every row gets its own marker: "zqa007x" is
marker 7 of account "a". After the purge no marker of the purged account may be left anywhere in
the database; in the export, every one must be there.
"""

import functools
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection, models
from django.utils import timezone

from accounts.models import User

# Foreign keys to a user that name who acted, not whose the row is.
ACTOR_FIELDS = {
    "admin.LogEntry.user": "the staff member who changed something in the admin",
    "accounts.AccountStatusChange.changed_by": "the staff member who changed the status",
    "billing.LedgerEntry.created_by": "the staff member who adjusted a balance",
    "billing.RefundRequest.decided_by": "the staff member who decided the request",
    "billing.PriceChange.created_by": "the staff member who scheduled a price change (the platform's prices)",
    "campaigns.ContactList.consent_confirmed_by": "who confirmed consent (the list has its owner)",
    "campaigns.DoNotCall.added_by": "who added the number (the entry has its owner)",
    "policies.PolicyVersion.published_by": "the staff member who published a version of a policy",
}

# Rows that belong to an account without a foreign key leading to it.
LINKED_WITHOUT_FK = {
    "telephony.ProviderEvent": "call_id names one of the account's calls",
    "billing.PaddleEvent": "the payload names the account's Paddle transactions and subscriptions",
    "admin.LogEntry": "content_type and object_id name one of the account's rows",
    "sessions.Session": "the signed session data names the signed-in account",
}

# Copies of the account's rows kept by the database (campaigns/models.py: the counters, filled by
# triggers from its calls): never filled directly, and purged with the rows they copy (the purge
# test finds no marker left anywhere).
DERIVED = {
    "campaigns.CallCount": "calls counted per owner_id, campaign, agent, status and outcome",
    "campaigns.CallHourCount": "the same per hour",
}

# The platform's own tables: no account's data in them.
PLATFORM = {
    "auth.Permission",
    "auth.Group",
    "contenttypes.ContentType",
    "socialaccount.SocialApp",
    "billing.CreditPackage",
    "billing.Plan",
    # Versions of the terms and policies: written by staff for everyone, not any account's data
    # (what a person accepted is policies.PolicyAcceptance, theirs).
    "policies.PolicyVersion",
    "billing.PriceChange",
}

TEXT_TYPES = {"CharField", "TextField", "SlugField", "JSONField", "BinaryField"}
MARKER_LENGTH = len("zqa000x")


def label(model) -> str:
    return model._meta.label


def field_label(f) -> str:
    return f"{label(f.model)}.{f.name}"


def concrete_models() -> list[type[models.Model]]:
    """Every model with a table of its own, many-to-many tables included."""
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]


def markable_fields(model) -> list[models.Field]:
    """The free-text fields of a model: each gets a marker. Fields with choices hold one of a fixed
    set of codes, and fields shorter than a marker hold codes too (a currency, a country)."""
    found = []
    for f in model._meta.concrete_fields:
        if f.primary_key or f.is_relation:
            continue
        if isinstance(f, models.FileField):
            raise AssertionError(
                f"{field_label(f)} is a file: teach accounts/tests/account_rows.py to put a marked file in it, "
                "and the completeness tests to look for it in storage after the purge and in the export"
            )
        if f.get_internal_type() not in TEXT_TYPES or f.choices:
            continue
        if f.max_length is not None and f.max_length < MARKER_LENGTH:
            continue
        found.append(f)
    return found


@functools.cache
def account_models() -> tuple[type[models.Model], ...]:
    """Every model a chain of ownership foreign keys leads from to the User (the User included)."""
    owned = {User}
    grew = True
    while grew:
        grew = False
        for model in concrete_models():
            if model in owned:
                continue
            if any(
                f.is_relation and f.related_model in owned and field_label(f) not in ACTOR_FIELDS
                for f in model._meta.concrete_fields
            ):
                owned.add(model)
                grew = True
    return tuple(sorted(owned, key=label))


def unclassified_models() -> list[str]:
    """Tables with free text that are neither an account's, linked to one, nor the platform's."""
    known = {label(m) for m in account_models()} | set(LINKED_WITHOUT_FK) | set(DERIVED) | PLATFORM
    return sorted(label(m) for m in concrete_models() if markable_fields(m) and label(m) not in known)


def _plain_value(f: models.Field, n: int):
    """A valid value for a required field that is not free text."""
    if f.choices:
        return f.choices[0][0]
    kind = f.get_internal_type()
    if kind in TEXT_TYPES:
        return f"plain-{n}"[: f.max_length]
    if kind == "DecimalField":
        return Decimal("1")
    if kind.endswith("IntegerField"):
        return 1
    if kind == "BooleanField":
        return False
    if kind == "DateTimeField":
        return timezone.now()
    if kind == "DateField":
        return date.today()
    if kind == "TimeField":
        return time(9)
    if kind == "DurationField":
        return timedelta(0)
    if kind == "UUIDField":
        return uuid.uuid4()
    if kind == "GenericIPAddressField":
        return "192.0.2.1"
    raise AssertionError(f"no plain value for {field_label(f)} ({kind}): add one in account_rows.py")


_platform_counter = itertools.count(1)


def platform_row(model):
    """A row of a platform table for an account's row to point at (a plan, a credit pack)."""
    n = next(_platform_counter)
    values = {
        f.name: _plain_value(f, n)
        for f in model._meta.concrete_fields
        if not (f.primary_key or f.is_relation or f.has_default() or f.null or getattr(f, "auto_now_add", False))
    }
    return model._base_manager.create(**values)


# Values the database's own rules need, beyond markers and plain values.
def _ledger_entry(account_rows: "AccountRows") -> dict:
    # Posting nothing keeps the books balanced (verify_ledger runs after every test).
    account = account_rows.rows[apps.get_model("billing", "CreditAccount")]
    account.refresh_from_db()
    return {"amount": Decimal("0"), "balance_after": account.balance}


SPECIAL = {
    "billing.LedgerEntry": _ledger_entry,
    # A settled hold: an active one would have to be part of the balance held.
    "billing.CreditHold": lambda _: {"status": "released", "amount": Decimal("1")},
    # A purchase is of a credit pack or of a plan's period, never neither.
    "billing.Purchase": lambda _: {"package": platform_row(apps.get_model("billing", "CreditPackage"))},
}


@dataclass
class AccountRows:
    """One of every kind of row of one account, and where each marker was put."""

    user: User
    prefix: str
    rows: dict = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)  # marker -> "app.Model.field"
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def marker(self, where: str) -> str:
        value = f"zq{self.prefix}{next(self._counter):03d}x"
        self.markers[value] = where
        return value

    def mark(self, f: models.Field):
        value = self.marker(field_label(f))
        kind = f.get_internal_type()
        if kind == "JSONField":
            return [value] if isinstance(f.get_default(), list) else {"note": value}
        if kind == "BinaryField":
            return f"phone\n{value}\n".encode()
        return value

    def row(self, model):
        """The account's row of `model`, made (with its markers) on first asking."""
        if model in self.rows:
            return self.rows[model]
        if model is User:
            for f in markable_fields(User):
                setattr(self.user, f.attname, self.mark(f))
            self.user.save()
            self.rows[User] = self.user
            return self.user
        owned = set(account_models())
        values = {}
        for f in model._meta.concrete_fields:
            if f.primary_key:
                continue
            if f.is_relation:
                if field_label(f) in ACTOR_FIELDS:
                    values[f.name] = None if f.null else self.user
                elif f.related_model in owned:
                    values[f.name] = self.row(f.related_model)
                elif not f.null:
                    values[f.name] = platform_row(f.related_model)
            elif f in markable_fields(model):
                values[f.name] = self.mark(f)
            elif not (f.has_default() or f.null or getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)):
                values[f.name] = _plain_value(f, len(self.markers))
        one_to_one = [f for f in model._meta.concrete_fields if f.one_to_one and f.name in values]
        existing = model._base_manager.filter(**{f.name: values[f.name] for f in one_to_one}).first()
        if one_to_one and existing is not None:  # the account has it already (its credit account)
            for f in markable_fields(model):
                setattr(existing, f.attname, values[f.name])
            existing.save()
            self.rows[model] = existing
            return existing
        if label(model) in SPECIAL:
            values.update(SPECIAL[label(model)](self))
        self.rows[model] = model._base_manager.create(**values)
        return self.rows[model]


def fill_account(user: User, prefix: str) -> AccountRows:
    """Give `user` one row of every model it can own, and of every row linked to it otherwise,
    each free-text field holding its own marker."""
    filled = AccountRows(user=user, prefix=prefix)
    for model in account_models():
        if markable_fields(model):
            filled.row(model)
    _linked_rows(filled)
    return filled


def _linked_rows(filled: AccountRows) -> None:
    from billing.models import PaddleEvent, Purchase, Subscription
    from campaigns.models import Call
    from telephony.models import ProviderEvent

    mark = filled.marker
    call = filled.rows[Call]
    ProviderEvent.objects.create(
        provider=mark("telephony.ProviderEvent.provider"),
        dedupe_key=mark("telephony.ProviderEvent.dedupe_key"),
        call_id=call.pk,
        kind=mark("telephony.ProviderEvent.kind"),
        payload={"To": mark("telephony.ProviderEvent.payload")},
    )
    # Paddle names the account's payments in four ways: a payment, a refund or chargeback of one,
    # a subscription, and a subscription's monthly payment.
    txn = filled.rows[Purchase].paddle_transaction_id
    sub = filled.rows[Subscription].paddle_subscription_id
    for data in (
        {"id": txn},
        {"id": mark("billing.PaddleEvent.payload"), "transaction_id": txn},
        {"id": sub},
        {"id": mark("billing.PaddleEvent.payload"), "subscription_id": sub},
    ):
        data["payments"] = [{"method_details": {"card": {"cardholder_name": mark("billing.PaddleEvent.payload")}}}]
        PaddleEvent.objects.create(
            event_id=mark("billing.PaddleEvent.event_id"),
            event_type=mark("billing.PaddleEvent.event_type"),
            payload={"data": data},
            processed_at=timezone.now(),
        )
    # What the admin writes when staff change one of the account's rows.
    staff, _ = User.objects.get_or_create(email="staff@example.com", defaults={"is_staff": True})
    for model, row in filled.rows.items():
        if admin.site.is_registered(model):
            LogEntry.objects.create(
                user=staff,
                content_type=ContentType.objects.get_for_model(model),
                object_id=str(row.pk),
                object_repr=mark("admin.LogEntry.object_repr"),
                action_flag=CHANGE,
                change_message=mark("admin.LogEntry.change_message"),
            )
    # A session of a browser that signed in before the account was closed.
    session = SessionStore()
    session["_auth_user_id"] = str(filled.user.pk)
    session["signing_in_as"] = mark("sessions.Session.session_data")
    session.create()


def filled_models(filled: AccountRows) -> set[str]:
    return {where.rsplit(".", 1)[0] for where in filled.markers.values()}


# --- Reading everything back -----------------------------------------------------------------
def column_of(where: str) -> tuple[str, str]:
    """("app.Model.field") -> (table, column)."""
    model_label, name = where.rsplit(".", 1)
    model = apps.get_model(model_label)
    return model._meta.db_table, model._meta.get_field(name).column


def database_text() -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every non-empty value of every column of every table
    in the database, sessions decoded."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        )
        columns = cursor.fetchall()
        found = []
        for table, column, data_type in columns:
            expression = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
            cursor.execute(f'SELECT {expression} FROM "{table}" WHERE "{column}" IS NOT NULL')
            found += [(table, column, value) for (value,) in cursor.fetchall() if value]
    for session in Session.objects.all():
        found.append((Session._meta.db_table, "session_data (decoded)", repr(session.get_decoded())))
    return found
