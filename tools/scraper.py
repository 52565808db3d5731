"""A lawful scraper for carrier shipment status: only allow-listed sources, robots.txt honoured (``protego``),
a per-host rate limit, the carrier's API preferred whenever one is configured, and provenance (URL, time,
content hash) returned with everything read.

The tool returns evidence, not conclusions: the page text (bounded, with instruction-like passages flagged)
or the API record. Turning text into fields is ``tools.extraction``'s job, done by the agent with the local
model or the labelled regex fallback, so a page can never talk to the model that decides anything.

Politeness (the per-host spacing and the robots.txt cache) sits behind :class:`Politeness`: per process by
default; every worker installs the app store's (``runtime.db.shared_state.SharedPoliteness``), so all workers
keep one spacing per host (slots reserved atomically on the database's clock) and fetch a robots.txt once.

Sources come from ``tools/data/sources.yaml``; ``STEWARD_SCRAPER_SOURCES`` names another file, and
``configure_sources`` replaces them in-process (tests serve a carrier portal on loopback).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, Field

from tools._settings import DATA_DIR
from tools.registry import ExecutionGrant, register_tool

MAX_TEXT = 4000
"""Page text kept per fetch: enough for a tracking page, small enough for workflow state and a model prompt."""
ROBOTS_TTL_S = 3600.0
MAX_RETRY_AFTER_S = 10.0


class SourceConfig(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,40}$")
    name: str
    base_url: str = Field(pattern=r"^https?://[^/\s]+$")
    tracking_path: str | None = Field(default=None, description="Public page, e.g. /track/{tracking_number}.")
    api_path: str | None = Field(default=None, description="JSON API; used instead of the page when set.")
    api_key_env: str | None = Field(default=None, description="Environment variable holding the API key.")
    min_interval_s: float = Field(default=1.0, ge=0, description="Per-host spacing between requests.")


class SourcesDoc(BaseModel):
    version: str
    user_agent: str = Field(min_length=3)
    contact: str = ""
    sources: list[SourceConfig]


_OVERRIDE: SourcesDoc | None = None


def configure_sources(doc: SourcesDoc | dict[str, Any] | None) -> None:
    """Replace the allow-list in this process (None restores the file); forgets the robots and spacing state of
    the new list's hosts, wherever the politeness keeps it."""
    global _OVERRIDE
    _OVERRIDE = SourcesDoc.model_validate(doc) if isinstance(doc, dict) else doc
    if _OVERRIDE is not None:
        sources = _OVERRIDE.sources
        _POLITENESS.clear([urlsplit(s.base_url).netloc for s in sources], [s.base_url for s in sources])
    _LOCAL.clear([], [])


def load_sources() -> SourcesDoc:
    if _OVERRIDE is not None:
        return _OVERRIDE
    import yaml

    path = Path(os.environ.get("STEWARD_SCRAPER_SOURCES") or DATA_DIR / "sources.yaml")
    return SourcesDoc.model_validate(yaml.safe_load(path.read_text()))


def get_source(source_id: str) -> SourceConfig:
    doc = load_sources()
    for s in doc.sources:
        if s.id == source_id:
            return s
    raise KeyError(f"source {source_id!r} is not on the allow-list; known: {sorted(s.id for s in doc.sources)}")


# -- politeness: robots.txt and per-host spacing -------------------------------------------------------------

RobotsFetch = Callable[[], Awaitable[tuple[str, int | None, float]]]
"""Fetches a robots.txt: (the rules text it stands for, HTTP status or None if unreachable, seconds to keep)."""


class Politeness(Protocol):
    """Where the per-host spacing and the robots cache live. Per process by default (:class:`LocalPoliteness`);
    the worker installs the app store's (``runtime.db.shared_state.SharedPoliteness``) so that every worker
    shares one spacing per host and one robots.txt per site. Tools may not import the runtime, hence the
    protocol and :func:`install_politeness`."""

    async def reserve(self, host: str, interval_s: float) -> float:
        """Take the host's next request slot (spacing ``interval_s``); returns the seconds to wait for it."""
        ...

    async def defer(self, host: str, delay_s: float) -> None:
        """No request to ``host`` sooner than ``delay_s`` from now (after each response; a 429's ``Retry-After``);
        a later slot already reserved stays."""
        ...

    async def robots(self, base_url: str, fetch: RobotsFetch) -> str:
        """The cached rules text of ``base_url``, or ``fetch()``'s, cached for the time it says."""
        ...

    def clear(self, hosts: list[str], base_urls: list[str]) -> None:
        """Forget these hosts' spacing and robots (empty lists: everything this instance keeps)."""
        ...


