"""Rate limits of the public "Who called me?" page, counted in Redis so every web process shares them.

A fixed window per limit (INCR and EXPIRE in one MULTI/EXEC, as integrations/api/ratelimit.py):
SAFETY_LOOKUPS_PER_IP an hour from one address, which slows a script trying many pairs, and
SAFETY_LOOKUPS_PER_NUMBER a day for one callee number, which stops anyone (from however many
addresses) guessing which business called a person they know the number of. Both count every
look-up, whether it matched or not, and the refusal says the same either way, so the limit itself
tells nothing about the number. Numbers are keyed by their digest, never in clear.
"""

import time

import django_rq
from django.conf import settings

HOUR = 3600
DAY = 24 * HOUR


def _redis():
    return django_rq.get_connection("default")


def _hit(name: str, window_seconds: int) -> tuple[int, int]:
    """Count one look-up under `name`; returns (count in this window, seconds until it ends)."""
    now = time.time()
    key = f"safety:rate:{name}:{int(now // window_seconds)}"
    pipe = _redis().pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_seconds * 2)
    count, _ = pipe.execute()
    return int(count), window_seconds - int(now % window_seconds)


def lookup_wait(*, ip: str | None, callee_digest: str) -> int:
    """Count a look-up from `ip` for the callee number with this digest; returns 0 when it may
    go ahead, else the seconds to wait."""
    wait = 0
    if ip:
        count, reset = _hit(f"ip:{ip}", HOUR)
        if count > settings.SAFETY_LOOKUPS_PER_IP:
            wait = reset
    count, reset = _hit(f"number:{callee_digest}", DAY)
    if count > settings.SAFETY_LOOKUPS_PER_NUMBER:
        wait = max(wait, reset)
    return wait
