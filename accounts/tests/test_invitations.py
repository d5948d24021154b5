"""Invitations end to end, and members leaving or being removed: the emailed link, who may use
it and when, and the rules that keep a workspace with an owner."""

import html
import re
import time
from datetime import timedelta
from unittest import mock
from urllib.parse import unquote

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import members
from accounts.middleware import WORKSPACE_SESSION_KEY
from accounts.models import Invitation, Membership, WorkspaceEvent
from accounts.tests.test_roles import client_in, join, make_user
from accounts.workspaces import workspace_create

pytestmark = pytest.mark.django_db

Role = Membership.Role
BASE = "https://app.clozit.example"
LINK = re.compile(re.escape(BASE) + r"(/invitations/[^/\s]+/)")


def text(response) -> str:
    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = BASE


@pytest.fixture
def team(db):
    owner = make_user("owner@team.example")
    workspace = workspace_create(name="Team", owner=owner)
    return {"owner": owner, "workspace": workspace, "by": Membership.objects.get(workspace=workspace, user=owner)}


def invite(team, email="invitee@example.com", role=Role.MEMBER, by=None, *, capture) -> str:
    """Invite `email`; returns the path of the link the email carries."""
    with capture(execute=True):
        members.invitation_create(by=by or team["by"], email=email, role=role)
    body = mail.outbox[-1].body
    match = LINK.search(body)
    assert match, body
    return match.group(1)


def in_team(team, user):
    return Membership.objects.filter(workspace=team["workspace"], user=user).first()


# --- Sending and accepting ----------------------------------------------------------------------
def test_the_owner_invites_through_the_page_and_the_email_carries_the_link(team, django_capture_on_commit_callbacks):
    client = client_in(team["owner"], team["workspace"])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("workspace_invite"), {"email": " Invitee@Example.com ", "role": Role.ADMIN})

    assert response.status_code == 302
    assert "Invitation sent to invitee@example.com." in messages_of(client.get(response["Location"]))
    invitation = Invitation.objects.get(workspace=team["workspace"])
    assert (invitation.email, invitation.role, invitation.invited_by) == ("invitee@example.com", "admin", team["owner"])
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["invitee@example.com"]
    assert "Team" in email.subject
    assert f"within {django_settings.INVITATION_MAX_AGE_DAYS} days" in email.body
    assert LINK.search(email.body).group(1) == reverse("invitation_accept", args=[members.invitation_token(invitation)])
    assert WorkspaceEvent.objects.filter(workspace=team["workspace"], action="member.invite").count() == 1


def test_a_logged_out_visitor_is_offered_to_sign_up_or_log_in(team, django_capture_on_commit_callbacks):
    link = invite(team, capture=django_capture_on_commit_callbacks)

    response = Client().get(link)

    assert response.status_code == 200
    page = text(response)
    assert "Join Team" in page and "invitee@example.com" in page
    assert f"{reverse('account_signup')}?next={link}" in unquote(page)
    assert f"{reverse('account_login')}?next={link}" in unquote(page)
    assert Client().post(link).status_code == 200  # nothing happens without an account
    assert Membership.objects.filter(workspace=team["workspace"]).count() == 1


def test_the_invited_user_accepts_joins_with_the_role_and_works_there(team, django_capture_on_commit_callbacks):
    link = invite(team, role=Role.BILLING, capture=django_capture_on_commit_callbacks)
    invitee = make_user("invitee@example.com")
    client = client_in(invitee, invitee.personal_workspace)

    page = client.get(link)
    assert page.status_code == 200 and 'data-testid="invitation-accept"' in page.content.decode()
    response = client.post(link)

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert in_team(team, invitee).role == Role.BILLING
    invitation = Invitation.objects.get(workspace=team["workspace"])
    assert invitation.accepted_by == invitee and invitation.accepted_at is not None
    event = WorkspaceEvent.objects.get(workspace=team["workspace"], action="member.join")
    assert event.actor == invitee and "billing" in event.summary
    assert client.session[WORKSPACE_SESSION_KEY] == team["workspace"].pk
    assert "Welcome to Team." in messages_of(client.get(reverse("dashboard")))


