"""Workspaces and their members: making a workspace, who belongs to it, whom to tell.

What each role may do is `accounts.roles`; the pages that change members are
`accounts.members`. Only reads and the few writes every other module needs live here, so
billing and campaigns can import it without importing the account rules.
"""

from django.db import transaction

from .models import Membership, User, Workspace

Role = Membership.Role


@transaction.atomic
def workspace_create(*, name: str, owner: User, **fields) -> Workspace:
    """A new workspace with `owner` as its first owner."""
    return Workspace.objects.create_with_owner(name=name, owner=owner, **fields)


@transaction.atomic
def personal_workspace_of(user: User) -> Workspace:
    """The workspace made with `user`'s account, made now if it has none (an account created
    outside sign-up, e.g. `createsuperuser`)."""
    return Workspace.objects.personal_for(user)


def personal_workspace_follow(user: User) -> None:
    """The sign-up form's company (and name) reach the personal workspace made a moment before
    the form's extra fields were saved (allauth saves the user, then runs the form's signup)."""
    Workspace.objects.filter(personal_for=user).update(
        name=Workspace.objects.personal_name(user), company_name=user.company_name
    )


def membership_in(*, user: User, workspace_id: int | None) -> Membership | None:
    """`user`'s membership of the workspace, or None when they are not one of its members."""
    if workspace_id is None or not user.is_authenticated:
        return None
    return Membership.objects.select_related("workspace").filter(user=user, workspace_id=workspace_id).first()


def memberships_of(user: User) -> list[Membership]:
    """Every workspace `user` belongs to, the personal one first, then by name."""
    rows = Membership.objects.select_related("workspace").filter(user=user, workspace__purged_at__isnull=True)
    return sorted(rows, key=lambda m: (m.workspace.personal_for_id != user.pk, m.workspace.name.lower(), m.pk))
