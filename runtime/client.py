"""Connecting to Temporal: the embedded dev server by default, a cluster (TLS / API key) when configured."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter

from runtime.settings import Settings, get_settings


async def connect(settings: Settings | None = None, address: str | None = None) -> Client:
    s = settings or get_settings()
    tls: TLSConfig | bool = False
    if s.temporal_tls or s.temporal_tls_cert:
        tls = TLSConfig(
            client_cert=s.temporal_tls_cert.read_bytes() if s.temporal_tls_cert else None,
            client_private_key=s.temporal_tls_key.read_bytes() if s.temporal_tls_key else None,
        )
    return await Client.connect(
        address or s.resolved_temporal_address,
        namespace=s.temporal_namespace,
        tls=tls,
        api_key=s.temporal_api_key,
        data_converter=pydantic_data_converter,
    )
