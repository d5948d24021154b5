"""Credit accounts, payments, refund requests and subscriptions belong to workspaces.

As in campaigns 0018: each account's workspace has the account's id (accounts 0004), so the
user_id columns keep their values and names and only their foreign keys move: first loosened
(no constraint), the ids moved where they differ (accounts/migrations/_owner_ids.py), then bound
to the workspace table.
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

owner_ids = importlib.import_module("accounts.migrations._owner_ids")
OWNER_COLUMNS = [
    ("billing_creditaccount", "user_id"),
    ("billing_purchase", "user_id"),
    ("billing_refundrequest", "user_id"),
    ("billing_subscription", "user_id"),
]
OWNED = {
    # model: (field class, related_name)
    "creditaccount": (models.OneToOneField, "credit_account"),
    "purchase": (models.ForeignKey, "purchases"),
    "refundrequest": (models.ForeignKey, "refund_requests"),
    "subscription": (models.ForeignKey, "subscriptions"),
}


def owners_to_workspaces(apps, schema_editor):
    owner_ids.move(apps, schema_editor, tables=OWNER_COLUMNS, to_users=False)


def owners_to_users(apps, schema_editor):
    owner_ids.move(apps, schema_editor, tables=OWNER_COLUMNS, to_users=True)


def _key(model: str, *, to: str, **options):
    field_class, related_name = OWNED[model]
    return field_class(on_delete=django.db.models.deletion.PROTECT, related_name=related_name, to=to, **options)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_workspaces"),
        ("billing", "0009_ledger_forfeit"),
    ]

    operations = [
        *[
            migrations.AlterField(
                model_name=model, name="user", field=_key(model, to=settings.AUTH_USER_MODEL, db_constraint=False)
            )
            for model in OWNED
        ],
        migrations.RunPython(owners_to_workspaces, owners_to_users),
        *[
            op
            for model in OWNED
            for op in (
                migrations.AlterField(
                    model_name=model, name="user", field=_key(model, to="accounts.workspace", db_column="user_id")
                ),
                migrations.RenameField(model_name=model, old_name="user", new_name="workspace"),
            )
        ],
    ]
