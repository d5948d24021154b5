"""The admin's log of staff changes, at a purge: kept, but not the names it showed for the rows.
Apart from accounts.services so that any app's purge may use it (it imports no app)."""

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import TextField
from django.db.models.functions import Cast


def admin_history_purge(row_kinds: list) -> None:
    """The admin's log of staff changes stays, but not the names it showed for the rows
    (an email address, an agent's name): only which fields were changed, when and by whom.
    `row_kinds`: a query per kind of row; call it before those rows are deleted."""
    for rows in row_kinds:
        entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(rows.model))
        if entries.exists():  # most kinds of row are never changed by staff
            entries.filter(object_id__in=rows.annotate(id_text=Cast("pk", TextField())).values("id_text")).update(
                object_repr="(purged)"
            )
