"""Codes are texted after the response has gone out, on every path.

Whether a code is texted depends on whether the number has an account (a login code for an
unknown number, a sign-up with a number another account verified: nothing is sent), and texting
takes a round trip to the provider (Twilio Verify: a few hundred milliseconds). Sent inside the
request, that wait told anyone with a stopwatch which numbers have accounts. So every path that
might text does the same thing while the visitor waits: `text_after_response` looks the number
up, records a delivery ticket in the session and in the cache, and leaves the texting (or, for
a number that must get nothing, no texting) to run once the response is out
(`AfterResponseMiddleware`).

The visitor still learns when a real text could not be sent: the ticket ends "sent" or
"failed", and the page shows the failure (`delivery_context`, polled with htmx through
`accounts.views.sms_delivery_status` while the provider has not answered yet).
"""

import logging
import secrets
from collections.abc import Callable

from django.core.cache import cache

from . import SmsError, get_sms_sender

logger = logging.getLogger(__name__)

SESSION_KEY = "clozit_sms_delivery"
PENDING, SENT, FAILED = "pending", "sent", "failed"
# A ticket still pending this long means the texting never finished (the process died): stop asking.
PENDING_SECONDS = 60
FINAL_SECONDS = 15 * 60

TASKS = "_clozit_after_response"


class AfterResponseMiddleware:
    """Runs what a request left for after its response (`text_after_response`) when the WSGI
    server closes that response, i.e. once its last byte was written."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        tasks = request.__dict__.pop(TASKS, None)
        if tasks:
            # Django's own hook for work at close() (FileResponse closes its file there); it
            # runs before request_finished, in the thread that answered the request.
            response._resource_closers.append(lambda: _run(tasks))
        return response


def _run(tasks: list[Callable[[], None]]) -> None:
    for task in tasks:
        try:
            task()
        except Exception:
            logger.exception("a task after the response failed")


def _key(ticket: str) -> str:
    return f"sms-delivery:{ticket}"


def after_response(request, task: Callable[[], None]) -> None:
    """Run `task` once the response to `request` is out (now, outside a request)."""
    if request is None:
        task()
        return
    request.__dict__.setdefault(TASKS, []).append(task)


def text_after_response(request, *, phone: str, code: str | None) -> None:
    """Text `code` to `phone` once the response is out; with `code` None, text nothing but do
    everything else the same. Outside a request (a shell, a job), the texting happens now."""
    ticket = secrets.token_urlsafe(16)
    cache.set(_key(ticket), PENDING, PENDING_SECONDS)

    def deliver() -> None:
        outcome = SENT
        if code is not None:
            try:
                get_sms_sender().send_code(phone=phone, code=code)
            except SmsError as exc:
                logger.warning("SMS code to %s failed: %s", phone, exc.message)
                outcome = FAILED
        cache.set(_key(ticket), outcome, FINAL_SECONDS)

    if request is None:
        deliver()
        return
    request.session[SESSION_KEY] = ticket
    request.__dict__.setdefault(TASKS, []).append(deliver)


def delivery_status(request) -> str | None:
    """PENDING, SENT or FAILED for the last code this browser asked for; None when there is
    none to report (or it is too old). A final answer is reported once."""
    session = getattr(request, "session", None)
    ticket = session.get(SESSION_KEY) if session is not None else None
    if not ticket:
        return None
    status = cache.get(_key(ticket))
    if status != PENDING:
        session.pop(SESSION_KEY, None)
    return status


def delivery_context(request) -> dict:
    """Template context processor: `sms_delivery` for the message in the page shell."""
    return {"sms_delivery": delivery_status(request)}
