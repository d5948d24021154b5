"""Phone numbers belong to workspaces (as campaigns 0018: same ids, same column; the key is
loosened, the ids moved where they differ, then bound to the workspace table)."""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

owner_ids = importlib.import_module("accounts.migrations._owner_ids")
OWNER_COLUMNS = [("telephony_phonenumber", "owner_id")]
HELP = "Empty for the platform's shared numbers, which every account may call from."


def owners_to_workspaces(apps, schema_editor):
    owner_ids.move(apps, schema_editor, tables=OWNER_COLUMNS, to_users=False)


def owners_to_users(apps, schema_editor):
    owner_ids.move(apps, schema_editor, tables=OWNER_COLUMNS, to_users=True)


def _key(*, to: str, **options):
    return models.ForeignKey(
        blank=True,
        help_text=HELP,
        null=True,
        on_delete=django.db.models.deletion.CASCADE,
        related_name="phone_numbers",
        to=to,
        **options,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_workspaces"),
        ("telephony", "0002_phonenumber"),
    ]

    operations = [
        migrations.AlterField(
            model_name="phonenumber", name="owner", field=_key(to=settings.AUTH_USER_MODEL, db_constraint=False)
        ),
        migrations.RunPython(owners_to_workspaces, owners_to_users),
        migrations.AlterField(
            model_name="phonenumber", name="owner", field=_key(to="accounts.workspace", db_column="owner_id")
        ),
        migrations.RenameField(model_name="phonenumber", old_name="owner", new_name="workspace"),
    ]
