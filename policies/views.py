"""Reading a policy version, comparing it with the one it replaces, and accepting versions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_safe

from . import gate, selectors
from .errors import PolicyError
from .models import PolicyVersion
from .services import policy_accept as accept_versions
from .text import blocks_of, builtin_blocks, compared, grouped


def _published(policy: str, version: str) -> PolicyVersion:
    if policy not in PolicyVersion.Policy.values:
        raise Http404("No such policy.")
    found = selectors.version_with_text(policy=policy, version=version)
    if found is None:
        raise Http404("No such published version.")
    return found


@require_safe
def policy_version(request, policy, version):
    """One published version's whole text (public)."""
    found = _published(policy, version)
    return render(
        request,
        "policies/version.html",
        {"version": found, "blocks": grouped(blocks_of(found.text)), "in_effect": found.effective_at <= timezone.now()},
    )


@require_safe
def policy_compare(request, policy, version):
    """The version's text with what changed against the one it replaces (public). The first
    published version of a policy is compared with the built-in page it replaces."""
    found = _published(policy, version)
    before = selectors.version_before(version=found)
    old = blocks_of(before.text) if before else builtin_blocks(policy)
    changes = compared(old, blocks_of(found.text))
    return render(
        request,
        "policies/compare.html",
        {
            "version": found,
            "before": before,
            "changes": changes,
            "added": sum(1 for c in changes if c.change in ("added", "changed")),
            "removed": sum(1 for c in changes if c.change in ("removed", "changed")),
        },
    )


def _next(request) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return wanted
    return "/dashboard/"


@login_required
@require_http_methods(["GET", "POST"])
def policy_accept(request):
    """GET: the versions in effect the person has not accepted yet (the gate sends them here).
    POST: accept the versions named (those shown on this page, or the banner's coming ones)."""
    if request.method == "POST":
        wanted = {v for v in request.POST.getlist("version") if v.isdigit()}
        offered = list(selectors.current_versions().values()) + selectors.coming_versions()
        versions = [v for v in offered if str(v.pk) in wanted]
        if not versions:
            messages.error(request, "Nothing was accepted: that version is no longer offered. Please look again.")
            return redirect(f"{request.path}?{urlencode({'next': _next(request)})}")
        try:
            accept_versions(user=request.user, versions=versions, request=request)
        except PolicyError as exc:
            messages.error(request, str(exc))
            return redirect(f"{request.path}?{urlencode({'next': _next(request)})}")
        gate.remember_accepted(request, [v.pk for v in versions])
        names = ", ".join(f"{v.get_policy_display().lower()} (version {v.version})" for v in versions)
        messages.success(request, f"Thank you: you accepted the {names}.")
        return redirect(_next(request))
    pending = gate.versions_to_accept(request)
    if not pending:
        return redirect(_next(request))
    return render(request, "policies/accept.html", {"pending": pending, "next": _next(request)})
