"""A campaign's purpose (why it calls, shown to the people it called on the "Who called me?"
page), and the index that page's lookup uses: one callee number's calls, newest first.

Campaigns made before have an empty purpose: the form asks for one the next time they are
edited, and the public page says "not stated" meanwhile."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_workspaces'),
        ('campaigns', '0019_owner_renamed_in_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaign',
            name='purpose',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddIndex(
            model_name='call',
            index=models.Index(fields=['to_number', 'created_at'], name='call_to_number_created'),
        ),
    ]
