"""A value each process keeps for a while instead of reading it on every request: the list of
published policy versions, the scheduled price changes. Whoever keeps one says why a copy up to
`seconds` old is safe."""

import threading
import time
from collections.abc import Callable


class Kept:
    """`load()`'s result, kept in this process for `seconds()` (a callable, so a changed setting
    applies at the next load), or until `forget()`."""

    def __init__(self, load: Callable[[], object], *, seconds: Callable[[], float]):
        self._load = load
        self._seconds = seconds
        self._lock = threading.Lock()
        self._value: object = None
        self._until = 0.0

    def get(self):
        with self._lock:
            if time.monotonic() < self._until:
                return self._value
        value = self._load()
        with self._lock:
            self._value, self._until = value, time.monotonic() + self._seconds()
        return value

    def forget(self) -> None:
        with self._lock:
            self._value, self._until = None, 0.0
