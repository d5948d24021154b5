"""The webhooks' ear on clozit.events (connected in apps.py)."""

from .services import event_received


def on_event(sender, event, **kwargs) -> None:
    event_received(event=event)
