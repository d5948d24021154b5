from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def integrations_home(request):
    """What can connect to this workspace: API keys, webhooks, HubSpot."""
    return render(request, "integrations/home.html")
