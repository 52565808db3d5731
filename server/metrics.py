"""Prometheus metrics for ``GET /metrics``.

HTTP requests are counted in-process (per route template, so ids don't explode label cardinality). Runs,
pending approvals, time-to-decision and step latency are aggregated from the app store at scrape time: they
survive API restarts and agree across several API processes, at the cost of a few GROUP BY queries per scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.store import Store

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics", "MetricsMiddleware"]


class _StoreCollector:
    def __init__(self, store: Callable[[], Store | None]) -> None:
        self._store = store

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        store = self._store()
        if store is None:
            return
        stats = store.api_stats()
        runs = GaugeMetricFamily(
            "steward_runs",
            "Runs in the app store by assistant, status and tenant.",
            labels=["assistant", "status", "tenant"],
        )
        for r in stats["runs"]:
            runs.add_metric([r["assistant_id"], r["status"], r["tenant"]], r["n"])
        yield runs
        pending = GaugeMetricFamily(
            "steward_approvals_pending", "Approvals waiting for a decision.", labels=["tenant", "assistant", "risk"]
        )
        for r in stats["approvals_pending"]:
            pending.add_metric([r["tenant"], r["assistant_id"], r["risk"]], r["n"])
        yield pending
        decided = SummaryMetricFamily(
            "steward_approval_decision_seconds", "Time from approval request to decision.", labels=["tenant"]
        )
        for r in stats["decisions"]:
            decided.add_metric([r["tenant"]], count_value=r["n"], sum_value=r["seconds"] or 0.0)
        yield decided
        steps = SummaryMetricFamily(
            "steward_step_duration_seconds", "Duration of completed activity-side graph nodes.", labels=["node"]
        )
        for r in stats["steps"]:
            steps.add_metric([r["node"]], count_value=r["n"], sum_value=r["seconds"] or 0.0)
        yield steps


class ApiMetrics:
    """One registry per app (not the process-global one), so several apps in one process don't collide."""

    def __init__(self, store: Callable[[], Store | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "steward_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "steward_http_request_duration_seconds",
            "HTTP request duration (for streams: the stream's lifetime).",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(store))  # type: ignore[arg-type]

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware), so streaming responses pass through untouched."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_of(scope)
            self.metrics.requests.labels(scope["method"], route, str(status["code"])).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)


def _route_of(scope: MutableMapping[str, Any]) -> str:
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    if str(scope.get("path", "")).startswith("/console"):
        return "/console"
    return "unmatched"
