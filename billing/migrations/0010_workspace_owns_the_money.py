"""Credit accounts, payments, refund requests and subscriptions belong to workspaces.

As in campaigns 0018: each account's workspace has the account's id (accounts 0004), so the
user_id columns keep their values and names and only their foreign keys move.
"""

import django.db.models.deletion
from django.db import migrations, models


def _moves(model: str, field) -> list:
    return [
        migrations.AlterField(model_name=model, name="user", field=field),
        migrations.RenameField(model_name=model, old_name="user", new_name="workspace"),
    ]


def _workspace_key(related_name: str):
    return models.ForeignKey(
        on_delete=django.db.models.deletion.PROTECT,
        related_name=related_name,
        to="accounts.workspace",
        db_column="user_id",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_workspaces"),
        ("billing", "0009_ledger_forfeit"),
    ]

    operations = [
        *_moves(
            "creditaccount",
            models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="credit_account",
                to="accounts.workspace",
                db_column="user_id",
            ),
        ),
        *_moves("purchase", _workspace_key("purchases")),
        *_moves("refundrequest", _workspace_key("refund_requests")),
        *_moves("subscription", _workspace_key("subscriptions")),
    ]
