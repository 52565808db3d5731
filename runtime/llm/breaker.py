"""A circuit breaker per model endpoint, so a dead model server costs an agent one fast error, not a timeout
per call.

closed --(``failure_threshold`` consecutive failures)--> open --(``cooldown_s``)--> half-open
half-open --(probe succeeds)--> closed; half-open --(probe fails)--> open.
While open, calls fail at once with ``ModelUnavailable`` and the agent takes its rule-based path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from runtime.errors import ModelUnavailable
from runtime.llm.metrics import REGISTRY

State = Literal["closed", "open", "half_open"]
_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}


@dataclass
class CircuitBreaker:
    name: str
    failure_threshold: int = 3
    """Consecutive failures that open the circuit: low enough to stop paying timeouts quickly, high enough
    that one dropped connection does not switch an agent to its fallback."""
    cooldown_s: float = 30.0
    """How long an open circuit refuses calls before letting one probe through."""
    clock: Callable[[], float] = time.monotonic
    state: State = "closed"
    failures: int = 0
    opened_at: float = 0.0
    last_error: str | None = None
    _probe_in_flight: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def before_call(self) -> None:
        """Raise ``ModelUnavailable`` if the call must not go out; admit one probe when half-open."""
        with self._lock:
            if self.state == "open":
                if self.clock() - self.opened_at < self.cooldown_s:
                    raise ModelUnavailable(
                        f"model {self.name!r} circuit open after {self.failures} failures "
                        f"(last: {self.last_error}); retry in "
                        f"{self.cooldown_s - (self.clock() - self.opened_at):.1f}s"
                    )
                self._set("half_open")
            if self.state == "half_open":
                if self._probe_in_flight:
                    raise ModelUnavailable(f"model {self.name!r} circuit half-open; a probe is in flight")
                self._probe_in_flight = True

    def record_success(self) -> None:
        with self._lock:
            changed = self.failures != 0 or self.state != "closed"
            self.failures = 0
            self._probe_in_flight = False
            self._set("closed")
        if changed:
            _changed(self)

    def record_failure(self, error: str) -> None:
        self._record_failure(error)
        _changed(self)

    def _record_failure(self, error: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = error
            probe_failed = self.state == "half_open"
            self._probe_in_flight = False
            if probe_failed or (self.state == "closed" and self.failures >= self.failure_threshold):
                self.opened_at = self.clock()
                if self.state != "open":
                    REGISTRY.inc("steward_llm_breaker_opened_total", model=self.name)
                self._set("open")

    def _set(self, state: State) -> None:
        self.state = state
        REGISTRY.set("steward_llm_breaker_state", _STATE_VALUE[state], model=self.name)


_BREAKERS: dict[str, CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()
_LISTENERS: list[Callable[[CircuitBreaker], None]] = []


def on_breaker_change(listener: Callable[[CircuitBreaker], None]) -> None:
    """Call ``listener(breaker)`` after a breaker's failures or state change (not on every success), so a
    process can publish its breakers where one endpoint shows them all (``runtime.db.breaker_states``)."""
    _LISTENERS.append(listener)


def all_breakers() -> dict[str, CircuitBreaker]:
    """This process's breakers by key (``<base_url>|<model>``)."""
    with _BREAKERS_LOCK:
        return dict(_BREAKERS)


def _changed(breaker: CircuitBreaker) -> None:
    for listener in list(_LISTENERS):
        try:
            listener(breaker)
        except Exception:  # noqa: BLE001 - reporting a breaker must never fail the model call it guards
            logging.getLogger("steward.llm").exception("breaker listener failed")


def breaker_for(key: str, name: str, failure_threshold: int = 3, cooldown_s: float = 30.0) -> CircuitBreaker:
    """The process-wide breaker of one endpoint+model: every chat model instance for it shares its state."""
    with _BREAKERS_LOCK:
        b = _BREAKERS.get(key)
        if b is None:
            b = _BREAKERS[key] = CircuitBreaker(name, failure_threshold, cooldown_s)
        return b


def reset_breakers() -> None:
    """Forget all breaker state (tests)."""
    with _BREAKERS_LOCK:
        _BREAKERS.clear()
