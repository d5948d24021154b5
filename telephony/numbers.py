"""Caller numbers: the platform's shared numbers and the numbers accounts buy and rent.

Shared numbers (no owner) are added by staff in admin, and every account may call from them;
until staff add one, settings.DEFAULT_CALLER_ID stands in, so a fresh install dials without
setup. A bought number costs its monthly fee in credits at purchase and every 30 days after
(`numbers_renew`, daily). Fees are never refunded; an account that cannot pay loses the number.
"""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from billing import ledger, prices
from clozit.phones import normalise_number
from notices import kinds as notice_kinds
from notices.services import notice_send_to_workspace

from .models import PhoneNumber
from .providers.base import AvailableNumber, ProviderError, VoiceProvider
from .registry import UnknownProvider, get_provider, provider_problem

logger = logging.getLogger(__name__)

ACTIVE = PhoneNumber.Status.ACTIVE
RENTAL_PERIOD = timedelta(days=30)
# The first month's credits stay reserved while the provider is asked; if the process dies
# mid-purchase, the hold expires (billing.ledger.holds_release_expired) and nothing is charged.
PURCHASE_HOLD_LIFETIME = timedelta(minutes=5)


class NumberError(Exception):
    """A request the number rules refuse, or a provider failure; the message is for the user."""


def credits_text(amount: Decimal) -> str:
    """150, 0.5: credits as people write them."""
    return format(Decimal(amount).normalize(), "f")


# --- Reads ------------------------------------------------------------------------
def numbers_for_workspace(workspace) -> QuerySet:
    """The numbers an account bought, active ones first, with their inbound agents."""
    return (
        PhoneNumber.objects.filter(workspace=workspace)
        .select_related("inbound_agent")
        .order_by("status", "-released_at", "number")  # "active" sorts before "released"
    )


def shared_numbers() -> list[str]:
    """Numbers every account may call from: the active shared numbers, or DEFAULT_CALLER_ID
    while staff have added none."""
    numbers = list(
        PhoneNumber.objects.filter(workspace__isnull=True, status=ACTIVE)
        .order_by("number")
        .values_list("number", flat=True)
    )
    if numbers:
        return numbers
    return [settings.DEFAULT_CALLER_ID] if settings.DEFAULT_CALLER_ID else []


def caller_number_choices(workspace) -> list[tuple[str, str]]:
    """What a campaign of `owner` may call from: its own active numbers first, then the shared ones."""
    choices = []
    for number in PhoneNumber.objects.filter(workspace=workspace, status=ACTIVE).order_by("number"):
        choices.append((number.number, f"{number.number} — your number{f' ({number.label})' if number.label else ''}"))
    owned = {value for value, _ in choices}
    choices += [(number, f"{number} — shared") for number in shared_numbers() if number not in owned]
    return choices


def default_caller_number(workspace) -> str:
    """The number a new campaign starts with: the account's own, else a shared one."""
    choices = caller_number_choices(workspace)
    return choices[0][0] if choices else ""


def caller_number_usable(workspace, number: str) -> bool:
    """May `owner` (a user or its id) call from `number` now? True for its own active numbers,
    the active shared numbers, and DEFAULT_CALLER_ID while no shared number exists; False for
    a released number, someone else's, or anything else."""
    if not number:
        return False
    active = PhoneNumber.objects.filter(number=number, status=ACTIVE)
    if active.filter(Q(workspace=workspace) | Q(workspace__isnull=True)).exists():
        return True
    return (
        number == settings.DEFAULT_CALLER_ID
        and not PhoneNumber.objects.filter(workspace__isnull=True, status=ACTIVE).exists()
    )


def numbers_search(*, country: str, area_code: str = "", limit: int = 20) -> list[AvailableNumber]:
    """Numbers the configured provider offers in `country` (and `area_code`), minus any in use here."""
    country, area_code = (country or "").strip().upper(), (area_code or "").strip()
    if len(country) != 2 or not country.isalpha():
        raise NumberError("Choose a country, such as US.")
    if area_code and not (area_code.isdigit() and len(area_code) <= 5):
        raise NumberError("An area code is up to five digits, such as 415.")
    voice = _configured_provider()
    try:
        found = voice.search_numbers(country=country, area_code=area_code, limit=limit)
    except ProviderError as exc:
        raise NumberError(f"Numbers could not be searched: {exc.message}") from exc
    taken = set(
        PhoneNumber.objects.filter(status=ACTIVE, number__in=[n.number for n in found]).values_list("number", flat=True)
    )
    return [n for n in found if n.number not in taken]


