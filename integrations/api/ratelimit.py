"""Rate limits for the API, counted in Redis so every web process shares one count.

Each limit is a counter per one-minute window (INCR and EXPIRE in one MULTI/EXEC, so two
processes never lose a hit between them). A fixed window lets a client make up to twice the
limit across a window's edge; that is within what the limit is for (a runaway script must not
starve the others), and costs one round trip per request, where a sliding log would cost a
sorted set per key.

- per API key: API_RATE_LIMIT_PER_MINUTE requests of any kind;
- per client IP: API_AUTH_FAILURES_PER_MINUTE requests with a wrong key, so keys cannot be guessed.
"""

import time
from dataclasses import dataclass

import django_rq
from django.conf import settings

from .errors import ApiProblem

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Window:
    limit: int
    count: int
    reset: int  # seconds until the window ends and the count starts again

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def headers(self) -> dict[str, str]:
        """The IETF draft's RateLimit-* fields (draft-ietf-httpapi-ratelimit-headers), as GitHub and
        others send them."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


def _redis():
    # The connection RQ already uses (settings.REDIS_URL): no second pool per process.
    return django_rq.get_connection("default")


def _window_key(name: str, now: float) -> tuple[str, int]:
    window = int(now // WINDOW_SECONDS)
    return f"api:rate:{name}:{window}", WINDOW_SECONDS - int(now % WINDOW_SECONDS)


def _hit(name: str, limit: int) -> Window:
    key, reset = _window_key(name, time.time())
    pipe = _redis().pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, WINDOW_SECONDS * 2)
    count, _ = pipe.execute()
    return Window(limit=limit, count=int(count), reset=reset)


def _count(name: str, limit: int) -> Window:
    key, reset = _window_key(name, time.time())
    return Window(limit=limit, count=int(_redis().get(key) or 0), reset=reset)


def _too_many(window: Window, detail: str) -> ApiProblem:
    return ApiProblem(
        429,
        "Too many requests",
        detail,
        headers={"Retry-After": str(window.reset), **window.headers()},
    )


def key_rate_check(*, key_id: int) -> Window:
    """Count one request of API key `key_id`; ApiProblem 429 (with Retry-After) beyond the limit."""
    window = _hit(f"key:{key_id}", settings.API_RATE_LIMIT_PER_MINUTE)
    if window.exceeded:
        raise _too_many(
            window,
            f"This key may make {window.limit} requests a minute; try again in {window.reset} seconds.",
        )
    return window


def auth_failures_check(*, ip: str) -> None:
    """Refuse (429) an address that has sent too many wrong keys this minute, before looking its key up."""
    window = _count(f"auth-fail:{ip}", settings.API_AUTH_FAILURES_PER_MINUTE)
    if window.count >= window.limit:
        raise _too_many(window, f"Too many requests with a wrong API key; try again in {window.reset} seconds.")


def auth_failure_record(*, ip: str) -> None:
    _hit(f"auth-fail:{ip}", settings.API_AUTH_FAILURES_PER_MINUTE)
