"""The project's URLs plus a view that does nothing, the baseline bench/turn_webhook.py compares against."""

from django.http import HttpResponse
from django.urls import include, path


def noop(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/noop/", noop),
    path("", include("clozit.urls")),
]
