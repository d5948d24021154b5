"""The workspace pages: switching, members and invitations, settings, activity, closing.

Thin: each parses the form, calls one service of accounts.members (which checks the role
again) and redirects. The gate has already refused roles that may not use a page.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import audit, members, roles, security, services
from .export import account_export
from .middleware import WORKSPACE_SESSION_KEY
from .models import Invitation, Membership, Workspace
from .workspaces import membership_in, workspace_create

Role = Membership.Role


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class WorkspaceForm(forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ["name", "company_name", "default_country", "time_zone"]


class NewWorkspaceForm(forms.Form):
    name = forms.CharField(max_length=200, label="Workspace name")


class CloseWorkspaceForm(forms.Form):
    confirm_name = forms.CharField(label="Type the workspace's name to confirm")

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_confirm_name(self):
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.workspace.name.strip():
            raise forms.ValidationError("That is not this workspace's name.")
        return value


@login_required
@require_POST
def workspace_switch(request):
    member = membership_in(user=request.user, workspace_id=_int(request.POST.get("workspace")))
    if member is None:
        raise Http404("You are not a member of that workspace.")
    request.session[WORKSPACE_SESSION_KEY] = member.workspace_id
    messages.success(request, f"You are working in {member.workspace.name}.")
    return redirect("dashboard")


@login_required
def workspace_new(request):
    form = NewWorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = workspace_create(
            name=form.cleaned_data["name"],
            owner=request.user,
            default_country=request.workspace.default_country,
            time_zone=request.user.time_zone,
        )
        audit.record(
            workspace=workspace, actor=request.user, action="workspace.create", summary="Created the workspace."
        )
        request.session[WORKSPACE_SESSION_KEY] = workspace.pk
        messages.success(request, f"{workspace.name} is ready. Buy credits and invite your team to start.")
        return redirect("workspace_members")
    return render(request, "accounts/workspace_new.html", {"form": form})


@login_required
def workspace_members(request):
    context = {
        "members": members.workspace_members(request.workspace),
        "invitations": members.open_invitations(request.workspace),
        "invite_form": InviteForm(),
        "roles": [(Role(value), roles.ROLE_DESCRIPTIONS[value]) for value in Role.values],
        "role_choices": Role.choices,
    }
    return render(request, "accounts/members.html", context)


@login_required
@require_POST
def workspace_invite(request):
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = members.invitation_create(by=request.member, **form.cleaned_data)
        except members.MemberError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("workspace_members")


@login_required
@require_POST
def invitation_revoke(request, pk):
    invitation = get_object_or_404(Invitation, pk=pk, workspace=request.workspace)
    members.invitation_revoke(by=request.member, invitation=invitation)
    messages.success(request, f"The invitation of {invitation.email} is withdrawn.")
    return redirect("workspace_members")


@login_required
@require_POST
def member_role(request, pk):
    membership = get_object_or_404(Membership, pk=pk, workspace=request.workspace)
    try:
        members.member_set_role(by=request.member, membership=membership, role=request.POST.get("role", ""))
    except members.MemberError as exc:
        messages.error(request, str(exc))
    return redirect("workspace_members")


@login_required
@require_POST
def member_remove(request, pk):
    membership = get_object_or_404(Membership, pk=pk, workspace=request.workspace)
    try:
        members.member_remove(by=request.member, membership=membership)
    except members.MemberError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.email} is no longer a member.")
        if membership.user_id == request.user.pk:
            request.session.pop(WORKSPACE_SESSION_KEY, None)
            return redirect("dashboard")
    return redirect("workspace_members")


@login_required
@require_POST
def workspace_leave(request):
    try:
        members.member_leave(member=request.member)
    except members.MemberError as exc:
        messages.error(request, str(exc))
        return redirect("workspace_members")
    request.session.pop(WORKSPACE_SESSION_KEY, None)
    messages.success(request, f"You left {request.workspace.name}.")
    return redirect("dashboard")


@login_required
def workspace_settings(request):
    form = WorkspaceForm(request.POST or None, instance=Workspace.objects.get(pk=request.workspace.pk))
    if request.method == "POST" and form.is_valid():
        try:
            members.workspace_update(by=request.member, **form.cleaned_data)
        except members.MemberError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, "Workspace settings saved.")
            return redirect("workspace_settings")
    close_form = CloseWorkspaceForm(workspace=request.workspace)
    return render(request, "accounts/workspace_settings.html", {"form": form, "close_form": close_form})


@login_required
@require_POST
def workspace_close(request):
    form = CloseWorkspaceForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        context = {"form": WorkspaceForm(instance=request.workspace), "close_form": form}
        return render(request, "accounts/workspace_settings.html", context, status=400)
    services.workspace_close(by=request.member)
    request.session.pop(WORKSPACE_SESSION_KEY, None)
    messages.success(request, f"{request.workspace.name} is closed. Its data is erased in 30 days.")
    return redirect("dashboard")


@login_required
def workspace_export(request):
    data = account_export(user=request.user, workspace=request.workspace)
    detail = f"the workspace {request.workspace.name}"
    security.security_event_record(user=request.user, kind=security.Kind.DATA_EXPORTED, request=request, detail=detail)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="clozit-workspace-{timezone.now():%Y%m%d}.zip"'
    return response


@login_required
def workspace_activity(request):
    return render(request, "accounts/activity.html", {"events": audit.recent(workspace=request.workspace)})


def invitation_accept(request, token):
    """The emailed link: who invited whom to what, and a button to join once signed in with the
    invited address (signing up on the way, with the same mobile check as every account)."""
    problem = None
    try:
        invitation = members.invitation_from_token(token)
        problem = members.invitation_problem(invitation)
    except members.MemberError as exc:
        invitation, problem = None, str(exc)
    if problem or invitation is None:
        return render(request, "accounts/invitation.html", {"problem": problem}, status=410 if invitation else 404)
    if request.method == "POST" and request.user.is_authenticated:
        try:
            member = members.invitation_accept(invitation=invitation, user=request.user)
        except members.MemberError as exc:
            messages.error(request, str(exc))
        else:
            request.session[WORKSPACE_SESSION_KEY] = member.workspace_id
            messages.success(request, f"Welcome to {member.workspace.name}.")
            return redirect("dashboard")
    wrong_account = request.user.is_authenticated and request.user.email.lower() != invitation.email.lower()
    context = {"invitation": invitation, "wrong_account": wrong_account, "next": request.path}
    return render(request, "accounts/invitation.html", context)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
