"""Full-text indexes for knowledge retrieval, PostgreSQL only: one GIN index per text search
configuration, on exactly the expression campaigns.knowledge searches with, so a turn finds
its passages through the index instead of parsing every passage."""

from django.db import migrations

CONFIGS = ["english", "spanish", "french", "german", "simple"]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (`make run`) ranks by word overlap instead
    for config in CONFIGS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS knowledge_passage_fts_{config} "
            f"ON campaigns_knowledgepassage USING gin (to_tsvector('{config}'::regconfig, text))"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for config in CONFIGS:
        schema_editor.execute(f"DROP INDEX IF EXISTS knowledge_passage_fts_{config}")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0010_agent_voice_free")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
