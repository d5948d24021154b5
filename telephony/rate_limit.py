"""Calls per second per provider account, shared by every worker through Redis.

Carriers cap how fast an account may start calls (Twilio: 1 per second unless raised). Each
dial reserves the next free slot (a GCRA-style "theoretical arrival time" kept in Redis and
advanced atomically by a script using Redis's own clock), so any number of workers together
never start calls faster than the configured rate.
"""

import django_rq
from django.conf import settings

KEY = "clozit:dial-slots:{provider}"

# KEYS[1]: next free slot time (seconds, float). ARGV[1]: seconds between calls.
# Returns how long to wait, in seconds, before the reserved slot.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(free, now)
local ttl = math.ceil((start + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], tostring(start + interval), 'PX', ttl)
return tostring(start - now)
"""


def calls_per_second(provider: str) -> float:
    """The provider's configured rate; 0 means no limit."""
    return float(settings.CALLS_PER_SECOND.get(provider, settings.CALLS_PER_SECOND.get("default", 1)))


def dial_slot_reserve(provider: str) -> float:
    """Reserve the next moment `provider` may start a call; returns the seconds to wait for it."""
    rate = calls_per_second(provider)
    if rate <= 0:
        return 0.0
    connection = django_rq.get_connection("dialing")
    wait = connection.eval(RESERVE, 1, KEY.format(provider=provider), repr(1.0 / rate))
    return max(float(wait), 0.0)
