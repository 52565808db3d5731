"""Connecting to Temporal: the embedded dev server by default, a cluster (TLS / API key) when configured."""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter

from runtime.settings import Settings, get_settings

_TRANSIENT = ("not healthy", "Connection refused", "connection refused", "Unavailable", "transport error")


async def connect(settings: Settings | None = None, address: str | None = None, retry_s: float = 30.0) -> Client:
    s = settings or get_settings()
    tls: TLSConfig | bool = False
    if s.temporal_tls or s.temporal_tls_cert:
        tls = TLSConfig(
            client_cert=s.temporal_tls_cert.read_bytes() if s.temporal_tls_cert else None,
            client_private_key=s.temporal_tls_key.read_bytes() if s.temporal_tls_key else None,
        )
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return await Client.connect(
                address or s.resolved_temporal_address,
                namespace=s.temporal_namespace,
                tls=tls,
                api_key=s.temporal_api_key,
                data_converter=pydantic_data_converter,
            )
        except RuntimeError as exc:
            # A server that is starting (or restarting) refuses or reports "not healthy yet": wait for it.
            if time.monotonic() > deadline or not any(m in str(exc) for m in _TRANSIENT):
                raise
            await asyncio.sleep(0.2)
