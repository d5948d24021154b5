"""Thin helpers around django-rq, so jobs are enqueued the same way everywhere."""

import functools

import django_rq


@functools.cache
def _connection(queue_name: str):
    """One Redis client per queue and process. django_rq's get_queue makes a new client, and so a
    new TCP connection, every time; this one's pool reconnects by itself after a Redis restart
    and starts afresh in a forked worker."""
    return django_rq.get_connection(queue_name)


def enqueue(queue_name: str, func, *args, **kwargs):
    """Enqueue `func` on `queue_name`; inside a transaction it is sent at commit."""
    return django_rq.get_queue(queue_name, connection=_connection(queue_name)).enqueue(func, *args, **kwargs)
