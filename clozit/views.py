"""Public pages, the dashboard and the health check."""

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from billing import ledger
from campaigns.analytics.selectors import activity_last_days
from campaigns.calls.selectors import calls_filtered
from campaigns.lifecycle import selectors, state
from policies.pages import policy_page_context
from telephony.registry import provider_problem


def landing(request):
    return render(request, "pages/landing.html")


def policy(request, page):
    return render(request, f"pages/{page}.html", policy_page_context(policy=page))


@login_required
def dashboard(request):
    workspace = request.workspace
    context = {
        "balance": ledger.balance_of(workspace=workspace),
        "campaigns": selectors.campaigns_for_workspace(workspace=workspace).filter(archived_at__isnull=True)[:5],
        "scheduled": state.campaigns_scheduled(workspace=workspace),
        "calls": calls_filtered(workspace=workspace).order_by("-created_at", "-pk")[:8],
        "activity": activity_last_days(workspace=workspace, days=7),
    }
    context["week_calls"] = sum(d["calls"] for d in context["activity"])
    context["week_credits"] = sum(d["credits"] for d in context["activity"])
    return render(request, "dashboard.html", context)


_redis_clients: dict[str, redis.Redis] = {}


def _queue_redis() -> redis.Redis:
    """The queues' Redis, one client (and connection pool) per URL per process: load balancers
    check often, and django-rq's get_connection() opens a new connection every time."""
    url = settings.RQ_QUEUES["default"]["URL"]
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return _redis_clients[url]


def healthz(request):
    """200 when the database and Redis answer; 503 naming what failed."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure is the answer here
        checks["database"] = f"failed: {exc.__class__.__name__}"
    try:
        _queue_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"failed: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    # Reported, not fatal: the site still serves pages while calls cannot be placed.
    problem = provider_problem()
    telephony = {"provider": settings.TELEPHONY_PROVIDER, "status": problem or "ok"}
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks, "telephony": telephony},
        status=200 if healthy else 503,
    )
