"""RQ jobs of outgoing webhooks: they take ids and call the services; each may run twice."""

from .services import deliveries_sweep, delivery_send


def delivery_attempt(delivery_id: int) -> str:
    return delivery_send(delivery_id=delivery_id)


def deliveries_sweep_job() -> int:
    return deliveries_sweep()
