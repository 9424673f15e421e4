"""A circuit breaker: once a dependency fails, skip it for a cool-down instead of paying its timeout.

A hung Redis otherwise costs every caller a socket timeout. After `failure_threshold`
consecutive failures the circuit opens: `allow()` says no for `cooldown_s`, then
lets exactly one trial call through (half-open); its success closes the circuit,
its failure opens it for another cool-down. One breaker per process and per
dependency; thread-safe; the clock is injectable for tests.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("atlas.circuit")


class CircuitBreaker:
    """closed -> (failures) -> open -> (cool-down) -> half-open (one trial) -> closed or open."""

    def __init__(self, name: str, *, failure_threshold: int = 1, cooldown_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1 or cooldown_s < 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s >= 0")
        self.name = name
        self._threshold = failure_threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.last_failure_at: float | None = None  # on this breaker's clock; None until a failure

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self._cooldown_s else "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one caller gets True until it reports."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at < self._cooldown_s or self._trial_running:
                return False
            self._trial_running = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                log.warning("%s answers again: circuit closed", self.name)
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def failed(self, error: BaseException | None = None) -> None:
        with self._lock:
            self._failures += 1
            self._trial_running = False
            self.last_failure_at = self._clock()
            if self._opened_at is not None or self._failures >= self._threshold:
                if self._opened_at is None:
                    log.warning("%s failed (%s): circuit open, calls skip it for %.1f s",
                                self.name, type(error).__name__ if error else "error", self._cooldown_s)
                self._opened_at = self._clock()
