"""Thin helpers around django-rq, so jobs are enqueued the same way everywhere."""

import functools

import django_rq
from django.conf import settings


@functools.cache
def _connection(queue_name: str, config: str):
    """One Redis client per queue (and configuration) and process: django_rq's get_queue makes a
    new client, so a new TCP connection (2 ms), for every job. The client's pool reconnects by
    itself after a Redis restart and starts afresh in a forked worker."""
    return django_rq.get_connection(queue_name)


def enqueue(queue_name: str, func, *args, **kwargs):
    """Enqueue `func` on `queue_name`; inside a transaction it is sent at commit."""
    connection = _connection(queue_name, repr(settings.RQ_QUEUES[queue_name]))
    return django_rq.get_queue(queue_name, connection=connection).enqueue(func, *args, **kwargs)
