"""State only: the indexes and constraints that named the owner field now name it `workspace`.
The columns they cover are the same (owner_id), so the database keeps them as they are."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_workspaces"),
        ("campaigns", "0018_workspace_owns_the_work"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="callcount",
                    name="call_count_key",
                ),
                migrations.RemoveConstraint(
                    model_name="callhourcount",
                    name="call_hour_count_key",
                ),
                migrations.RemoveConstraint(
                    model_name="donotcall",
                    name="dnc_unique_number_per_owner",
                ),
                migrations.RemoveConstraint(
                    model_name="donotcall",
                    name="dnc_unique_number_platform",
                ),
                migrations.RemoveIndex(
                    model_name="call",
                    name="campaigns_c_owner_i_b6c3f7_idx",
                ),
                migrations.RemoveIndex(
                    model_name="call",
                    name="call_live",
                ),
                migrations.RemoveIndex(
                    model_name="call",
                    name="call_owner_status_created",
                ),
                migrations.RemoveIndex(
                    model_name="call",
                    name="call_owner_outcome_created",
                ),
                migrations.AddIndex(
                    model_name="call",
                    index=models.Index(fields=["workspace", "created_at"], name="campaigns_c_owner_i_b6c3f7_idx"),
                ),
                migrations.AddIndex(
                    model_name="call",
                    index=models.Index(
                        condition=models.Q(("status__in", ["queued", "dialing", "ringing", "in_progress"])),
                        fields=["workspace", "campaign"],
                        name="call_live",
                    ),
                ),
                migrations.AddIndex(
                    model_name="call",
                    index=models.Index(fields=["workspace", "status", "created_at"], name="call_owner_status_created"),
                ),
                migrations.AddIndex(
                    model_name="call",
                    index=models.Index(
                        condition=models.Q(("outcome", ""), _negated=True),
                        fields=["workspace", "outcome", "created_at"],
                        name="call_owner_outcome_created",
                    ),
                ),
                migrations.AddIndex(
                    model_name="call",
                    index=models.Index(
                        models.F("workspace"),
                        django.db.models.functions.text.Reverse("to_number"),
                        name="call_owner_number_reversed",
                    ),
                ),
                migrations.AddIndex(
                    model_name="call",
                    index=models.Index(
                        models.F("workspace"),
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
                migrations.AddConstraint(
                    model_name="callcount",
                    constraint=models.UniqueConstraint(
                        fields=("workspace_id", "campaign_id", "agent_id", "status", "outcome", "answered"),
                        name="call_count_key",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="callhourcount",
                    constraint=models.UniqueConstraint(
                        fields=("workspace_id", "hour", "campaign_id", "agent_id", "outcome"),
                        name="call_hour_count_key",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="donotcall",
                    constraint=models.UniqueConstraint(
                        fields=("workspace", "phone_number"), name="dnc_unique_number_per_owner"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="donotcall",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("workspace__isnull", True)),
                        fields=("phone_number",),
                        name="dnc_unique_number_platform",
                    ),
                ),
            ]
        )
    ]
