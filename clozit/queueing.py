"""Thin helpers around django-rq, so jobs are enqueued the same way everywhere."""

import django_rq
from rq import Worker as RQWorker


class Worker(RQWorker):
    """RQ's worker, tolerant of the embedded Redis used by `make run` without REDIS_URL.

    RQ asks the server for the worker's own client address, a purely informational
    value; the embedded server formats that reply in a way redis-py cannot parse.
    """

    def _set_ip_address(self, connection) -> None:
        try:
            super()._set_ip_address(connection)
        except ValueError:
            self.ip_address = "unknown"


def enqueue(queue_name: str, func, *args, **kwargs):
    """Enqueue `func` on `queue_name`; inside a transaction it is sent at commit."""
    return django_rq.get_queue(queue_name).enqueue(func, *args, **kwargs)


def enqueue_in(queue_name: str, delay, func, *args, **kwargs):
    return django_rq.get_queue(queue_name).enqueue_in(delay, func, *args, **kwargs)
