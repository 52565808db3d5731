"""The API's Temporal client, connected on first use.

The API must start (and answer /health) while Temporal is still starting or briefly away, so the client is
created lazily and a failure to reach Temporal becomes a 503 naming the address, not a crash at startup.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from runtime.settings import Settings


class TemporalUnavailable(Exception):
    """Temporal could not be reached; the server answers 503."""


class TemporalConnection:
    """One client per API process, shared by every request and the run dispatcher."""

    def __init__(self, settings: Settings, client: Client | None = None, connect_timeout_s: float = 10.0) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()
        self._timeout = connect_timeout_s

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def get(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                from runtime.client import connect

                address = self._settings.resolved_temporal_address
                try:
                    self._client = await asyncio.wait_for(connect(self._settings), self._timeout)
                except (TimeoutError, RuntimeError, OSError) as exc:
                    raise TemporalUnavailable(f"temporal at {address} is not reachable: {exc or 'timeout'}") from None
        return self._client

    async def healthy(self) -> bool:
        """True when Temporal answers a health check now (used by /ready)."""
        try:
            client = await self.get()
            return bool(await asyncio.wait_for(client.service_client.check_health(), 3.0))
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            return False
