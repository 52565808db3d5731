"""The API's Temporal client, connected on first use and recovered after an outage.

The API must start (and answer /health) while Temporal is still starting or briefly away (the embedded dev
server restarting under ``steward up``, a cluster failing over), so the client is created lazily and a failure
to reach Temporal becomes a 503 naming the address, never a crash at startup. Failed connects back off
(0.5 s doubling to 5 s): during an outage requests get their 503 at once instead of each waiting on a connect,
and the run dispatcher's ticks do not hammer the address. Once connected the client is kept: its channel
reconnects by itself when the server comes back on the same address (measured: a 150 s outage, then the same
client and worker carry on).
"""

from __future__ import annotations

import asyncio
import logging
import time

from temporalio.client import Client

from runtime.settings import Settings

log = logging.getLogger("steward.temporal")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 5.0


class TemporalUnavailable(Exception):
    """Temporal could not be reached; the server answers 503."""


class TemporalConnection:
    """One client per API process, shared by every request and the run dispatcher."""

    def __init__(self, settings: Settings, client: Client | None = None, connect_timeout_s: float = 3.0) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()
        self._timeout = connect_timeout_s
        self._failures = 0
        self._retry_at = 0.0
        self._last_error = ""
        self._reachable = client is not None

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def get(self) -> Client:
        if self._client is not None:
            return self._client
        address = self._settings.resolved_temporal_address
        async with self._lock:
            if self._client is not None:
                return self._client
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise TemporalUnavailable(
                    f"temporal at {address} is not reachable: {self._last_error}; next attempt in {wait:.1f}s"
                )
            from runtime.client import connect

            try:
                # No retry loop inside a request: one attempt, then the backoff window answers for us.
                client = await asyncio.wait_for(connect(self._settings, retry_s=0), self._timeout)
            except (TimeoutError, RuntimeError, OSError) as exc:
                self._failures += 1
                self._last_error = str(exc) or "timeout"
                backoff = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._failures - 1))
                self._retry_at = time.monotonic() + backoff
                if self._failures == 1:
                    log.warning("temporal at %s is not reachable (%s); retrying with backoff", address, exc)
                raise TemporalUnavailable(f"temporal at {address} is not reachable: {self._last_error}") from None
            if self._failures:
                log.info("temporal at %s reachable again after %d failed attempts", address, self._failures)
            self._client, self._failures, self._retry_at, self._reachable = client, 0, 0.0, True
        return client

    async def healthy(self) -> bool:
        """True when Temporal answers a health check now (used by /ready); logs when it is lost and regained."""
        try:
            client = await self.get()
            ok = bool(await asyncio.wait_for(client.service_client.check_health(), 3.0))
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            ok = False
        if ok != self._reachable:
            address = self._settings.resolved_temporal_address
            if ok:
                log.info("temporal at %s answers health checks again", address)
            else:
                log.warning("temporal at %s stopped answering health checks", address)
            self._reachable = ok
        return ok
