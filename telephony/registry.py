"""Maps a provider name to its implementation, imported lazily so unused SDKs never load."""

from functools import cache
from importlib import import_module

from django.conf import settings

from .providers.base import VoiceProvider

PROVIDERS = {
    "simulated": "telephony.providers.simulated.SimulatedProvider",
    "twilio": "telephony.providers.twilio.TwilioProvider",
}


class UnknownProvider(LookupError):
    pass


@cache
def get_provider(name: str | None = None) -> VoiceProvider:
    name = name or settings.TELEPHONY_PROVIDER
    try:
        dotted = PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(f"Unknown telephony provider {name!r}; choose one of {', '.join(PROVIDERS)}.") from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)()
