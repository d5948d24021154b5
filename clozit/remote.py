"""Who is on the other end of a request: the address and browser recorded with sign-ins,
acceptances and API use, and counted by rate limits."""

import ipaddress

from django.http import HttpRequest

USER_AGENT_MAX = 300


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address, or None when there is none (no request, a Unix socket).

    uvicorn puts a trusted proxy's X-Forwarded-For into REMOTE_ADDR (its forwarded-allow-ips);
    a client cannot set it otherwise, so the header itself is never read here."""
    if request is None:
        return None
    try:
        return str(ipaddress.ip_address(request.META.get("REMOTE_ADDR") or ""))
    except ValueError:
        return None


def client_user_agent(request: HttpRequest | None) -> str:
    """The browser's User-Agent, cut to USER_AGENT_MAX characters ("" without a request)."""
    if request is None:
        return ""
    return (request.META.get("HTTP_USER_AGENT") or "")[:USER_AGENT_MAX]
