"""The lawful scraper against a carrier portal served on loopback: robots.txt respected, the rate limit held,
the API preferred, provenance kept, and the page's prompt injection caught by the guards on the real path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from guards.types import Principal
from runtime import runs
from tests.conftest import make_worker
from tests.integration.carrier_portal import CarrierPortal, sources
from tools import scraper
from tools.extraction import extract_regex

REQUESTER = Principal(id="alice", roles=["operator"])


@pytest.fixture
def portal() -> Iterator[CarrierPortal]:
    with CarrierPortal(min_gap_s=0.25) as p:
        scraper.configure_sources(sources(p.base_url, min_interval_s=0.3))
        yield p
    scraper.configure_sources(None)


async def test_robots_txt_forbidden_path_is_never_fetched(portal: CarrierPortal) -> None:
    result = await scraper.track("portal-internal", "SS-1001")
    assert result.status == "disallowed_by_robots" and "robots.txt" in result.note
    assert portal.paths("/robots.txt") == ["/robots.txt"]
    assert portal.paths("/internal/") == []
    # The same number on an allowed path is fetched, and robots.txt is not fetched again (cached).
    assert (await scraper.track("portal", "SS-1001")).status == "ok"
    assert portal.paths("/robots.txt") == ["/robots.txt"]


async def test_rate_limit_is_held_across_concurrent_calls(portal: CarrierPortal) -> None:
    numbers = ["SS-1001", "SS-1002", "SS-1003", "SS-1004", "SS-1005"]
    results = await asyncio.gather(*(scraper.track("portal", n) for n in numbers))
    assert [r.status for r in results] == ["ok"] * 5
    track_hits = [(t, s) for t, p, s in portal.hits if p.startswith("/track/")]
    assert [s for _, s in track_hits] == [200] * 5, "the portal never had to refuse us"
    gaps = [b[0] - a[0] for a, b in zip(track_hits, track_hits[1:], strict=False)]
    assert min(gaps) >= 0.29, gaps


async def test_the_portal_does_refuse_a_burst_and_retry_after_is_honoured(portal: CarrierPortal) -> None:
    async with httpx.AsyncClient() as http:
        statuses = [(await http.get(f"{portal.base_url}/track/SS-1001")).status_code for _ in range(2)]
    assert statuses == [200, 429], "the endpoint really is rate limited"
    # A source configured without spacing gets a 429 and waits the Retry-After before its one retry.
    scraper.configure_sources(sources(portal.base_url, min_interval_s=0.0))
    await scraper.track("portal", "SS-1001")
    started = time.monotonic()
    result = await scraper.track("portal", "SS-1002")
    assert result.status == "ok" and time.monotonic() - started >= 0.9
    assert [s for _, p, s in portal.hits if p.startswith("/track/")][-2:] == [429, 200]


async def test_the_api_is_preferred_when_the_source_has_one(portal: CarrierPortal) -> None:
    result = await scraper.track("portal-api", "SS-1002")
    assert result.method == "api" and result.api_record["status"] == "Lost in network"
    assert result.page_text is None and result.provenance.robots == "not_applicable"
    assert portal.paths("/track/") == [] and portal.paths("/api/") == ["/api/v1/shipments/SS-1002"]


async def test_every_fetch_keeps_its_provenance(portal: CarrierPortal) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = await scraper.track("portal", "SS-1001")
    prov = result.provenance
    assert prov.url == f"{portal.base_url}/track/SS-1001" and prov.method == "scrape" and prov.robots == "allowed"
    assert prov.content_sha256 == portal.sha256("/track/SS-1001")
    assert before <= datetime.fromisoformat(prov.fetched_at) <= datetime.now(UTC)
    facts = extract_regex(result.page_text)
    assert facts.status == "delivered" and facts.delivered_on == "2026-10-03" and facts.signed_by == "J. Doe"
    assert "analytics" not in result.page_text, "scripts are not page text"


async def test_missing_pages_unknown_sources_and_a_dead_portal_are_reported_not_raised(
    portal: CarrierPortal,
) -> None:
    assert (await scraper.track("portal", "SS-9999")).status == "not_found"
    with pytest.raises(KeyError, match="not on the allow-list; known: \\['portal', 'portal-api'"):
        await scraper.track("elsewhere", "SS-1001")
    dead = sources("http://127.0.0.1:9")  # discard port: nothing listens
    scraper.configure_sources(dead)
    result = await scraper.track("portal", "SS-1001")
    assert result.status == "disallowed_by_robots"  # robots.txt unreachable = disallow all (RFC 9309)
    result = await scraper.track("portal-api", "SS-1001")
    assert result.status == "unreachable" and result.provenance is None


async def test_a_changed_layout_gives_no_invented_facts(portal: CarrierPortal) -> None:
    result = await scraper.track("portal", "SS-1007")
    assert result.status == "ok" and "reached its destination" in result.page_text
    facts = extract_regex(result.page_text)
    assert facts.status == "unknown" and facts.delivered_on is None


async def test_page_injection_is_flagged_and_neutralised_by_the_tool_output_guard(
    client, store, task_queue, portal: CarrierPortal
) -> None:
    direct = await scraper.track("portal", "SS-1006")
    assert direct.injection_markers and "ignore all previous instructions" in direct.page_text
    call = {"id": "t1", "name": "track_shipment", "args": {"carrier": "portal", "tracking_number": "SS-1006"}}
    async with make_worker(client, store, task_queue):
        handle = await runs.start_run(
            client, store, task_queue, "scripted", {"tool_calls": [call]}, REQUESTER, validate=False
        )
        result = await handle.result()
    (execution,) = store.tool_executions(handle.id)
    text = execution["result"]["page_text"]
    assert "ignore all previous instructions" not in text
    assert "removed: possible prompt injection" in text.casefold()
    assert execution["result"]["injection_markers"], "the tool flags it for the agent's rules as well"
    assert "Status: Delivered" in text, "the evidence itself is kept"
    verdicts = [e["data"] for e in store.events_after(handle.id) if e["type"] == "guard_verdict"]
    assert {(v["point"], v["validator"], v["passed"]) for v in verdicts} >= {("tool_output", "prompt_injection", False)}
    assert result.status == "success"
