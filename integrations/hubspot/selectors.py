"""Reads for the HubSpot page."""

from campaigns.models import Agent

from .models import ListImport, PushBack


def recent_push_backs(*, workspace, limit: int = 50) -> list[PushBack]:
    return list(PushBack.objects.filter(workspace=workspace).select_related("call")[:limit])


def captured_field_names(*, workspace) -> list[str]:
    """Every answer the workspace's agents record, by name, in a stable order."""
    names: list[str] = []
    for fields in Agent.objects.filter(workspace=workspace).values_list("capture_fields", flat=True):
        for field in fields or []:
            name = field.get("name") if isinstance(field, dict) else None
            if name and name not in names:
                names.append(name)
    return sorted(names)


def recent_imports(*, workspace, limit: int = 10) -> list[ListImport]:
    return list(
        ListImport.objects.filter(workspace=workspace).select_related("contact_list").order_by("-created_at")[:limit]
    )