# --- Links that cannot be used ------------------------------------------------------------------
def _refused(client, link, *, status, says):
    response = client.get(link)
    assert response.status_code == status
    assert says in text(response)
    response = client.post(link)
    assert response.status_code == status
    assert says in text(response)


def test_an_expired_invitation_is_refused(team, django_capture_on_commit_callbacks):
    link = invite(team, capture=django_capture_on_commit_callbacks)
    Invitation.objects.filter(workspace=team["workspace"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    invitee = make_user("invitee@example.com")

    _refused(client_in(invitee, invitee.personal_workspace), link, status=410, says="This invitation has expired")
    with pytest.raises(members.MemberError, match="expired"):
        members.invitation_accept(invitation=Invitation.objects.get(), user=invitee)
    assert in_team(team, invitee) is None


def test_a_link_older_than_the_maximum_age_is_refused_whatever_the_row_says(team):
    invitation = members.invitation_create(by=team["by"], email="invitee@example.com", role=Role.MEMBER)
    long_ago = time.time() - (django_settings.INVITATION_MAX_AGE_DAYS * 86400 + 60)
    with mock.patch("django.core.signing.time.time", return_value=long_ago):
        old_token = members.invitation_token(invitation)
    invitee = make_user("invitee@example.com")

    _refused(
        client_in(invitee, invitee.personal_workspace),
        reverse("invitation_accept", args=[old_token]),
        status=404,
        says="This invitation has expired",
    )
    assert in_team(team, invitee) is None
    # The same invitation through a fresh link is still good: only the old link is too old.
    assert members.invitation_problem(invitation) is None


def test_a_revoked_invitation_is_refused(team, django_capture_on_commit_callbacks):
    link = invite(team, capture=django_capture_on_commit_callbacks)
    members.invitation_revoke(by=team["by"], invitation=Invitation.objects.get())
    invitee = make_user("invitee@example.com")

    _refused(client_in(invitee, invitee.personal_workspace), link, status=410, says="This invitation was withdrawn.")
    assert in_team(team, invitee) is None


def test_an_invitation_is_used_once(team, django_capture_on_commit_callbacks):
    link = invite(team, capture=django_capture_on_commit_callbacks)
    invitee = make_user("invitee@example.com")
    client = client_in(invitee, invitee.personal_workspace)
    client.post(link)
    membership = in_team(team, invitee)
    members.member_leave(member=membership)  # even after leaving, the old link does not bring one back

    _refused(client, link, status=410, says="This invitation has already been used.")
    assert in_team(team, invitee) is None


def test_an_invitation_is_for_its_address_only(team, django_capture_on_commit_callbacks):
    link = invite(team, capture=django_capture_on_commit_callbacks)
    someone_else = make_user("someone.else@example.com")
    client = client_in(someone_else, someone_else.personal_workspace)

    page = client.get(link)
    assert 'data-testid="invitation-wrong-account"' in page.content.decode()
    response = client.post(link)

    assert response.status_code == 200
    assert any("This invitation was sent to invitee@example.com" in m for m in messages_of(response))
    assert in_team(team, someone_else) is None
    assert Invitation.objects.get().accepted_at is None


def test_an_unverified_account_cannot_accept(team, django_capture_on_commit_callbacks):
    link = invite(team, capture=django_capture_on_commit_callbacks)
    invitee = make_user("invitee@example.com")
    invitee.mobile_verified_at = None
    invitee.save(update_fields=["mobile_verified_at"])

    with pytest.raises(members.MemberError, match="Verify your mobile number first."):
        members.invitation_accept(invitation=Invitation.objects.get(), user=invitee)
    assert in_team(team, invitee) is None
    # Through the link, the gate sends them to verify their number first.
    response = client_in(invitee, invitee.personal_workspace).post(link)
    assert response.status_code == 302 and response["Location"] == reverse("account_change_phone")
    assert in_team(team, invitee) is None


@pytest.mark.parametrize("tamper", ["flip", "truncate", "other-id"])
def test_a_tampered_link_is_not_found(team, tamper):
    invitation = members.invitation_create(by=team["by"], email="invitee@example.com", role=Role.MEMBER)
    token = members.invitation_token(invitation)
    if tamper == "flip":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif tamper == "truncate":
        token = token[: len(token) // 2]
    else:  # someone else's invitation id with this one's signature
        token = f"{invitation.pk + 1}:" + token.split(":", 1)[1]
    invitee = make_user("invitee@example.com")

    _refused(
        client_in(invitee, invitee.personal_workspace),
        reverse("invitation_accept", args=[token]),
        status=404,
        says="This invitation link is not valid.",
    )
    assert in_team(team, invitee) is None


def test_an_existing_member_cannot_accept_again(team, django_capture_on_commit_callbacks):
    link = invite(team, role=Role.ADMIN, capture=django_capture_on_commit_callbacks)
    invitee = make_user("invitee@example.com")
    join(team["workspace"], invitee, Role.VIEWER)  # joined meanwhile by another way
    client = client_in(invitee, invitee.personal_workspace)

    response = client.post(link)

    assert "You are already a member of this workspace." in messages_of(response)
    assert in_team(team, invitee).role == Role.VIEWER
    assert Invitation.objects.get().accepted_at is None
    with pytest.raises(members.MemberError, match="already a member"):
        members.invitation_create(by=team["by"], email="INVITEE@example.com", role=Role.MEMBER)


def test_inviting_an_address_again_replaces_the_open_invitation(team, django_capture_on_commit_callbacks):
    first = invite(team, role=Role.VIEWER, capture=django_capture_on_commit_callbacks)
    second = invite(team, email="Invitee@Example.com", role=Role.ADMIN, capture=django_capture_on_commit_callbacks)
    invitee = make_user("invitee@example.com")
    client = client_in(invitee, invitee.personal_workspace)

    assert first != second
    open_ones = members.open_invitations(team["workspace"])
    assert [(i.email, i.role) for i in open_ones] == [("invitee@example.com", Role.ADMIN)]
    _refused(client, first, status=410, says="This invitation was withdrawn.")
    assert in_team(team, invitee) is None

    client.post(second)
    assert in_team(team, invitee).role == Role.ADMIN


def test_a_closed_workspaces_invitation_is_refused(team, django_capture_on_commit_callbacks):
    from accounts import services

    link = invite(team, capture=django_capture_on_commit_callbacks)
    services.workspace_close(by=team["by"])
    invitee = make_user("invitee@example.com")

    _refused(client_in(invitee, invitee.personal_workspace), link, status=410, says="This workspace is closed.")
    assert in_team(team, invitee) is None


# --- Who may invite whom ------------------------------------------------------------------------
def test_an_admin_cannot_invite_an_owner_but_an_owner_can(team, django_capture_on_commit_callbacks):
    admin = join(team["workspace"], make_user("admin@team.example"), Role.ADMIN)

    with pytest.raises(PermissionDenied):
        members.invitation_create(by=admin, email="boss@example.com", role=Role.OWNER)
    response = client_in(admin.user, team["workspace"]).post(
        reverse("workspace_invite"), {"email": "boss@example.com", "role": Role.OWNER}
    )
    assert response.status_code == 403
    assert not Invitation.objects.filter(email="boss@example.com").exists()

    link = invite(team, email="boss@example.com", role=Role.OWNER, capture=django_capture_on_commit_callbacks)
    boss = make_user("boss@example.com")
    client_in(boss, boss.personal_workspace).post(link)
    assert in_team(team, boss).role == Role.OWNER


def test_an_admin_invites_other_roles(team, django_capture_on_commit_callbacks):
    admin = join(team["workspace"], make_user("admin@team.example"), Role.ADMIN)
    link = invite(
        team, email="helper@example.com", role=Role.MEMBER, by=admin, capture=django_capture_on_commit_callbacks
    )
    assert Invitation.objects.get(email="helper@example.com").invited_by == admin.user
    assert link.startswith("/invitations/")


# --- Removing and leaving -------------------------------------------------------------------------
def test_an_admin_removes_a_member_who_then_has_no_access(team):
    admin = join(team["workspace"], make_user("admin@team.example"), Role.ADMIN)
    leaver = make_user("member@team.example")
    join(team["workspace"], leaver, Role.MEMBER)
    leaver_client = client_in(leaver, team["workspace"])
    membership = in_team(team, leaver)

    response = client_in(admin.user, team["workspace"]).post(reverse("member_remove", args=[membership.pk]))

    assert response.status_code == 302
    assert in_team(team, leaver) is None
    assert WorkspaceEvent.objects.filter(workspace=team["workspace"], action="member.remove").exists()
    # Their open session falls back to a workspace of their own, and cannot switch back.
    leaver_client.get(reverse("dashboard"))
    assert leaver_client.session[WORKSPACE_SESSION_KEY] == leaver.personal_workspace.pk
    assert leaver_client.post(reverse("workspace_switch"), {"workspace": team["workspace"].pk}).status_code == 404


def test_a_member_leaves_and_loses_access(team):
    leaver = make_user("member@team.example")
    join(team["workspace"], leaver, Role.MEMBER)
    client = client_in(leaver, team["workspace"])

    response = client.post(reverse("workspace_leave"))

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert in_team(team, leaver) is None
    assert "You left Team." in messages_of(client.get(reverse("dashboard")))
    assert client.session[WORKSPACE_SESSION_KEY] == leaver.personal_workspace.pk
    assert WorkspaceEvent.objects.filter(workspace=team["workspace"], action="member.leave").exists()
    assert client.post(reverse("workspace_switch"), {"workspace": team["workspace"].pk}).status_code == 404
    assert client.session[WORKSPACE_SESSION_KEY] == leaver.personal_workspace.pk


def test_the_last_owner_cannot_leave_be_removed_or_be_demoted(team):
    owner = team["by"]

    with pytest.raises(members.MemberError, match="only owner"):
        members.member_leave(member=owner)
    with pytest.raises(members.MemberError, match="last owner cannot be removed"):
        members.member_remove(by=owner, membership=owner)
    with pytest.raises(members.MemberError, match="needs an owner"):
        members.member_set_role(by=owner, membership=owner, role=Role.ADMIN)

    client = client_in(team["owner"], team["workspace"])
    response = client.post(reverse("workspace_leave"))
    assert response["Location"] == reverse("workspace_members")
    assert any("only owner" in m for m in messages_of(client.get(response["Location"])))
    client.post(reverse("member_role", args=[owner.pk]), {"role": Role.VIEWER})
    client.post(reverse("member_remove", args=[owner.pk]))
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_an_inactive_second_owner_does_not_count(team):
    other = make_user("second@team.example")
    join(team["workspace"], other, Role.OWNER)
    other.is_active = False
    other.save(update_fields=["is_active"])

    with pytest.raises(members.MemberError):
        members.member_leave(member=team["by"])
    assert in_team(team, team["owner"]).role == Role.OWNER


def test_with_a_second_owner_an_owner_may_be_demoted_removed_or_leave(team):
    owner = team["by"]
    second = join(team["workspace"], make_user("second@team.example"), Role.MEMBER)
    second = members.member_set_role(by=owner, membership=second, role=Role.OWNER)

    members.member_set_role(by=second, membership=owner, role=Role.ADMIN)
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN
    members.member_set_role(by=second, membership=owner, role=Role.OWNER)
    members.member_remove(by=second, membership=owner)
    assert in_team(team, team["owner"]) is None

    # Now `second` is the last owner again.
    second.refresh_from_db()
    with pytest.raises(members.MemberError):
        members.member_leave(member=second)
    third = join(team["workspace"], make_user("third@team.example"), Role.OWNER)
    members.member_leave(member=second)
    assert list(Membership.objects.filter(workspace=team["workspace"]).values_list("pk", flat=True)) == [third.pk]


def test_an_admin_cannot_remove_or_demote_an_owner(team):
    admin = join(team["workspace"], make_user("admin@team.example"), Role.ADMIN)
    join(team["workspace"], make_user("second@team.example"), Role.OWNER)
    client = client_in(admin.user, team["workspace"])

    assert client.post(reverse("member_remove", args=[team["by"].pk])).status_code == 403
    assert client.post(reverse("member_role", args=[team["by"].pk]), {"role": Role.VIEWER}).status_code == 403
    assert client.post(reverse("member_role", args=[admin.pk]), {"role": Role.OWNER}).status_code == 403
    team["by"].refresh_from_db()
    admin.refresh_from_db()
    assert (team["by"].role, admin.role) == (Role.OWNER, Role.ADMIN)
