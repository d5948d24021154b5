"""The call pages: the list, one call with its transcript, and its recording (owner only)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from telephony.providers.base import ProviderError
from telephony.registry import get_provider

from ..models import Call
from . import selectors


# --- Calls ------------------------------------------------------------------------
@login_required
def call_list(request):
    return render(
        request, "campaigns/calls/call_list.html", {"calls": selectors.calls_for_owner(owner=request.user)[:200]}
    )


@login_required
def call_detail(request, pk):
    call = get_object_or_404(selectors.calls_for_owner(owner=request.user), pk=pk)
    return render(request, "campaigns/calls/call_detail.html", {"call": call, "turns": call.turns.all(), "Call": Call})


@login_required
def call_recording(request, pk):
    """Recordings play only through here, for the call's owner; never a public link."""
    call = get_object_or_404(Call, pk=pk, owner=request.user)
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
