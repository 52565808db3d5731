"""Every process's circuit breakers in one table, so one endpoint (``GET /ops/breakers``) shows them all.

A breaker lives in the process that calls through it (a worker's model client, the API's); its state is
process-local on purpose (each process sees its own path to the model server). What is shared is the view:
each process writes a row per breaker whenever its failures or state change (``on_breaker_change``), keyed by
breaker and holder, and the endpoint reads the rows of every holder.

The fallback in force is what callers get while the circuit is not closed: for the model client, the agent's
rule-based path (``runtime.llm.agent_model``: a ``model_fallback`` event, ``steward_llm_fallbacks_total``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from runtime.db.engine import WRITE
from runtime.db.shared_state import breaker_states
from runtime.llm.breaker import CircuitBreaker, all_breakers, on_breaker_change

log = logging.getLogger("steward.db")

MODEL_FALLBACK = "rules: the agent decides by its rule-based path and records a model_fallback event"


@dataclass(frozen=True)
class BreakerSnapshot:
    breaker: str
    """``<base_url>|<model>`` for a model client."""
    holder: str
    """The process that holds it (``worker@host:pid:id``, ``api@...``)."""
    kind: str
    state: str
    failures: int
    failure_threshold: int
    cooldown_s: float
    opened_at: float | None
    """Wall-clock time the circuit last opened (None while closed)."""
    last_error: str | None
    fallback: str | None
    """What callers get instead while the circuit is not closed; None while closed (nothing is replaced)."""
    updated_at: float


def snapshot(key: str, breaker: CircuitBreaker, holder: str) -> BreakerSnapshot:
    """A breaker's state with wall-clock times (the breaker keeps monotonic ones)."""
    now_wall, now_mono = time.time(), time.monotonic()
    closed = breaker.state == "closed"
    return BreakerSnapshot(
        breaker=key,
        holder=holder,
        kind="model",
        state=breaker.state,
        failures=breaker.failures,
        failure_threshold=breaker.failure_threshold,
        cooldown_s=breaker.cooldown_s,
        opened_at=None if closed else now_wall - (now_mono - breaker.opened_at),
        last_error=breaker.last_error,
        fallback=None if closed else MODEL_FALLBACK,
        updated_at=now_wall,
    )


class BreakerBoard:
    """Publishes this process's breakers to ``breaker_states`` and reads every process's."""

    def __init__(self, engine: Engine, holder: str) -> None:
        self.engine = engine
        self.holder = holder
        self._installed = False

    def install(self) -> None:
        """Publish every breaker now and on each change from here on."""
        if not self._installed:
            on_breaker_change(self._on_change)
            self._installed = True
        for key, breaker in all_breakers().items():
            self.publish(snapshot(key, breaker, self.holder))

    def _on_change(self, breaker: CircuitBreaker) -> None:
        if not self._installed:
            return
        for key, b in all_breakers().items():
            if b is breaker:
                self.publish(snapshot(key, b, self.holder))

    def publish(self, snap: BreakerSnapshot) -> None:
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        values = snap.__dict__.copy()
        stmt = insert(breaker_states).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[breaker_states.c.breaker, breaker_states.c.holder],
            set_={k: v for k, v in values.items() if k not in ("breaker", "holder")},
        )
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            conn.execute(stmt)

    def withdraw(self) -> None:
        """Remove this process's rows (clean shutdown): the board shows live processes' breakers."""
        self._installed = False
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            conn.execute(delete(breaker_states).where(breaker_states.c.holder == self.holder))


def read_breakers(engine: Engine) -> list[BreakerSnapshot]:
    """Every published breaker, open ones first, then by breaker and holder."""
    with engine.connect() as conn:
        rows = conn.execute(select(breaker_states)).mappings().all()
    order = {"open": 0, "half_open": 1, "closed": 2}
    snaps = [BreakerSnapshot(**dict(r)) for r in rows]
    return sorted(snaps, key=lambda s: (order.get(s.state, 3), s.breaker, s.holder))
