from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from . import ledger
from .models import LedgerEntry


@login_required
def credits(request):
    entries = LedgerEntry.objects.filter(account__user=request.user)[:100]
    return render(
        request,
        "billing/credits.html",
        {"balance": ledger.balance_of(user=request.user), "entries": entries},
    )


@login_required
def balance_fragment(request):
    return render(request, "billing/fragment_balance.html", {"balance": ledger.balance_of(user=request.user)})
