"""Indexes for the call list's filters and the calls CSV: each returns a filter's calls newest
first (or oldest first) without reading the account's other calls, and the CSV's header (the
captured field names) comes without reading the calls at all.

The account-wide list and its day ranges use the existing (owner, created_at) index, the campaign
filter and a campaign's CSV the (campaign, created_at) index of 0016; "answered or
not" has none (either side is a large share of the calls)."""

import django.db.models.functions.text
from django.db import migrations, models


class AddIndexOnPostgreSQL(migrations.AddIndex):
    """An index of expressions SQLite (`make run`) lacks or has only as Python functions: the
    same model state everywhere, the index itself on PostgreSQL only."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0016_counters"),
    ]

    operations = [
        # A status, even a rare one (calls in progress), without walking the account's calls.
        migrations.AddIndex(
            model_name="call",
            index=models.Index(fields=["owner", "status", "created_at"], name="call_owner_status_created"),
        ),
        # An outcome; calls without one (no answer, busy, ...) are left out of the index.
        migrations.AddIndex(
            model_name="call",
            index=models.Index(
                fields=["owner", "outcome", "created_at"],
                condition=~models.Q(outcome=""),
                name="call_owner_outcome_created",
            ),
        ),
        # A number by its last digits: reversed, they are a prefix, found as a range of the
        # reversed numbers (digits sort alike in every collation). A whole number is an equality.
        AddIndexOnPostgreSQL(
            model_name="call",
            index=models.Index(
                models.F("owner"),
                django.db.models.functions.text.Reverse("to_number"),
                name="call_owner_number_reversed",
            ),
        ),
        # The calls CSV's header: each call's captured names (campaigns/analytics/exports.py,
        # CAPTURED_NAMES, the very same expression) under its account and campaign, so the
        # distinct lists are found by a loose index scan instead of reading every call.
        AddIndexOnPostgreSQL(
            model_name="call",
            index=models.Index(
                models.F("owner"),
                models.F("campaign"),
                models.Func(
                    models.F("captured"),
                    models.Value('strict $[*] ? (@.type() == "array" && @.size() == 2)[0]'),
                    models.Value("{}"),
                    models.Value(True),
                    function="jsonb_path_query_array",
                    output_field=models.JSONField(),
                ),
                models.F("id"),
                name="call_captured_names",
            ),
        ),
    ]
