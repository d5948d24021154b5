"""Phone numbers belong to workspaces (see campaigns 0018: same ids, same column)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_workspaces"),
        ("telephony", "0002_phonenumber"),
    ]

    operations = [
        migrations.AlterField(
            model_name="phonenumber",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_column="owner_id",
                help_text="Empty for the platform's shared numbers, which every account may call from.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="phone_numbers",
                to="accounts.workspace",
            ),
        ),
        migrations.RenameField(model_name="phonenumber", old_name="owner", new_name="workspace"),
    ]