# --- Buying -----------------------------------------------------------------------
def number_buy(*, workspace, number: str) -> PhoneNumber:
    """Buy `number` at the configured provider for `owner` and charge its first month.

    A purchase at the provider cannot be rolled back, so the order is:
    1. hold the fee, so calls in progress cannot spend the credits that will pay it;
    2. buy at the provider; if that fails, free the hold: nothing is charged;
    3. in one transaction, free the hold, record the number and charge the fee;
    4. if step 3 fails all the same, give the number back to the provider rather than keep
       one nobody pays for.
    A crash between 2 and 3 leaves a number at the provider that Clozit does not know about
    (nothing is charged: the hold expires); staff find it in the provider's console.
    """
    if not workspace.can_dial:
        raise NumberError("A suspended account cannot buy numbers.")
    number = _e164(number)
    if PhoneNumber.objects.filter(number=number, status=ACTIVE).exists():
        raise NumberError(f"{number} is already in use on Clozit. Choose another number.")
    voice = _configured_provider()
    fee = prices.number_monthly_fee()  # the fee in force now (billing.prices)
    hold = f"number-purchase:{workspace.pk}:{uuid.uuid4().hex}"
    if fee > 0:
        try:
            ledger.hold_place(
                workspace=workspace, reference=hold, max_amount=fee, min_amount=fee, lifetime=PURCHASE_HOLD_LIFETIME
            )
        except ledger.InsufficientCredits:
            available = credits_text(ledger.balance_of(workspace=workspace).available)
            raise NumberError(
                f"A number costs {credits_text(fee)} credits a month and you have {available} available. "
                "Buy credits first."
            ) from None
    try:
        provider_number_id = voice.buy_number(
            number,
            voice_url=_webhook_url("telephony_inbound", voice),
            status_url=_webhook_url("telephony_inbound_status", voice),
        )
    except ProviderError as exc:
        _hold_free(hold, fee)
        raise NumberError(f"{number} could not be bought: {exc.message} Nothing was charged.") from exc
    try:
        with transaction.atomic():
            _hold_free(hold, fee)
            return number_record(
                workspace=workspace,
                number=number,
                provider=voice.name,
                provider_number_id=provider_number_id,
                monthly_fee=fee,
            )
    except Exception as exc:
        # Whatever went wrong, a number nobody pays for must not stay bought.
        try:
            voice.release_number(provider_number_id)
        except ProviderError:
            logger.exception("Bought %s (%s) but could not record or release it", number, provider_number_id)
        _hold_free(hold, fee)
        if isinstance(exc, (ledger.LedgerError, IntegrityError)):
            raise NumberError(
                f"{number} could not be added to your account and was given back. Nothing was charged."
            ) from exc
        raise


def number_record(
    *, workspace, number: str, provider: str, provider_number_id: str, monthly_fee: Decimal, now: datetime | None = None
) -> PhoneNumber:
    """Record a number `owner` now holds at `provider` and charge its first period. Raises
    InsufficientCredits, or IntegrityError when the number is active already; either way
    nothing is recorded or charged."""
    now = now or timezone.now()
    with transaction.atomic():
        phone_number = PhoneNumber.objects.create(
            workspace=workspace,
            number=number,
            provider=provider,
            provider_number_id=provider_number_id,
            monthly_fee=monthly_fee,
            paid_until=now + RENTAL_PERIOD,
        )
        if monthly_fee > 0:
            _charge_period(phone_number, start=now)
    return phone_number


# --- Managing ---------------------------------------------------------------------
def number_assign_agent(*, phone_number: PhoneNumber, agent) -> PhoneNumber:
    """Let `agent` (one of the owner's agents, or None for nobody) answer calls to the number."""
    if agent is not None and (phone_number.workspace_id is None or agent.workspace_id != phone_number.workspace_id):
        raise NumberError("Choose one of your own agents.")
    with transaction.atomic():
        locked = PhoneNumber.objects.select_for_update().get(pk=phone_number.pk)
        if locked.status != ACTIVE:
            raise NumberError(f"{locked.number} was released, so it no longer receives calls.")
        locked.inbound_agent = agent
        locked.save(update_fields=["inbound_agent"])
    return locked


def number_release(*, phone_number: PhoneNumber) -> PhoneNumber:
    """Give a number back to its provider and stop its monthly fee; nothing is refunded.

    Releasing a released number changes nothing. When the provider cannot be reached, raises
    NumberError and the number stays active (and keeps its paid time).
    """
    with transaction.atomic():
        # Locked while the provider is asked, so a renewal running now skips it instead of charging it.
        locked = PhoneNumber.objects.select_for_update().get(pk=phone_number.pk)
        if locked.status != ACTIVE:
            return locked
        _release_at_provider(locked)
        locked.status = PhoneNumber.Status.RELEASED
        locked.released_at = timezone.now()
        locked.save(update_fields=["status", "released_at"])
    return locked


def numbers_release_all(workspace) -> int:
    """Give back every active number `owner` holds (the account is closing); ones the provider
    no longer has count as released. Tries them all, then raises NumberError naming any the
    provider could not release: those stay active, so calling again retries only them.
    Returns how many were released."""
    released, kept = 0, []
    for phone_number in list(PhoneNumber.objects.filter(workspace=workspace, status=ACTIVE)):
        try:
            number_release(phone_number=phone_number)
        except NumberError:
            kept.append(phone_number.number)
        else:
            released += 1
    if kept:
        raise NumberError(f"The provider could not release {', '.join(kept)}; try again later.")
    return released


