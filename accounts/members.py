"""A workspace's members: invitations, roles, removing and leaving, settings, closing.

Every function that changes something takes `by`, the acting member's Membership, and checks
its role (accounts.roles.require) itself, so a page, a job or a crafted request reach the same
refusal. Errors are MemberError with a message for the person.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from . import audit
from .models import Invitation, Membership, User, Workspace
from .roles import Action, require

Role = Membership.Role
INVITATION_SALT = "clozit.invitation"


class MemberError(Exception):
    """A change to members the rules refuse; the message is written for the person."""


def _owners(workspace: Workspace):
    return Membership.objects.filter(workspace=workspace, role=Role.OWNER)


def _lock(workspace: Workspace) -> Workspace:
    # Member changes of one workspace one at a time: "the last owner" stays true while it is checked.
    return Workspace.objects.select_for_update().get(pk=workspace.pk)


# --- Invitations ------------------------------------------------------------------------------
def invitation_token(invitation: Invitation) -> str:
    return signing.TimestampSigner(salt=INVITATION_SALT).sign(str(invitation.pk))


def invitation_from_token(token: str) -> Invitation:
    """The invitation a link names, if the link is ours and not too old; MemberError says why not."""
    try:
        pk = signing.TimestampSigner(salt=INVITATION_SALT).unsign(
            token, max_age=timedelta(days=settings.INVITATION_MAX_AGE_DAYS)
        )
    except signing.SignatureExpired:
        raise MemberError("This invitation has expired. Ask for a new one.") from None
    except signing.BadSignature:
        raise MemberError("This invitation link is not valid. Check that it was copied whole.") from None
    invitation = Invitation.objects.select_related("workspace").filter(pk=int(pk)).first()
    if invitation is None:
        raise MemberError("This invitation no longer exists.")
    return invitation


def invitation_problem(invitation: Invitation) -> str | None:
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn."
    if invitation.accepted_at is not None:
        return "This invitation has already been used."
    if timezone.now() >= invitation.expires_at:
        return "This invitation has expired. Ask for a new one."
    if invitation.workspace.closing_requested_at is not None or invitation.workspace.purged_at is not None:
        return "This workspace is closed."
    return None


@transaction.atomic
def invitation_create(*, by: Membership, email: str, role: str) -> Invitation:
    """Invite `email` to `by`'s workspace with `role`, by an emailed link that expires. A second
    invitation to the same address replaces the first."""
    require(by, Action.MEMBERS)
    if role not in Role.values:
        raise MemberError("Choose a role.")
    if role == Role.OWNER:
        require(by, Action.OWN)
    workspace = _lock(by.workspace)
    email = User.objects.normalize_email(email.strip()).lower()
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise MemberError(f"{email} is already a member of this workspace.")
    now = timezone.now()
    Invitation.objects.filter(
        workspace=workspace, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        invited_by=by.user,
        expires_at=now + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    audit.record(
        workspace=workspace,
        actor=by.user,
        action="member.invite",
        summary=f"Invited {email} as {Role(role).label.lower()}.",
    )
    link = settings.PUBLIC_BASE_URL.rstrip("/") + reverse("invitation_accept", args=[invitation_token(invitation)])
    inviter = by.user.get_full_name() or by.user.email
    transaction.on_commit(
        lambda: send_mail(
            subject=f"[Clozit] {inviter} invited you to {workspace.name}",
            message=(
                f"{inviter} invited you to work in {workspace.name} on Clozit as {Role(role).label.lower()}.\n\n"
                f"Accept here within {settings.INVITATION_MAX_AGE_DAYS} days:\n{link}\n\n"
                "If you have no Clozit account yet, you can create one with this address on the way.\n"
                "If you were not expecting this, ignore this email.\n\n— Clozit"
            ),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation


@transaction.atomic
def invitation_revoke(*, by: Membership, invitation: Invitation) -> Invitation:
    require(by, Action.MEMBERS)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk, workspace=by.workspace)
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(
            workspace=by.workspace,
            actor=by.user,
            action="member.revoke",
            summary=f"Withdrew the invitation of {invitation.email}.",
        )
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """`user` joins the workspace with the invitation's role. Only the address it was sent to
    may use it, once, before it expires or is withdrawn."""
    invitation = Invitation.objects.select_for_update().select_related("workspace").get(pk=invitation.pk)
    problem = invitation_problem(invitation)
    if problem:
        raise MemberError(problem)
    if user.email.lower() != invitation.email.lower():
        raise MemberError(
            f"This invitation was sent to {invitation.email}. Sign in with that address to accept it "
            "(or ask for an invitation to yours)."
        )
    if not user.has_verified_mobile:
        raise MemberError("Verify your mobile number first.")
    _lock(invitation.workspace)
    if Membership.objects.filter(workspace=invitation.workspace, user=user).exists():
        raise MemberError("You are already a member of this workspace.")
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    member = Membership.objects.create(workspace=invitation.workspace, user=user, role=invitation.role)
    audit.record(
        workspace=invitation.workspace,
        actor=user,
        action="member.join",
        summary=f"Joined as {Role(invitation.role).label.lower()} "
        f"(invited by {invitation.invited_by or 'a former member'}).",
    )
    return member


# --- Roles, removing, leaving -----------------------------------------------------------------
def _others_owner(workspace: Workspace, membership: Membership) -> bool:
    return _owners(workspace).exclude(pk=membership.pk).filter(user__is_active=True).exists()


@transaction.atomic
def member_set_role(*, by: Membership, membership: Membership, role: str) -> Membership:
    require(by, Action.MEMBERS)
    if role not in Role.values:
        raise MemberError("Choose a role.")
    workspace = _lock(by.workspace)
    membership = Membership.objects.select_for_update().get(pk=membership.pk, workspace=workspace)
    if Role.OWNER in (role, membership.role):
        require(by, Action.OWN)  # only owners make or unmake owners
    if membership.role == Role.OWNER and role != Role.OWNER and not _others_owner(workspace, membership):
        raise MemberError("A workspace needs an owner: make someone else owner first.")
    if membership.role != role:
        old = Role(membership.role).label.lower()
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            workspace=workspace,
            actor=by.user,
            action="member.role",
            summary=f"Changed {membership.user.email} from {old} to {Role(role).label.lower()}.",
        )
    return membership


@transaction.atomic
def member_remove(*, by: Membership, membership: Membership) -> None:
    require(by, Action.MEMBERS)
    workspace = _lock(by.workspace)
    membership = Membership.objects.select_for_update().get(pk=membership.pk, workspace=workspace)
    if membership.role == Role.OWNER:
        require(by, Action.OWN)
        if not _others_owner(workspace, membership):
            raise MemberError("The last owner cannot be removed.")
    membership.delete()
    audit.record(
        workspace=workspace, actor=by.user, action="member.remove", summary=f"Removed {membership.user.email}."
    )


@transaction.atomic
def member_leave(*, member: Membership) -> None:
    workspace = _lock(member.workspace)
    member = Membership.objects.select_for_update().get(pk=member.pk)
    if member.role == Role.OWNER and not _others_owner(workspace, member):
        raise MemberError(
            "You are this workspace's only owner: make another member owner first, or close the workspace."
        )
    member.delete()
    audit.record(workspace=workspace, actor=member.user, action="member.leave", summary=f"{member.user.email} left.")


# --- The workspace itself ---------------------------------------------------------------------
SETTINGS_FIELDS = ("name", "company_name", "default_country", "time_zone")


@transaction.atomic
def workspace_update(*, by: Membership, **changes) -> Workspace:
    require(by, Action.SETTINGS)
    workspace = _lock(by.workspace)
    changed = [field for field in SETTINGS_FIELDS if field in changes and getattr(workspace, field) != changes[field]]
    for field in changed:
        setattr(workspace, field, changes[field])
    if not workspace.name.strip():
        raise MemberError("Give the workspace a name.")
    if changed:
        workspace.save(update_fields=changed)
        audit.record(
            workspace=workspace,
            actor=by.user,
            action="workspace.settings",
            summary=f"Changed the workspace's {', '.join(f.replace('_', ' ') for f in changed)}.",
        )
    return workspace


def workspace_members(workspace: Workspace) -> list[Membership]:
    return list(Membership.objects.filter(workspace=workspace).select_related("user").order_by("joined_at", "pk"))


def open_invitations(workspace: Workspace) -> list[Invitation]:
    return list(
        Invitation.objects.filter(
            workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).select_related("invited_by")
    )