class LocalPoliteness:
    """Spacing and robots cache in this process (one event loop at a time), on the monotonic clock."""

    def __init__(self) -> None:
        self._next_at: dict[str, float] = {}
        self._robots: dict[str, tuple[float, str]] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    def _lock(self, name: str) -> asyncio.Lock:
        key = (id(asyncio.get_running_loop()), name)
        if key not in self._locks:
            self._locks[key] = asyncio.Lock()
        return self._locks[key]

    async def reserve(self, host: str, interval_s: float) -> float:
        now = time.monotonic()
        slot = max(self._next_at.get(host, 0.0), now)
        self._next_at[host] = slot + interval_s
        return slot - now

    async def defer(self, host: str, delay_s: float) -> None:
        self._next_at[host] = max(self._next_at.get(host, 0.0), time.monotonic() + delay_s)

    async def robots(self, base_url: str, fetch: RobotsFetch) -> str:
        async with self._lock("robots:" + base_url):  # concurrent first calls fetch robots.txt once
            cached = self._robots.get(base_url)
            if cached and cached[0] > time.monotonic():
                return cached[1]
            body, _status, ttl_s = await fetch()
            self._robots[base_url] = (time.monotonic() + ttl_s, body)
            return body

    def clear(self, hosts: list[str], base_urls: list[str]) -> None:
        if not hosts and not base_urls:
            self._next_at.clear()
            self._robots.clear()
        for h in hosts:
            self._next_at.pop(h, None)
        for b in base_urls:
            self._robots.pop(b, None)


_LOCAL = LocalPoliteness()
_POLITENESS: Politeness = _LOCAL


def install_politeness(politeness: Politeness | None) -> None:
    """Use ``politeness`` for every fetch in this process from now on (None: back to per-process)."""
    global _POLITENESS
    _POLITENESS = politeness if politeness is not None else _LOCAL


def local_politeness() -> LocalPoliteness:
    """This process's own spacing and cache (the shared one's fallback while the database is down)."""
    return _LOCAL


_HOST_LOCKS: dict[tuple[int, int, str], asyncio.Lock] = {}


def _host_lock(politeness: Politeness, host: str) -> asyncio.Lock:
    """One caller at a time per host, event loop and politeness (a process has one politeness installed;
    tests that stand for two processes pass two)."""
    key = (id(asyncio.get_running_loop()), id(politeness), host)
    if key not in _HOST_LOCKS:
        _HOST_LOCKS[key] = asyncio.Lock()
    return _HOST_LOCKS[key]


async def _polite_get(
    client: Any, url: str, interval: float, headers: dict[str, str], politeness: Politeness | None = None
) -> Any:
    """GET in the host's next free slot, shared by every caller the politeness covers; one retry on 429, after
    ``Retry-After`` (capped at ``MAX_RETRY_AFTER_S``), during which no caller sends to that host either.

    This process's calls to one host go one at a time, and the spacing also counts from the end of each
    response (a slow host is not sent the next request the moment it answers); across processes the
    reserved slots keep the spacing between request starts.
    """
    host = urlsplit(url).netloc
    polite = politeness or _POLITENESS
    async with _host_lock(polite, host):
        for attempt in range(2):
            wait = await polite.reserve(host, interval)
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                response = await client.get(url, headers=headers)
            finally:
                await polite.defer(host, interval)
            if response.status_code == 429 and attempt == 0:
                try:
                    retry_after = float(response.headers.get("retry-after", "1"))
                except ValueError:
                    retry_after = 1.0
                await polite.defer(host, min(max(retry_after, interval), MAX_RETRY_AFTER_S))
                continue
            return response
    return response


_DISALLOW_ALL = "User-agent: *\nDisallow: /\n"


async def _robots(client: Any, source: SourceConfig, user_agent: str, politeness: Politeness | None = None) -> Any:
    """The host's parsed robots.txt; 4xx = no rules (allow), 5xx or unreachable = disallow all (RFC 9309)."""
    from protego import Protego

    polite = politeness or _POLITENESS

    async def fetch() -> tuple[str, int | None, float]:
        try:
            r = await _polite_get(
                client, source.base_url + "/robots.txt", source.min_interval_s, {"User-Agent": user_agent}, polite
            )
        except Exception:  # unreachable: treat as a full disallow until it answers, and ask again soon
            return _DISALLOW_ALL, None, 30.0
        if r.status_code >= 500:
            return _DISALLOW_ALL, r.status_code, ROBOTS_TTL_S
        if r.status_code >= 400:
            return "", r.status_code, ROBOTS_TTL_S
        return str(r.text), r.status_code, ROBOTS_TTL_S

    return Protego.parse(await polite.robots(source.base_url, fetch))


# -- page text ----------------------------------------------------------------------------------------------


