"""The HubSpot page: connect, what is written back, recent push-backs; and the import page.
Views parse, call one service, and render or redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .client import HubSpotError
from .errors import HubSpotIntegrationError
from .forms import ConnectForm, ImportForm, PushBackForm
from .models import PushBack


def _portal(connection):
    """The portal's contact properties, or the reason they could not be read."""
    try:
        return services.client_for(connection).contact_properties(), ""
    except (HubSpotError, HubSpotIntegrationError) as exc:
        return [], exc.message


@login_required
def hubspot_home(request):
    connection = services.connection_of(request.workspace)
    context = {"connection": connection, "connect_form": ConnectForm()}
    if connection is not None:
        properties, problem = _portal(connection)
        captured = selectors.captured_field_names(workspace=request.workspace)
        form = PushBackForm(
            properties=properties,
            captured_fields=captured,
            answers=connection.answer_properties,
            initial=_settings_initial(connection),
        )
        context |= {
            "portal_problem": problem,
            "settings_form": form,
            "push_backs": selectors.recent_push_backs(workspace=request.workspace),
            "imports": selectors.recent_imports(workspace=request.workspace),
        }
    return render(request, "integrations/hubspot.html", context)


def _settings_initial(connection) -> dict:
    initial = {
        "outcome_property": connection.outcome_property,
        "write_notes": connection.write_notes,
        "opt_out_property": connection.opt_out_property,
        "opt_out_value": connection.opt_out_value,
    }
    return initial


@login_required
@require_POST
def hubspot_connect(request):
    form = ConnectForm(request.POST)
    if form.is_valid():
        try:
            services.hubspot_connect(workspace=request.workspace, token=form.cleaned_data["token"], by=request.user)
        except HubSpotIntegrationError as exc:
            form.add_error("token", exc.message)
        else:
            messages.success(request, "HubSpot is connected.")
            return redirect("hubspot_home")
    return render(request, "integrations/hubspot.html", {"connection": None, "connect_form": form})


@login_required
@require_POST
def hubspot_disconnect(request):
    services.hubspot_disconnect(workspace=request.workspace, by=request.user)
    messages.success(request, "HubSpot is disconnected; its token is deleted.")
    return redirect("hubspot_home")


@login_required
@require_POST
def hubspot_settings(request):
    connection = services.connection_of(request.workspace)
    if connection is None:
        return redirect("hubspot_home")
    properties, problem = _portal(connection)
    captured = selectors.captured_field_names(workspace=request.workspace)
    form = PushBackForm(request.POST, properties=properties, captured_fields=captured)
    if form.is_valid():
        data = form.cleaned_data
        services.hubspot_settings_update(
            connection=connection,
            outcome_property=data["outcome_property"],
            answer_properties=form.answer_properties(),
            write_notes=data["write_notes"],
            opt_out_property=data["opt_out_property"],
            opt_out_value=data["opt_out_value"],
            by=request.user,
        )
        messages.success(request, "Saved what is written back to HubSpot.")
        return redirect("hubspot_home")
    context = {
        "connection": connection,
        "portal_problem": problem,
        "settings_form": form,
        "push_backs": selectors.recent_push_backs(workspace=request.workspace),
    }
    return render(request, "integrations/hubspot.html", context)


@login_required
@require_POST
def hubspot_push_retry(request):
    push_id = request.POST.get("push", "")
    push = get_object_or_404(PushBack, pk=int(push_id) if push_id.isdigit() else 0, workspace=request.workspace)
    services.push_back_retry(push=push, by=request.user)
    messages.success(request, "Sending it again.")
    return redirect("hubspot_home")


@login_required
def hubspot_import(request):
    connection = services.connection_of(request.workspace)
    if connection is None:
        return redirect("hubspot_home")
    try:
        client = services.client_for(connection)
        properties, lists = client.contact_properties(), client.contact_lists()
    except (HubSpotError, HubSpotIntegrationError) as exc:
        return render(request, "integrations/hubspot_import.html", {"problem": exc.message}, status=502)
    initial = {"default_country": request.workspace.default_country or "US"}
    form = ImportForm(request.POST or None, properties=properties, lists=lists, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            contact_list = services.hubspot_import_start(
                workspace=request.workspace,
                connection=connection,
                source_list_id=form.cleaned_data["source"],
                source_name=form.source_name(),
                mapping=form.mapping(),
                variables=form.variable_names(),
                name=form.cleaned_data["name"],
                default_country=form.cleaned_data["default_country"],
                by=request.user,
            )
        except HubSpotIntegrationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Importing from HubSpot. The list fills in as HubSpot is read.")
            return redirect("contactlist_detail", contact_list.pk)
    return render(request, "integrations/hubspot_import.html", {"form": form})
