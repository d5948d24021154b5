"""Outgoing webhooks' pages: endpoints and their delivery log. Each parses input, calls one
service and renders or redirects; accounts.roles lets only owners and admins in (INTEGRATIONS)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clozit import events

from . import selectors, services
from .forms import EndpointForm
from .models import Delivery, Endpoint


def _own_endpoint(request, pk) -> Endpoint:
    return get_object_or_404(Endpoint, pk=pk, workspace=request.workspace)


@login_required
def webhook_list(request):
    return render(
        request,
        "integrations/webhook_list.html",
        {"endpoints": selectors.endpoints_of(workspace=request.workspace)},
    )


def _save(request, form, endpoint=None):
    data = form.cleaned_data
    fields = {
        "url": data["url"],
        "event_types": data["event_types"],
        "description": data["description"],
        "enabled": data["enabled"],
        "by": request.user,
    }
    try:
        if endpoint is None:
            return services.endpoint_create(workspace=request.workspace, **fields)
        return services.endpoint_update(endpoint=endpoint, **fields)
    except services.WebhookError as exc:
        form.add_error("url", str(exc))
        return None


@login_required
def webhook_create(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint = _save(request, form)
        if endpoint is not None:
            messages.success(request, "Endpoint added. Copy its signing secret into your receiver.")
            return redirect("webhook_detail", endpoint.pk)
    return render(request, "integrations/webhook_form.html", {"form": form, "endpoint": None})


@login_required
def webhook_edit(request, pk):
    endpoint = _own_endpoint(request, pk)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "enabled": endpoint.enabled,
    }
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid() and _save(request, form, endpoint) is not None:
        messages.success(request, "Endpoint saved.")
        return redirect("webhook_detail", endpoint.pk)
    return render(request, "integrations/webhook_form.html", {"form": form, "endpoint": endpoint})


@login_required
def webhook_detail(request, pk):
    endpoint = _own_endpoint(request, pk)
    return render(
        request,
        "integrations/webhook_detail.html",
        {
            "endpoint": endpoint,
            "deliveries": selectors.endpoint_deliveries(endpoint=endpoint),
            "overlap_hours": settings.WEBHOOK_SECRET_OVERLAP_HOURS,
            "event_types": events.EVENT_TYPES,
        },
    )


@login_required
@require_POST
def webhook_delete(request, pk):
    services.endpoint_delete(endpoint=_own_endpoint(request, pk), by=request.user)
    messages.success(request, "Endpoint deleted: it receives nothing more.")
    return redirect("webhook_list")


@login_required
@require_POST
def webhook_rotate(request, pk):
    services.endpoint_secret_rotate(endpoint=_own_endpoint(request, pk), by=request.user)
    messages.success(
        request,
        f"New secret made. For {settings.WEBHOOK_SECRET_OVERLAP_HOURS} hours each event is signed with both, "
        "so switch your receiver to the new one before then.",
    )
    return redirect("webhook_detail", pk)


@login_required
@require_POST
def webhook_enable(request, pk):
    services.endpoint_enable(endpoint=_own_endpoint(request, pk), by=request.user)
    messages.success(request, "Endpoint turned on again.")
    return redirect("webhook_detail", pk)


@login_required
@require_POST
def webhook_test(request, pk):
    services.endpoint_test_send(endpoint=_own_endpoint(request, pk), by=request.user)
    messages.success(request, "Test event sent: it appears in the log below in a moment (reload the page).")
    return redirect("webhook_detail", pk)


@login_required
@require_POST
def webhook_resend(request, pk, delivery_pk):
    endpoint = _own_endpoint(request, pk)
    delivery = get_object_or_404(Delivery, pk=delivery_pk, endpoint=endpoint)
    services.delivery_resend(delivery=delivery, by=request.user)
    messages.success(request, "Sending it again, with the same webhook-id.")
    return redirect("webhook_detail", pk)
