"""Placeholder until the Telnyx webhook lands."""

from django.http import HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def webhook(request):
    return HttpResponseForbidden("Telnyx is not configured")
