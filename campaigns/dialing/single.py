"""One call placed now, outside any campaign (the API's `POST /calls`).

It passes the same checks a campaign's call passes before it is written, for this one callee:
the workspace may dial (not suspended, a working carrier, the minimum credits), neither
do-not-call list has the number, the callee's calling window is open, the workspace is under its
limit of calls in progress, and a credit hold covers the call. Then it takes the dialer's own
path: the call row is written with its hold before anything is dialled, and `call_place` dials
it (and checks once more at the last moment) in a dial job sent at commit.

There is no list behind such a call, so the consent a campaign takes from its list is attested
for this call alone by whoever places it, and recorded in the workspace's activity (who, when,
which number) in the transaction that writes the call.
"""

import datetime as dt
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import audit
from accounts.models import Workspace
from billing import ledger
from clozit.phones import normalise_number
from telephony.numbers import caller_number_usable, default_caller_number

from ..contacts.contact_rows import MAX_VARIABLE_LENGTH, normalise_header, normalise_time_zone
from ..contacts.windows import WAITING_CLOSED, WAITING_NO_ZONE, AnyHours, WindowCheck
from ..errors import CampaignError
from ..lifecycle.services import _ensure_can_dial
from ..models import Agent, Call, DoNotCall
from .dialer import RING_ALLOWANCE_SECONDS, _call_ids_draw, _dial_jobs_enqueue

MAX_VARIABLES = 50


class CallNotNow(CampaignError):
    """The callee's calling window is closed: `opens_at` says when it opens (None: not within a week)."""

    def __init__(self, message: str, *, opens_at: dt.datetime | None):
        super().__init__(message)
        self.opens_at = opens_at


def _variables_clean(variables: dict | None) -> dict[str, str]:
    """Variables as a contact's are stored: names as the CSV import writes them, values as text."""
    variables = variables or {}
    if len(variables) > MAX_VARIABLES:
        raise CampaignError(f"Send at most {MAX_VARIABLES} variables.")
    cleaned = {}
    for name, value in variables.items():
        key = normalise_header(str(name))
        if not key:
            raise CampaignError(f"The variable name “{str(name)[:40]}” has no letters or digits.")
        cleaned[key] = "" if value is None else str(value)[:MAX_VARIABLE_LENGTH]
    return cleaned


def _dnc_refusal(workspace, number: str) -> str:
    """Why `number` may not be called for the do-not-call lists ("" when it may)."""
    owners = list(
        DoNotCall.objects.filter(Q(workspace=workspace) | Q(workspace__isnull=True), phone_number=number).values_list(
            "workspace_id", flat=True
        )
    )
    if not owners:
        return ""
    where = "your do-not-call list" if any(owners) else "the platform-wide do-not-call list"
    return f"{number} is on {where}, so it is never called."


def call_place_now(
    *,
    workspace: Workspace,
    agent: Agent,
    to: str,
    by,
    consent: bool,
    variables: dict | None = None,
    caller_number: str = "",
    time_zone: str = "",
    via: str = "",
) -> Call:
    """Write a queued call from `agent` to `to` and send it to the dialer; the call is returned
    queued. `by`: the member who placed it (attests consent); `via`: how (e.g. "API key …"), for
    the activity log. Every refusal is a CampaignError whose message says what to change (a
    closed window is a CallNotNow with when it opens); ledger.InsufficientCredits when the
    credits cannot cover the shortest call. Nothing is written when it is refused."""
    if agent.workspace_id != workspace.pk:
        raise CampaignError("No such agent in this workspace.")
    if not consent:
        raise CampaignError(
            "Confirm that you have consent to call this person (in the US, prior express consent under the "
            "TCPA) by sending consent: true."
        )
    try:
        number = normalise_number(to, default_country=workspace.default_country or "US")
    except ValueError as exc:
        raise CampaignError(f"The number to call is not usable: {exc}.") from None
    try:
        zone_name = normalise_time_zone(time_zone)
    except ValueError as exc:
        raise CampaignError(f"Time zone: {exc}.") from None
    cleaned = _variables_clean(variables)
    caller = caller_number or default_caller_number(workspace)
    if not caller:
        raise CampaignError("This workspace has no number to call from. Buy a number first.")
    if not caller_number_usable(workspace, caller):
        raise CampaignError(f"{caller} is not one of your numbers nor a shared number: choose another caller number.")
    refusal = _dnc_refusal(workspace, number)
    if refusal:
        raise CampaignError(refusal)
    # The dialer checks the same window again just before it dials (dialer._window_wait).
    wait = WindowCheck(AnyHours(), timezone.now()).wait_for(SimpleNamespace(phone_number=number, time_zone=zone_name))
    if wait is not None:
        if wait.reason == WAITING_NO_ZONE:
            raise CampaignError(f"No time zone is known for {number}: send the callee's time zone.")
        opens_at = wait.until if wait.reason.startswith(WAITING_CLOSED) else None
        when = f" Calling opens at {opens_at.isoformat()}." if opens_at else ""
        raise CallNotNow(f"{number} may not be called now: {wait.reason}.{when}", opens_at=opens_at)

    with transaction.atomic():
        # Locked as the dialer's claim locks it (and in the same order, workspace first): calls
        # placed at the same time, here or by campaigns, are counted one after the other.
        workspace = Workspace.objects.select_for_update(no_key=True).get(pk=workspace.pk)
        _ensure_can_dial(workspace)
        live = Call.objects.filter(workspace=workspace, status__in=Call.LIVE_STATUSES).count()
        if live >= workspace.call_limit:
            raise CampaignError(
                f"This workspace already has {live} calls in progress, its limit. Try again when one has ended."
            )
        call_id = _call_ids_draw(1)[0]
        hold = ledger.hold_place(
            workspace=workspace,
            reference=f"call:{call_id}",
            max_amount=ledger.call_cost(seconds=agent.max_call_seconds),
            min_amount=settings.CALL_MIN_CREDITS,
            lifetime=timedelta(seconds=agent.max_call_seconds + RING_ALLOWANCE_SECONDS),
        )
        now = timezone.now()
        call = Call.objects.create(
            pk=call_id,
            workspace=workspace,
            agent=agent,
            to_number=number,
            from_number=caller,
            provider=settings.TELEPHONY_PROVIDER,
            hold_reference=hold.reference,
            # The carrier ends the call when the reserved credits are used up.
            time_limit_seconds=ledger.call_time_limit(hold=hold),
            # No contact behind it: the agent's {{variables}} come from here (calls.services._context).
            engine_state={
                "variables": cleaned,
                "time_zone": zone_name,
                "consent": {"attested_at": now.isoformat(), "by": getattr(by, "pk", None), "via": via},
            },
        )
        audit.record(
            workspace=workspace,
            actor=by,
            action="call.place",
            summary=f"Placed call {call.pk} to {number} with the agent “{agent.name}”"
            f"{f' ({via})' if via else ''}; consent to call this person confirmed.",
        )
        _dial_jobs_enqueue([call.pk])
    return call
