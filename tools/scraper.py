"""A lawful scraper for carrier shipment status: only allow-listed sources, robots.txt honoured (``protego``),
a per-host rate limit, the carrier's API preferred whenever one is configured, and provenance (URL, time,
content hash) returned with everything read.

The tool returns evidence, not conclusions: the page text (bounded, with instruction-like passages flagged)
or the API record. Turning text into fields is ``tools.extraction``'s job, done by the agent with the local
model or the labelled regex fallback, so a page can never talk to the model that decides anything.

Sources come from ``tools/data/sources.yaml``; ``STEWARD_SCRAPER_SOURCES`` names another file, and
``configure_sources`` replaces them in-process (tests serve a carrier portal on loopback).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal
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
    """Replace the allow-list in this process (None restores the file); clears robots and rate-limit state."""
    global _OVERRIDE
    _OVERRIDE = SourcesDoc.model_validate(doc) if isinstance(doc, dict) else doc
    _ROBOTS.clear()
    _NEXT_AT.clear()


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

_ROBOTS: dict[str, tuple[float, Any]] = {}
_NEXT_AT: dict[str, float] = {}
_HOST_LOCKS: dict[tuple[int, str], asyncio.Lock] = {}


def _host_lock(host: str) -> asyncio.Lock:
    key = (id(asyncio.get_running_loop()), host)
    if key not in _HOST_LOCKS:
        _HOST_LOCKS[key] = asyncio.Lock()
    return _HOST_LOCKS[key]


async def _polite_get(client: Any, url: str, interval: float, headers: dict[str, str]) -> Any:
    """GET with the host's spacing held across every caller in this process; one retry on 429/Retry-After."""
    host = urlsplit(url).netloc
    for attempt in range(2):
        async with _host_lock(host):
            wait = _NEXT_AT.get(host, 0.0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                response = await client.get(url, headers=headers)
            finally:
                _NEXT_AT[host] = time.monotonic() + interval
            if response.status_code == 429 and attempt == 0:
                try:
                    retry_after = float(response.headers.get("retry-after", "1"))
                except ValueError:
                    retry_after = 1.0
                _NEXT_AT[host] = time.monotonic() + min(max(retry_after, interval), MAX_RETRY_AFTER_S)
                continue
            return response
    return response


async def _robots(client: Any, source: SourceConfig, user_agent: str) -> Any:
    """The host's parsed robots.txt; 4xx = no rules (allow), 5xx or unreachable = disallow all (RFC 9309)."""
    from protego import Protego

    cached = _ROBOTS.get(source.base_url)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    try:
        r = await _polite_get(
            client, source.base_url + "/robots.txt", source.min_interval_s, {"User-Agent": user_agent}
        )
        if r.status_code >= 500:
            rules = Protego.parse("User-agent: *\nDisallow: /\n")
        elif r.status_code >= 400:
            rules = Protego.parse("")
        else:
            rules = Protego.parse(r.text)
    except Exception:  # unreachable: treat as a full disallow until it answers
        rules = Protego.parse("User-agent: *\nDisallow: /\n")
        _ROBOTS[source.base_url] = (time.monotonic() + 30.0, rules)
        return rules
    _ROBOTS[source.base_url] = (time.monotonic() + ROBOTS_TTL_S, rules)
    return rules


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


async def track(carrier: str, tracking_number: str, client: Any = None) -> TrackShipmentResult:
    """Read one shipment's status from its carrier: the API if configured, else the robots-permitted page."""
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
            rules = await _robots(client, source, doc.user_agent)
            if not rules.can_fetch(url, doc.user_agent):
                return TrackShipmentResult(
                    **base, status="disallowed_by_robots", note=f"robots.txt of {source.base_url} disallows {url}"
                )
            method, robots = "scrape", "allowed"
            delay = rules.crawl_delay(doc.user_agent)
            interval = max(source.min_interval_s, float(delay or 0.0))
        interval = source.min_interval_s if method == "api" else interval
        r = await _polite_get(client, url, interval, headers)
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
