"""Who did what in a workspace: one line per launch, stop, deletion, purchase, refund request
or member change, with the member and the time. Owners and admins read it on the workspace's
Activity page; it is written in the same transaction as the change it records."""

from .models import User, WorkspaceEvent


def record(*, workspace, actor: User | None, action: str, summary: str) -> WorkspaceEvent:
    """`actor` None: the platform did it (a payment arriving, staff, a scheduled job)."""
    if actor is None:
        name = "Clozit"
    elif actor.is_staff and not actor.memberships.filter(workspace=workspace).exists():
        name = "Clozit support"
    else:
        name = actor.get_full_name() or actor.email
    return WorkspaceEvent.objects.create(
        workspace_id=getattr(workspace, "pk", workspace),
        actor=actor,
        actor_name=name[:254],
        action=action[:40],
        summary=summary[:300],
    )


def recent(*, workspace, limit: int = 200) -> list[WorkspaceEvent]:
    return list(WorkspaceEvent.objects.filter(workspace=workspace)[:limit])
