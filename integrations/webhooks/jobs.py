"""RQ jobs of outgoing webhooks: they take ids and call the services; each may run twice."""

from . import services


def delivery_attempt(delivery_id: int) -> str:
    return services.delivery_send(delivery_id=delivery_id)


def endpoint_drain(endpoint_id: int) -> int:
    return services.endpoint_drain(endpoint_id=endpoint_id)


def deliveries_sweep_job() -> int:
    return services.deliveries_sweep()
