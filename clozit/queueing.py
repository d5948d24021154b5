"""Thin helpers around django-rq, so jobs are enqueued the same way everywhere."""

import django_rq


def enqueue(queue_name: str, func, *args, **kwargs):
    """Enqueue `func` on `queue_name`; inside a transaction it is sent at commit."""
    return django_rq.get_queue(queue_name).enqueue(func, *args, **kwargs)