# --- Renewal ----------------------------------------------------------------------
@dataclass(frozen=True)
class RenewalReport:
    renewed: int = 0
    released: int = 0
    failed: int = 0  # could not pay, but the provider could not take the number back: retried tomorrow


def numbers_renew(*, now: datetime | None = None) -> RenewalReport:
    """Scheduled daily: charge the next period of every owned number whose paid time is over;
    give back the numbers whose account cannot pay and tell the owner by email.

    Safe to run twice or at the same time: each number is handled under its row lock (a run
    skips rows another run holds), each period is charged once by its ledger reference, and a
    number already paid past `now` is left alone.
    """
    now = now or timezone.now()
    due = PhoneNumber.objects.filter(workspace__isnull=False, status=ACTIVE, paid_until__lte=now)
    outcomes = Counter(number_renew(phone_number_id=pk, now=now) for pk in list(due.values_list("pk", flat=True)))
    return RenewalReport(renewed=outcomes["renewed"], released=outcomes["released"], failed=outcomes["failed"])


def number_renew(*, phone_number_id: int, now: datetime) -> str:
    """Renew one number if it is due: "renewed", "released" (the account could not pay),
    "failed" (could not pay, and the provider could not take it back) or "skipped"."""
    with transaction.atomic():
        phone_number = (
            PhoneNumber.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("workspace")
            .filter(pk=phone_number_id, status=ACTIVE, workspace__isnull=False, paid_until__lte=now)
            .first()
        )
        if phone_number is None:
            return "skipped"  # paid meanwhile, released, or another run holds it
        try:
            # Every period missed (the job did not run for a while) is owed: the number was held.
            # Each at the fee of its own start: a fee change applies from the first period that
            # starts on or after it (billing.prices.number_renewal_fee).
            while phone_number.paid_until <= now:
                start = phone_number.paid_until
                phone_number.monthly_fee = prices.number_renewal_fee(
                    fee=phone_number.monthly_fee, period_start=start, previous_start=start - RENTAL_PERIOD
                )
                if phone_number.monthly_fee > 0:
                    _charge_period(phone_number, start=start)
                phone_number.paid_until += RENTAL_PERIOD
        except ledger.InsufficientCredits:
            unpaid = True
        else:
            unpaid = False
        phone_number.save(update_fields=["paid_until", "monthly_fee"])
        if not unpaid:
            return "renewed"
        try:
            _release_at_provider(phone_number)
        except NumberError:
            logger.warning("Could not release unpaid number %s; retrying on the next run", phone_number.number)
            return "failed"
        phone_number.status = PhoneNumber.Status.RELEASED
        phone_number.released_at = now
        phone_number.save(update_fields=["status", "released_at"])
        _tell_unpaid_release(phone_number)
    return "released"


# --- Helpers ----------------------------------------------------------------------
def _charge_period(phone_number: PhoneNumber, *, start: datetime) -> None:
    end = start + RENTAL_PERIOD
    ledger.number_rental_charge(
        workspace=phone_number.workspace,
        reference=f"number:{phone_number.pk}:{start.date().isoformat()}",
        amount=phone_number.monthly_fee,
        memo=f"Phone number {phone_number.number}, {start:%d %b %Y} to {end:%d %b %Y}",
    )


def _tell_unpaid_release(phone_number: PhoneNumber) -> None:
    """The workspace's owners and billing members are told, once per number and unpaid period
    (the period's start names it), in the transaction that released it."""
    notice_send_to_workspace(
        workspace=phone_number.workspace,
        kind=notice_kinds.NUMBER_RENEWAL_FAILED,
        key=f"number:{phone_number.pk}:unpaid:{phone_number.paid_until.date().isoformat()}",
        context={"number": phone_number.number, "fee": credits_text(phone_number.monthly_fee)},
        link=reverse("number_list"),
        roles=(Membership.Role.OWNER, Membership.Role.BILLING),
    )


def _release_at_provider(phone_number: PhoneNumber) -> None:
    if not phone_number.provider_number_id:
        return  # a shared number staff added by hand: nothing of ours to give back
    try:
        get_provider(phone_number.provider).release_number(phone_number.provider_number_id)
    except (ProviderError, UnknownProvider) as exc:
        reason = exc.message if isinstance(exc, ProviderError) else str(exc)
        raise NumberError(f"{phone_number.number} could not be released: {reason} It is still active.") from exc


def _configured_provider() -> VoiceProvider:
    problem = provider_problem()
    if problem:
        raise NumberError(f"Phone numbers are unavailable right now. {problem}")
    return get_provider()


def _webhook_url(name: str, voice: VoiceProvider) -> str:
    return settings.PUBLIC_BASE_URL + reverse(name, kwargs={"provider": voice.name})


def _hold_free(reference: str, fee: Decimal) -> None:
    if fee > 0:
        ledger.hold_release(reference=reference)


def _e164(number: str) -> str:
    try:
        return normalise_number(number, default_country="US")
    except ValueError as exc:
        raise NumberError(f"That is not a number you can buy: {exc}.") from None
