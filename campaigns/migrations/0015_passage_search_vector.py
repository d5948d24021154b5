"""Knowledge search from a stored tsvector: each passage keeps its text's vector in its agent's
language (written when passages are added), searched through one GIN index and ranked without
parsing the text again; each agent keeps how many passages it holds, so an agent without a
knowledge base is not searched at all.

The vectors and the GIN index are PostgreSQL's (SQLite, for `make run`, ranks by word overlap and
leaves the column empty). The expression indexes of 0011, one per language, are no longer
searched and cost five parses of every passage added: they go.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models

OLD_CONFIGS = ["english", "spanish", "french", "german", "simple"]

# campaigns.knowledge.search_config, as SQL, at the time of this migration.
CONFIG_OF_AGENT = (
    "CASE split_part(lower(a.language), '-', 1) "
    "WHEN 'en' THEN 'english' WHEN 'es' THEN 'spanish' WHEN 'fr' THEN 'french' WHEN 'de' THEN 'german' "
    "ELSE 'simple' END::regconfig"
)


def forwards(apps, schema_editor):
    schema_editor.execute(
        "UPDATE campaigns_agent SET knowledge_passage_count = "
        "(SELECT COUNT(*) FROM campaigns_knowledgepassage p WHERE p.agent_id = campaigns_agent.id)"
    )
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"UPDATE campaigns_knowledgepassage p SET search = to_tsvector({CONFIG_OF_AGENT}, p.text) "
        "FROM campaigns_agent a WHERE a.id = p.agent_id"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS knowledge_passage_search ON campaigns_knowledgepassage USING gin (search)"
    )
    for config in OLD_CONFIGS:
        schema_editor.execute(f"DROP INDEX IF EXISTS knowledge_passage_fts_{config}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS knowledge_passage_search")
    for config in OLD_CONFIGS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS knowledge_passage_fts_{config} "
            f"ON campaigns_knowledgepassage USING gin (to_tsvector('{config}'::regconfig, text))"
        )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0014_relay_transport_turn_latency")]

    operations = [
        migrations.AddField(
            model_name="agent",
            name="knowledge_passage_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="knowledgepassage",
            name="search",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="knowledgepassage",
                    index=django.contrib.postgres.indexes.GinIndex(fields=["search"], name="knowledge_passage_search"),
                )
            ],
            # The index is created by `forwards`, on PostgreSQL only.
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
