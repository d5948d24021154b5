"""RQ jobs of the HubSpot integration. They take ids and may run twice (see the services)."""

from . import services


def hubspot_import(list_id: int) -> None:
    """Read a HubSpot list (or every contact with a phone number) page by page, then import it
    through the CSV import."""
    services.hubspot_import_run(list_id=list_id)


def hubspot_push(push_id: int) -> None:
    """Send one push-back (a call's result or an opt-out) to HubSpot."""
    services.push_back_deliver(push_id=push_id)


def hubspot_pushes_due() -> int:
    """For the cron scheduler: queue push-backs whose retry is overdue."""
    return services.push_backs_due()
