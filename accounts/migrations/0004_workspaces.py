"""Workspaces own the work: every existing account becomes a personal workspace.

Each account's workspace takes the account's id, so that every row naming the user as its
owner (agents, lists, campaigns, calls, numbers, credit accounts, payments, and the counters'
plain ids) names its workspace with the same number: the later migrations of campaigns, billing
and telephony only move those foreign keys from the user table to this one, without rewriting
a row. The sequence then continues past the highest id, so new workspaces never collide.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ROLE_CHOICES = [
    ("owner", "Owner"),
    ("admin", "Admin"),
    ("member", "Member"),
    ("billing", "Billing"),
    ("viewer", "Viewer"),
]
STATUS_CHOICES = [("active", "Active"), ("suspended", "Suspended"), ("terminated", "Terminated")]


def personal_workspaces(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Workspace = apps.get_model("accounts", "Workspace")
    Membership = apps.get_model("accounts", "Membership")
    AccountStatusChange = apps.get_model("accounts", "AccountStatusChange")
    WorkspaceStatusChange = apps.get_model("accounts", "WorkspaceStatusChange")
    for user in User.objects.order_by("pk").iterator(chunk_size=2000):
        name = user.company_name or f"{user.first_name} {user.last_name}".strip() or user.email
        if user.purged_at is not None:
            name = f"Deleted workspace {user.pk}"
        Workspace.objects.create(
            id=user.pk,
            name=name[:200],
            company_name=user.company_name,
            default_country=user.default_country,
            time_zone=user.time_zone,
            status=user.status,
            status_reason=user.status_reason,
            status_changed_at=user.status_changed_at,
            max_concurrent_calls=user.max_concurrent_calls,
            personal_for_id=user.pk,
            closing_requested_at=user.deletion_requested_at,
            purged_at=user.purged_at,
        )
        Membership.objects.create(workspace_id=user.pk, user_id=user.pk, role="owner")
    # Staff's trail of status changes, with their original times (changed_at is auto_now_add).
    for change in AccountStatusChange.objects.order_by("pk").iterator():
        copy = WorkspaceStatusChange.objects.create(
            workspace_id=change.user_id, status=change.status, reason=change.reason, changed_by_id=change.changed_by_id
        )
        WorkspaceStatusChange.objects.filter(pk=copy.pk).update(changed_at=change.changed_at)
    for user in User.objects.only("pk", "date_joined").iterator(chunk_size=2000):
        Workspace.objects.filter(pk=user.pk).update(created_at=user.date_joined)
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('accounts_workspace', 'id'), "
                "GREATEST((SELECT max(id) FROM accounts_workspace), (SELECT max(id) FROM accounts_user), 1))"
            )
    # SQLite's AUTOINCREMENT already continues past the largest id inserted.


def no_personal_workspaces(apps, schema_editor):
    apps.get_model("accounts", "Workspace").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_account_call_limit"),
    ]

    operations = [
        migrations.CreateModel(
            name="Workspace",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("company_name", models.CharField(blank=True, max_length=200)),
                (
                    "default_country",
                    models.CharField(
                        default="US",
                        help_text="Country used to read contact numbers written without +code.",
                        max_length=2,
                    ),
                ),
                ("time_zone", models.CharField(default="UTC", max_length=64)),
                ("status", models.CharField(choices=STATUS_CHOICES, default="active", max_length=16)),
                ("status_reason", models.TextField(blank=True)),
                ("status_changed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "max_concurrent_calls",
                    models.PositiveSmallIntegerField(
                        blank=True,
                        help_text="Calls this workspace may have in progress at once, over all its campaigns. "
                        "Empty: the platform default (ACCOUNT_MAX_CONCURRENT_CALLS).",
                        null=True,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("closing_requested_at", models.DateTimeField(blank=True, null=True)),
                ("purged_at", models.DateTimeField(blank=True, null=True)),
                (
                    "personal_for",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="personal_workspace",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Membership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("role", models.CharField(choices=ROLE_CHOICES, max_length=16)),
                ("joined_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="accounts.workspace",
                    ),
                ),
            ],
            options={
                "ordering": ["joined_at", "pk"],
                "constraints": [
                    models.UniqueConstraint(fields=("workspace", "user"), name="membership_once_per_workspace")
                ],
            },
        ),
        migrations.CreateModel(
            name="WorkspaceStatusChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("status", models.CharField(choices=STATUS_CHOICES, max_length=16)),
                ("reason", models.TextField()),
                ("changed_at", models.DateTimeField(auto_now_add=True)),
                (
                    "changed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="status_changes",
                        to="accounts.workspace",
                    ),
                ),
            ],
            options={"ordering": ["-changed_at"]},
        ),
        migrations.CreateModel(
            name="Invitation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.EmailField(max_length=254)),
                ("role", models.CharField(choices=ROLE_CHOICES, max_length=16)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("accepted_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "accepted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "invited_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="invitations",
                        to="accounts.workspace",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("accepted_at__isnull", True), ("revoked_at__isnull", True)),
                        fields=("workspace", "email"),
                        name="invitation_one_open_per_email",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="WorkspaceEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("actor_name", models.CharField(blank=True, max_length=254)),
                ("action", models.CharField(max_length=40)),
                ("summary", models.CharField(max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="accounts.workspace",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
                "indexes": [models.Index(fields=["workspace", "-created_at"], name="workspace_event_recent")],
            },
        ),
        migrations.RunPython(personal_workspaces, no_personal_workspaces),
        migrations.RemoveField(model_name="user", name="max_concurrent_calls"),
    ]
