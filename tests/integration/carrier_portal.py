"""The carrier portal the scraper and claims tests serve on loopback (``tools.demo_carrier``), and its allow-list.

- ``/robots.txt`` forbids ``/internal/``;
- ``/track/<number>``: HTML status pages, rate limited (HTTP 429 with ``Retry-After`` when two requests come
  closer than ``min_gap_s``), one page carrying a prompt injection, one in a changed layout;
- ``/internal/track/<number>``: the same pages, which a polite client never fetches;
- ``/api/v1/shipments/<number>``: the carrier's JSON API.
Every request is recorded (time, path, status) so tests can prove what was and was not fetched.
"""

from __future__ import annotations

from typing import Any

from tools.demo_carrier import SHIPMENTS, DemoCarrier, render


class CarrierPortal(DemoCarrier):
    """The demo carrier with only the fixed shipments (SS-1001 ... SS-1008)."""

    def __init__(self, min_gap_s: float = 0.25, retry_after: str = "1") -> None:
        super().__init__(port=0, min_gap_s=min_gap_s, retry_after=retry_after, with_synthetic=False)


__all__ = ["SHIPMENTS", "CarrierPortal", "render", "sources"]


def sources(base_url: str, min_interval_s: float = 0.3, **extra: dict[str, Any]) -> dict[str, Any]:
    """An allow-list for the portal: ``portal`` (pages), ``portal-api`` (API and pages), ``portal-internal``."""
    doc: dict[str, Any] = {
        "version": "test",
        "user_agent": "StewardClaimsBot/0.1",
        "contact": "claims-operations@example-bank.test",
        "sources": [
            {
                "id": "portal",
                "name": "Test portal",
                "base_url": base_url,
                "tracking_path": "/track/{tracking_number}",
                "min_interval_s": min_interval_s,
            },
            {
                "id": "portal-api",
                "name": "Test portal API",
                "base_url": base_url,
                "tracking_path": "/track/{tracking_number}",
                "api_path": "/api/v1/shipments/{tracking_number}",
                "min_interval_s": min_interval_s,
            },
            {
                "id": "portal-internal",
                "name": "Test portal internal pages",
                "base_url": base_url,
                "tracking_path": "/internal/track/{tracking_number}",
                "min_interval_s": min_interval_s,
            },
        ],
    }
    for source in doc["sources"]:
        source.update(extra.get(source["id"], {}))
    return doc
