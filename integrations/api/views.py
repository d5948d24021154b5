"""The API keys page: list, make (the key is shown once), revoke. Who may: accounts.roles
(Action.INTEGRATIONS, for reading the list too)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from accounts import security

from .forms import ApiKeyForm
from .keys import api_key_create, api_key_revoke
from .models import ApiKey


def _keys_page(request, form, status=200):
    keys = ApiKey.objects.filter(workspace=request.workspace).select_related("created_by")
    return render(request, "integrations/api_keys.html", {"keys": keys, "form": form}, status=status)


@login_required
@require_safe
def api_keys(request):
    return _keys_page(request, ApiKeyForm())


@login_required
@require_POST
def api_key_create_view(request):
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, form, status=400)
    new = api_key_create(
        workspace=request.workspace,
        by=request.user,
        name=form.cleaned_data["name"],
        scope=form.cleaned_data["scope"],
        expires_at=form.expires_at(),
    )
    detail = f"{new.key} in {request.workspace.name}"
    security.security_event_record(
        user=request.user, kind=security.Kind.API_KEY_CREATED, request=request, detail=detail
    )
    # The whole key exists only in this answer: no cache (browser or proxy) may keep it, and a
    # reload cannot show it again (a POST answered, not a page to come back to).
    response = render(request, "integrations/api_keys_created.html", {"key": new.key, "secret": new.secret})
    response["Cache-Control"] = "no-store"
    return response


@login_required
def api_key_revoke_view(request, pk):
    """GET: confirm. POST: the key stops working at once."""
    key = get_object_or_404(ApiKey, pk=pk, workspace=request.workspace)
    if request.method == "POST":
        was_live = key.revoked_at is None
        api_key_revoke(key=key, by=request.user)
        if was_live:  # a second click changes nothing, and is not logged twice
            detail = f"{key} in {request.workspace.name}"
            security.security_event_record(
                user=request.user, kind=security.Kind.API_KEY_REVOKED, request=request, detail=detail
            )
        messages.success(request, f"{key} was revoked; requests with it are refused from now on.")
        return redirect("api_keys")
    return render(request, "integrations/api_keys_revoke.html", {"key": key})
