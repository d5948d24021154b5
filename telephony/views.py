"""The Phone numbers pages: an account's numbers, the shared ones, searching, buying, releasing."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.validators import RegexValidator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import country_choices
from billing import ledger, prices
from campaigns.models import Agent, Campaign

from . import numbers
from .models import PhoneNumber


class NumberSearchForm(forms.Form):
    country = forms.ChoiceField(choices=country_choices)
    area_code = forms.CharField(
        required=False,
        max_length=5,
        validators=[RegexValidator(r"^\d*$", "An area code is digits only, such as 415.")],
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "Any"}),
    )


class InboundAgentForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), required=False, empty_label="Nobody")

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = Agent.objects.filter(workspace=workspace)


def _fee_context(workspace) -> dict:
    """The fee a number bought now costs, and the next scheduled change of it (or None)."""
    change = prices.next_change(prices.Item.NUMBER_MONTHLY)
    return {
        "fee": numbers.credits_text(prices.number_monthly_fee()),
        "fee_change": change,
        "fee_change_new": numbers.credits_text(change.new_value) if change else "",
        "available": numbers.credits_text(ledger.balance_of(workspace=workspace).available),
    }


@login_required
def number_list(request):
    """The account's numbers and the shared ones; with `country` in the query, search results too
    (only the results when htmx asks)."""
    searching = "country" in request.GET
    search_form = NumberSearchForm(
        request.GET if searching else None, initial={"country": request.workspace.default_country}
    )
    results, search_error = None, ""
    if searching and search_form.is_valid():
        try:
            results = numbers.numbers_search(
                country=search_form.cleaned_data["country"], area_code=search_form.cleaned_data["area_code"]
            )
        except numbers.NumberError as exc:
            search_error = str(exc)
    context = {
        "search_form": search_form,
        "results": results,
        "search_error": search_error,
        **_fee_context(request.workspace),
    }
    if request.htmx and searching:
        return render(request, "telephony/fragment_search_results.html", context)
    agents = list(Agent.objects.filter(workspace=request.workspace))
    context.update(
        owned=numbers.numbers_for_workspace(request.workspace),
        shared=numbers.shared_numbers(),
        agents=agents,
    )
    return render(request, "telephony/number_list.html", context)


@login_required
def number_buy(request):
    """GET: what buying the number costs, to confirm. POST: buy it."""
    number = (request.POST if request.method == "POST" else request.GET).get("number", "").strip()
    if not number:
        return redirect("number_list")
    if request.method == "POST":
        try:
            bought = numbers.number_buy(workspace=request.workspace, number=number)
        except numbers.NumberError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{bought.number} is yours. Choose an agent to answer calls to it.")
            return redirect("number_list")
    return render(
        request,
        "telephony/number_buy.html",
        {"number": number, "can_buy": request.workspace.can_dial, **_fee_context(request.workspace)},
    )


@login_required
@require_POST
def number_agent(request, pk):
    phone_number = get_object_or_404(PhoneNumber, pk=pk, workspace=request.workspace)
    form = InboundAgentForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        messages.error(request, "Choose one of your agents.")
        return redirect("number_list")
    agent = form.cleaned_data["agent"]
    try:
        numbers.number_assign_agent(phone_number=phone_number, agent=agent)
    except numbers.NumberError as exc:
        messages.error(request, str(exc))
    else:
        who = f"“{agent.name}” answers" if agent else "Nobody answers"
        messages.success(request, f"{who} calls to {phone_number.number}.")
    return redirect("number_list")


@login_required
def number_release(request, pk):
    """GET: confirm. POST: give the number back; the monthly fee stops, nothing is refunded."""
    phone_number = get_object_or_404(PhoneNumber, pk=pk, workspace=request.workspace, status=PhoneNumber.Status.ACTIVE)
    if request.method == "POST":
        try:
            numbers.number_release(phone_number=phone_number)
        except numbers.NumberError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{phone_number.number} was released. Its monthly fee has stopped.")
        return redirect("number_list")
    campaigns = Campaign.objects.filter(workspace=request.workspace, caller_number=phone_number.number).exclude(
        status__in=[Campaign.Status.COMPLETED, Campaign.Status.STOPPED]
    )
    return render(request, "telephony/number_release.html", {"phone_number": phone_number, "campaigns": campaigns})
