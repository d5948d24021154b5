from .models import Delivery, Endpoint

DELIVERIES_SHOWN = 50


def endpoints_of(*, workspace) -> list[Endpoint]:
    return list(Endpoint.objects.filter(workspace=workspace))


def endpoint_deliveries(*, endpoint: Endpoint, limit: int = DELIVERIES_SHOWN) -> list[Delivery]:
    """The endpoint's latest deliveries with their messages: two queries however many."""
    return list(Delivery.objects.filter(endpoint=endpoint).select_related("message")[:limit])
