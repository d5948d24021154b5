"""The shape of a data export's files, for every app that adds to one (accounts.export, and the
receivers of clozit.events.workspace_exporting): every column of every row, as JSON."""

import json

from django.core.serializers.json import DjangoJSONEncoder


def _plain(value):
    """Stored bytes (an API answer kept for its Idempotency-Key) as the text they are."""
    if isinstance(value, memoryview):
        value = bytes(value)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def export_rows(queryset, *, leave_out=()) -> list[dict]:
    """Every column of every row but `leave_out`, so a field added later is exported without
    anyone remembering."""
    names = [f.attname for f in queryset.model._meta.concrete_fields if f.name not in leave_out]
    return [{name: _plain(value) for name, value in row.items()} for row in queryset.order_by("pk").values(*names)]


def export_json(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
