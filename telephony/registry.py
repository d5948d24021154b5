"""Maps a provider name to its implementation, imported lazily so unused SDKs never load."""

from functools import cache
from importlib import import_module

from django.conf import settings

from .providers.base import VoiceProvider

PROVIDERS = {
    "simulated": "telephony.providers.simulated.SimulatedProvider",
    "twilio": "telephony.providers.twilio.TwilioProvider",
    "telnyx": "telephony.providers.telnyx.TelnyxProvider",
}


class UnknownProvider(LookupError):
    pass


def get_provider(name: str | None = None) -> VoiceProvider:
    """The provider called `name`, or the configured one."""
    return _provider(name or settings.TELEPHONY_PROVIDER)


@cache
def _provider(name: str) -> VoiceProvider:
    try:
        dotted = PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(f"Unknown telephony provider {name!r}; choose one of {', '.join(PROVIDERS)}.") from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)()


def provider_problem(name: str | None = None) -> str:
    """Why the configured provider cannot place calls ("" when it can)."""
    try:
        return get_provider(name).configuration_problem()
    except UnknownProvider as exc:
        return str(exc)
