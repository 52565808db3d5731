"""Connecting to Temporal: the embedded dev server by default, a cluster (TLS / API key) when configured."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import TypeAdapter
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter
from temporalio.converter import DataConverter, EncodingPayloadConverter

from runtime.settings import Settings, get_settings

log = logging.getLogger("steward.temporal")

_TYPE_ADAPTERS: Any = functools.lru_cache(maxsize=256)(TypeAdapter)
"""Process-wide: building a TypeAdapter for a dataclass costs milliseconds, and is pure (same type, same adapter)."""


class SharedAdaptersPayloadConverter(PydanticPayloadConverter):
    """Temporal's pydantic converter, whose type adapters are shared by every converter in the process.

    A worker makes a new payload converter for each workflow run, and each came with an empty adapter cache:
    every run rebuilt the adapters of its input and of each activity result (milliseconds of CPU per run).
    Decoding is unchanged (the same ``TypeAdapter(type).validate_json``), so histories replay the same.
    """

    _shared: ClassVar[Mapping[bytes, EncodingPayloadConverter] | None] = None
    """The encoding converters, built once: the SDK makes a data converter (and so one of these) for every
    workflow activation, and building the chain cost about 3 % of a busy worker's main thread. They are
    stateless (a context-bound copy gets its own dict), so every instance shares them."""

    def __init__(self) -> None:
        cls = type(self)
        if cls._shared is not None:
            self.converters = cls._shared
            return
        super().__init__()
        for c in self.converters.values():
            if isinstance(c, PydanticJSONPlainPayloadConverter):
                c._type_adapter = _TYPE_ADAPTERS
        cls._shared = self.converters


data_converter = DataConverter(payload_converter_class=SharedAdaptersPayloadConverter)
"""The data converter of every Steward client, worker and replayer (pydantic JSON, like
``temporalio.contrib.pydantic.pydantic_data_converter``)."""

_TRANSIENT = ("not healthy", "Connection refused", "connection refused", "Unavailable", "transport error")


async def connect(settings: Settings | None = None, address: str | None = None, retry_s: float | None = 30.0) -> Client:
    """Connect, waiting up to ``retry_s`` (None: for as long as it takes) for a server that is starting or
    restarting. Waits back off from 0.2 s to 5 s and are logged (``steward.temporal``), so a worker started
    before Temporal says what it waits for instead of crash-looping."""
    s = settings or get_settings()
    target = address or s.resolved_temporal_address
    tls: TLSConfig | bool = False
    if s.temporal_tls or s.temporal_tls_cert:
        tls = TLSConfig(
            client_cert=s.temporal_tls_cert.read_bytes() if s.temporal_tls_cert else None,
            client_private_key=s.temporal_tls_key.read_bytes() if s.temporal_tls_key else None,
        )
    deadline = None if retry_s is None else time.monotonic() + retry_s
    delay, waited_since = 0.2, time.monotonic()
    while True:
        try:
            client = await Client.connect(
                target,
                namespace=s.temporal_namespace,
                tls=tls,
                api_key=s.temporal_api_key,
                data_converter=data_converter,
            )
        except RuntimeError as exc:
            # A server that is starting (or restarting) refuses or reports "not healthy yet": wait for it.
            if (deadline is not None and time.monotonic() > deadline) or not any(m in str(exc) for m in _TRANSIENT):
                raise
            if delay >= 1.0:
                log.warning("temporal at %s is not reachable yet (%s); retrying in %.1fs", target, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if delay >= 1.0:
            log.info("temporal at %s reachable after %.1fs", target, time.monotonic() - waited_since)
        return client
