"""The call pages: the list, one call with its transcript, and its recording (owner only)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from billing.disputes import call_charge_state
from telephony.providers.base import ProviderError
from telephony.registry import get_provider

from ..models import Call
from . import selectors
from .forms import CallFilterForm


# --- Calls ------------------------------------------------------------------------
@login_required
def call_list(request):
    """The account's calls, newest first, filtered by the form in the query string and paged by
    keyset links (?before= / ?after=, see selectors.calls_page)."""
    workspace = request.workspace
    form = CallFilterForm(
        request.GET or None, workspace=workspace, outcomes=selectors.outcome_names(workspace=workspace)
    )
    filters = form.cleaned_data if form.is_valid() else {}
    if form.is_bound and not form.is_valid():
        calls_page = selectors.CallPage([], older=None, newer=None)  # the errors say why nothing is listed
    else:
        calls_page = selectors.calls_page(
            selectors.calls_filtered(workspace=workspace, **filters),
            before=selectors.Cursor.parse(request.GET.get("before")),
            after=selectors.Cursor.parse(request.GET.get("after")),
        )
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    context = {
        "form": form,
        "calls": calls_page.calls,
        "page": calls_page,
        "filtered": any(filters.values()),
        "query": query.urlencode(),
    }
    return render(request, "campaigns/calls/call_list.html", context)


@login_required
def call_detail(request, pk):
    call = get_object_or_404(selectors.calls_for_workspace(workspace=request.workspace), pk=pk)
    charge = call_charge_state(workspace=request.workspace, call=call)  # credited back, disputed, may be disputed
    return render(
        request,
        "campaigns/calls/call_detail.html",
        {"call": call, "turns": call.turns.all(), "Call": Call, "charge": charge},
    )


@login_required
def call_recording(request, pk):
    """Recordings play only through here, for the call's owner; never a public link."""
    call = get_object_or_404(Call, pk=pk, workspace=request.workspace)
    if not call.recording_url:
        raise Http404("This call has no recording.")
    try:
        audio, content_type = get_provider(call.provider).fetch_recording(
            call.recording_url, recording_id=call.recording_id
        )
    except ProviderError as exc:
        return HttpResponse(f"The recording is not available right now: {exc.message}", status=502)
    response = HttpResponse(audio, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    return response
