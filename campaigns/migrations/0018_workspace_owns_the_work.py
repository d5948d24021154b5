"""The work's owner moves from the user to the workspace (accounts 0004).

Each account's workspace has the account's id, so the owner_id columns keep their values and
their names: only the foreign keys move to the workspace table (and the Python field is now
`workspace`). The counters' plain owner ids need nothing either. On SQLite (`make run`)
changing a foreign key rebuilds the call table, which drops its counting triggers (0016):
they are made again here. When the ids differ (migrating back and forth after workspaces
were made by the application), accounts/migrations/_owner_ids.py moves the values.
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

counters_0016 = importlib.import_module("campaigns.migrations.0016_counters")
owner_ids = importlib.import_module("accounts.migrations._owner_ids")

OWNER_TABLES = ("agent", "contactlist", "donotcall", "campaign", "call", "playgroundsession", "assistantquestion")


def _owner_columns(schema_editor) -> list[tuple[str, str]]:
    tables = list(OWNER_TABLES)
    # PostgreSQL's triggers move the call counters with their calls; SQLite's are gone while the
    # call table is rebuilt (see sqlite_call_triggers_again), so the counters move here.
    if schema_editor.connection.vendor == "sqlite":
        tables += ["callcount", "callhourcount"]
    return [(f"campaigns_{table}", "owner_id") for table in tables]


def owners_to_workspaces(apps, schema_editor):
    owner_ids.move(apps, schema_editor, tables=_owner_columns(schema_editor), to_users=False)


def owners_to_users(apps, schema_editor):
    owner_ids.move(apps, schema_editor, tables=_owner_columns(schema_editor), to_users=True)


OWNED = {
    # model: (related_name, nullable)
    "agent": ("agents", False),
    "contactlist": ("contact_lists", False),
    "donotcall": ("do_not_call", True),
    "campaign": ("campaigns", False),
    "call": ("calls", False),
    "playgroundsession": ("playground_sessions", False),
    "assistantquestion": ("assistant_questions", False),
}
SQLITE_CALL_TRIGGERS = ("call_counted_insert", "call_counted_delete", "call_counted_update")


def _owner_key(model: str, *, to: str, **options):
    related_name, nullable = OWNED[model]
    return models.ForeignKey(
        on_delete=django.db.models.deletion.CASCADE,
        related_name=related_name,
        to=to,
        **({"null": True, "blank": True} if nullable else {}),
        **options,
    )


# Each key first loses its constraint (so the ids can move without a foreign key to check, nor
# PostgreSQL's "pending trigger events" that a deferred check would leave for the next ALTER),
# then, once the values name workspaces, gets its constraint on the workspace table.
LOOSEN = [
    migrations.AlterField(
        model_name=model, name="owner", field=_owner_key(model, to=settings.AUTH_USER_MODEL, db_constraint=False)
    )
    for model in OWNED
]
TIGHTEN = [
    op
    for model in OWNED
    for op in (
        migrations.AlterField(
            model_name=model, name="owner", field=_owner_key(model, to="accounts.workspace", db_column="owner_id")
        ),
        migrations.RenameField(model_name=model, old_name="owner", new_name="workspace"),
    )
]


def sqlite_call_triggers_again(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in SQLITE_CALL_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        for statement in counters_0016.sqlite_forwards():
            if any(f"TRIGGER {name} " in statement for name in SQLITE_CALL_TRIGGERS):
                cursor.execute(statement)


def _counter_owner(model: str) -> list:
    return [
        migrations.AlterField(model_name=model, name="owner_id", field=models.BigIntegerField(db_column="owner_id")),
        migrations.RenameField(model_name=model, old_name="owner_id", new_name="workspace_id"),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_workspaces"),
        ("campaigns", "0017_call_list_indexes"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, sqlite_call_triggers_again),
        # Out of the state while the call table changes: on SQLite, rebuilding the table would
        # create every index of the state, these two PostgreSQL-only ones too (0017). 0019 puts
        # them back, state only; on PostgreSQL they never left the database.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="call", name="call_owner_number_reversed"),
                migrations.RemoveIndex(model_name="call", name="call_captured_names"),
            ]
        ),
        *LOOSEN,
        migrations.RunPython(owners_to_workspaces, owners_to_users),
        *TIGHTEN,
        *_counter_owner("callcount"),
        *_counter_owner("callhourcount"),
        migrations.RunPython(sqlite_call_triggers_again, migrations.RunPython.noop),
    ]
