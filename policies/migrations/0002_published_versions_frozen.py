"""A published policy version never changes and is never deleted: people were told about that
text and accepted it. On PostgreSQL the database refuses it, whatever the code or a shell tries
(SQLite, for `make run`, relies on the admin and the services)."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION policies_version_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.published_at IS NOT NULL THEN
            RAISE EXCEPTION 'policy version % is published: it cannot be deleted', OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.published_at IS NOT NULL AND (
        (NEW.policy, NEW.version, NEW.summary, NEW.text, NEW.effective_at, NEW.published_at)
        IS DISTINCT FROM (OLD.policy, OLD.version, OLD.summary, OLD.text, OLD.effective_at, OLD.published_at)
    ) THEN
        RAISE EXCEPTION 'policy version % is published: its text, summary and dates cannot change', OLD.id;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER policies_version_frozen
BEFORE UPDATE OR DELETE ON policies_policyversion
FOR EACH ROW EXECUTE FUNCTION policies_version_frozen();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS policies_version_frozen ON policies_policyversion;
DROP FUNCTION IF EXISTS policies_version_frozen();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("policies", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