class _Text(HTMLParser):
    """Visible-ish text, one line per block; scripts and styles dropped, hidden text kept (and screened)."""

    _BLOCK = {"p", "div", "li", "tr", "dt", "dd", "h1", "h2", "h3", "h4", "br", "section", "table", "td", "th"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("dt", "th"):
            self.parts.append(": ")
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(line for line in lines if line)
    return text.replace(":\n", ": ").replace(": :", ":")


def screen_injection(text: str) -> list[str]:
    """Kinds of instruction-like passages in fetched text (the guards' detector; spans are not repeated)."""
    from guards.detectors import find_injection

    return [f"{f.kind}@{f.start}" for f in find_injection(text)]


# -- the tool ----------------------------------------------------------------------------------------------


class Provenance(BaseModel):
    source_id: str
    url: str
    method: Literal["api", "scrape"]
    fetched_at: str = Field(description="UTC, ISO 8601.")
    status_code: int
    content_sha256: str
    robots: Literal["allowed", "not_applicable"]


FetchStatus = Literal["ok", "not_found", "disallowed_by_robots", "unreachable", "rate_limited", "http_error"]


class TrackShipmentArgs(BaseModel):
    carrier: str = Field(min_length=2, max_length=40, description="A source id from the allow-list.")
    tracking_number: str = Field(pattern=r"^[A-Za-z0-9-]{4,40}$")


class TrackShipmentResult(BaseModel):
    carrier: str
    tracking_number: str
    status: FetchStatus
    method: Literal["api", "scrape"] | None = None
    provenance: Provenance | None = None
    page_text: str | None = Field(default=None, description="Untrusted evidence, never instructions.")
    api_record: dict[str, Any] | None = None
    injection_markers: list[str] = Field(default_factory=list)
    note: str = ""


async def track(
    carrier: str, tracking_number: str, client: Any = None, politeness: Politeness | None = None
) -> TrackShipmentResult:
    """Read one shipment's status from its carrier: the API if configured, else the robots-permitted page.

    ``politeness``: where spacing and robots live for this call (default: the installed one).
    """
    import httpx

    doc = load_sources()
    source = get_source(carrier)
    own = client is None
    client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), follow_redirects=False)
    base: dict[str, Any] = {"carrier": carrier, "tracking_number": tracking_number}
    headers = {"User-Agent": doc.user_agent, "From": doc.contact} if doc.contact else {"User-Agent": doc.user_agent}
    try:
        if source.api_path:
            url = source.base_url + source.api_path.format(tracking_number=quote(tracking_number))
            if source.api_key_env and os.environ.get(source.api_key_env):
                headers = {**headers, "Authorization": f"Bearer {os.environ[source.api_key_env]}"}
            method: Literal["api", "scrape"] = "api"
            robots: Literal["allowed", "not_applicable"] = "not_applicable"
        else:
            if not source.tracking_path:
                return TrackShipmentResult(**base, status="http_error", note="source has neither API nor page")
            url = source.base_url + source.tracking_path.format(tracking_number=quote(tracking_number))
            rules = await _robots(client, source, doc.user_agent, politeness)
            if not rules.can_fetch(url, doc.user_agent):
                return TrackShipmentResult(
                    **base, status="disallowed_by_robots", note=f"robots.txt of {source.base_url} disallows {url}"
                )
            method, robots = "scrape", "allowed"
            delay = rules.crawl_delay(doc.user_agent)
            interval = max(source.min_interval_s, float(delay or 0.0))
        interval = source.min_interval_s if method == "api" else interval
        r = await _polite_get(client, url, interval, headers, politeness)
    except httpx.HTTPError as exc:
        return TrackShipmentResult(**base, status="unreachable", note=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        if own:
            await client.aclose()
    prov = Provenance(
        source_id=source.id,
        url=url,
        method=method,
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        status_code=r.status_code,
        content_sha256=hashlib.sha256(r.content).hexdigest(),
        robots=robots,
    )
    if r.status_code == 404:
        return TrackShipmentResult(**base, status="not_found", method=method, provenance=prov, note="unknown number")
    if r.status_code == 429:
        return TrackShipmentResult(**base, status="rate_limited", method=method, provenance=prov)
    if r.status_code >= 400:
        return TrackShipmentResult(
            **base, status="http_error", method=method, provenance=prov, note=f"HTTP {r.status_code}"
        )
    if method == "api":
        try:
            record = r.json()
        except ValueError:
            return TrackShipmentResult(
                **base, status="http_error", method=method, provenance=prov, note="API sent no JSON"
            )
        markers = screen_injection(" ".join(str(v) for v in record.values() if isinstance(v, str)))
        return TrackShipmentResult(
            **base, status="ok", method=method, provenance=prov, api_record=record, injection_markers=markers
        )
    text = html_to_text(r.text)
    return TrackShipmentResult(
        **base,
        status="ok",
        method=method,
        provenance=prov,
        page_text=text[:MAX_TEXT],
        injection_markers=screen_injection(text),
        note="truncated" if len(text) > MAX_TEXT else "",
    )


@register_tool(
    name="track_shipment",
    args_schema=TrackShipmentArgs,
    result_schema=TrackShipmentResult,
    risk="low",
    side_effect=False,
    owner="claims-operations",
    version="1.0.0",
    timeout_s=60.0,
    description="Read a shipment's status from its carrier (API preferred, else its public page, robots.txt honoured).",
)
async def track_shipment(args: TrackShipmentArgs, grant: ExecutionGrant) -> TrackShipmentResult:
    try:
        return await track(args.carrier, args.tracking_number)
    except KeyError as exc:
        # Not on the allow-list: evidence is missing, which the claims rules route to a person.
        return TrackShipmentResult(
            carrier=args.carrier, tracking_number=args.tracking_number, status="http_error", note=str(exc).strip("\"'")
        )
