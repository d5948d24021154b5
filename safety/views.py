"""The public "Who called me?" page: no sign-in, a look-up that needs both numbers, and what the
person called may do about a call (the design: safety/selectors.py)."""

import math

from django.conf import settings
from django.core import signing
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from clozit.remote import client_ip

from . import selectors, services
from .errors import SafetyError
from .forms import ActionForm, LookupForm
from .ratelimit import lookup_wait

TOKEN_SALT = "safety.who-called"
# How long the buttons under a look-up's answer work: long enough to read and decide, short
# enough that a copied page is not a lasting key to the call.
TOKEN_MAX_AGE = 60 * 60
EXPIRED = "This page has expired. Look the call up again to continue."
TEMPLATE = "safety/who_called.html"


def call_token(*, call_id: int, callee_number: str) -> str:
    """What the page's buttons carry instead of a call id: signed, so nobody acts on a call they
    did not look up, and dated (TOKEN_MAX_AGE)."""
    return signing.dumps({"call": call_id, "to": callee_number}, salt=TOKEN_SALT)


def _cards(matches: list[selectors.CallerMatch], callee_number: str) -> list[dict]:
    return [
        {
            "match": m,
            "token": call_token(call_id=m.call.pk, callee_number=callee_number),
            "form": ActionForm(auto_id=f"call{n}_%s"),
        }
        for n, m in enumerate(matches, start=1)
    ]


def _page(request, context: dict, status: int = 200):
    form = context["form"]
    context["lookup_fields"] = [form["caller_number"], form["callee_number"]]
    context["lookup_days"] = settings.SAFETY_LOOKUP_DAYS
    return render(request, TEMPLATE, context, status=status)


@require_http_methods(["GET", "POST"])
def who_called(request):
    form = LookupForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST":
        if form.is_bot:
            # Dropped without a word: the same answer as a look-up that found nothing.
            context["looked_up"] = True
        elif form.is_valid():
            caller, callee = form.cleaned_data["caller_number"], form.cleaned_data["callee_number"]
            wait = lookup_wait(ip=client_ip(request), callee_digest=services.number_digest(callee))
            if wait:
                context["limited_minutes"] = math.ceil(wait / 60)
                return _page(request, context, status=429)
            context["looked_up"] = True
            context["cards"] = _cards(selectors.calls_matching(caller_number=caller, callee_number=callee), callee)
    return _page(request, context)


def _call_of(token: str):
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired included
        return None
    return selectors.call_for_callee(call_id=data["call"], callee_number=data["to"])


@require_POST
def who_called_act(request):
    form = ActionForm(request.POST, auto_id="call1_%s")
    call = _call_of(request.POST.get("token", ""))
    if call is None:
        return _page(request, {"form": LookupForm(), "expired": EXPIRED}, status=400)
    match = selectors.CallerMatch(
        call=call,
        business=selectors.business_name(call.workspace),
        purpose=call.campaign.purpose if call.campaign else "",
        last_called_at=call.created_at,
        calls=1,
    )
    card = {"match": match, "token": request.POST["token"], "form": form}
    context = {"form": LookupForm(), "looked_up": True, "cards": [card], "acted": True}
    if form.is_valid() and not form.cleaned_data["website"]:
        action = form.cleaned_data["action"]
        try:
            if action == "report":
                services.report_submit(call=call, reason=form.cleaned_data["reason"], text=form.cleaned_data["text"])
                card["done"] = "Thank you. Your report reached our staff, who review every report."
                card["reported"] = True
            else:
                services.callee_opt_out(call=call, everyone=action == "everyone")
                card["done"] = (
                    "Done. No business on Clozit will call your number again."
                    if action == "everyone"
                    else f"Done. {match.business} will not call your number again through Clozit."
                )
        except SafetyError as exc:
            card["error"] = str(exc)
    elif form.is_valid():
        card["done"] = "Thank you."  # the honeypot: a bot is told nothing and nothing is done
    else:
        card["error"] = "Choose what to do about the call."
    return _page(request, context, status=200 if "error" not in card else 400)
