"""The scraper's politeness shared through the app store (runtime.db.shared_state.SharedPoliteness): two
"workers" (separate Store engines, each with its own per-process fallback) against the demo carrier on
loopback, on SQLite and on PostgreSQL. One spacing per host for both, one robots.txt fetch for both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from runtime.db.shared_state import SharedPoliteness, reserve_host_slot
from runtime.store import Store
from tests.integration.carrier_portal import sources
from tools import scraper
from tools.demo_carrier import DemoCarrier

INTERVAL_S = 0.5
"""The allow-list's spacing for the portal: twice the portal's own 429 threshold (0.25 s)."""
SLACK_S = 0.15
"""Scheduling jitter between reserving a slot and the request reaching the portal (two shared CPU cores)."""


@pytest.fixture
def carrier() -> Iterator[DemoCarrier]:
    with DemoCarrier(port=0, min_gap_s=0.25, with_synthetic=False) as c:
        scraper.configure_sources(sources(c.base_url, min_interval_s=INTERVAL_S))
        yield c
    scraper.configure_sources(None)


@pytest.fixture
def workers(db_url: str) -> Iterator[tuple[SharedPoliteness, SharedPoliteness]]:
    one, two = Store(db_url), Store(db_url)
    yield (
        SharedPoliteness(one.engine, scraper.LocalPoliteness()),
        SharedPoliteness(two.engine, scraper.LocalPoliteness()),
    )
    one.close()
    two.close()


def track_times(carrier: DemoCarrier) -> list[float]:
    return [t for t, path, _ in carrier.hits if path.startswith("/track/")]


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


async def test_the_second_worker_waits_for_the_shared_spacing_and_reuses_the_robots_txt(
    carrier: DemoCarrier, workers: tuple[SharedPoliteness, SharedPoliteness]
) -> None:
    first, second = workers
    assert (await scraper.track("portal", "SS-1001", politeness=first)).status == "ok"
    assert (await scraper.track("portal", "SS-1002", politeness=second)).status == "ok"
    assert carrier.paths("/robots.txt") == ["/robots.txt"], "the second worker read the first one's robots.txt"
    assert [s for _, p, s in carrier.hits if p.startswith("/track/")] == [200, 200], "never refused"
    assert all(g >= INTERVAL_S - SLACK_S for g in gaps(track_times(carrier))), gaps(track_times(carrier))


async def test_concurrent_workers_share_one_spacing_and_one_robots_fetch(
    carrier: DemoCarrier, workers: tuple[SharedPoliteness, SharedPoliteness]
) -> None:
    first, second = workers
    calls = [
        scraper.track("portal", number, politeness=worker)
        for number in ("SS-1001", "SS-1002", "SS-1003")
        for worker in (first, second)
    ]
    results = await asyncio.gather(*calls)
    assert [r.status for r in results] == ["ok"] * 6
    assert carrier.paths("/robots.txt") == ["/robots.txt"]
    times = [t for t, _, _ in carrier.hits]  # robots.txt and pages: one host, one spacing
    assert len(times) == 7
    assert all(g >= INTERVAL_S - SLACK_S for g in gaps(times)), gaps(times)
    assert 429 not in [s for _, _, s in carrier.hits]


async def test_per_process_politeness_would_neither_share_robots_nor_spacing(carrier: DemoCarrier) -> None:
    """The contrast that shows the tests above measure sharing: two processes' own state, no waiting."""
    first, second = scraper.LocalPoliteness(), scraper.LocalPoliteness()
    await scraper.track("portal", "SS-1001", politeness=first)
    await scraper.track("portal", "SS-1002", politeness=second)
    assert carrier.paths("/robots.txt") == ["/robots.txt", "/robots.txt"]
    # The second process's robots.txt request went out right after the first one's page: nobody waited.
    assert min(gaps([t for t, _, _ in carrier.hits])) < INTERVAL_S - SLACK_S


def test_slots_are_reserved_on_the_database_clock_in_turn(db_url: str) -> None:
    one, two = Store(db_url), Store(db_url)
    try:
        waits = [reserve_host_slot(s.engine, "carrier.test:443", 10.0) for s in (one, two, one)]
        assert waits[0] == pytest.approx(0.0, abs=0.05)
        assert waits[1] == pytest.approx(10.0, abs=1.0) and waits[2] == pytest.approx(20.0, abs=1.0)
    finally:
        one.close()
        two.close()


async def test_a_database_failure_falls_back_to_this_process(carrier: DemoCarrier, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "steward.db")
    store.close()
    (tmp_path / "steward.db").unlink()  # the engine now opens an empty file: no tables
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"steward.db{suffix}").unlink(missing_ok=True)
    politeness = SharedPoliteness(store.engine, scraper.LocalPoliteness())
    assert (await scraper.track("portal", "SS-1001", politeness=politeness)).status == "ok"
    assert (await scraper.track("portal", "SS-1002", politeness=politeness)).status == "ok"
    assert carrier.paths("/robots.txt") == ["/robots.txt"]
    assert all(g >= INTERVAL_S - SLACK_S for g in gaps(track_times(carrier)))
