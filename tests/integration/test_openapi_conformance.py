"""Schemathesis against ``/openapi.json`` of a live API (real uvicorn on loopback, real Temporal dev server,
an admin key): generated and mutated requests to every operation never get a 5xx, and every response matches
the documented status codes, content types and schemas."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def live_api(temporal_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The app in its own thread and event loop: schemathesis calls are synchronous."""
    import uvicorn

    from runtime.settings import Settings
    from runtime.store import Store
    from server.app import StreamOptions, create_app
    from server.testing import free_port

    home: Path = tmp_path_factory.mktemp("openapi")
    store = Store(home / "steward.db")
    key = store.create_api_key("fuzzer", "acme", ["admin"])[1]
    store.create_thread("thread-seeded", "acme")
    settings_ = Settings(home=home, temporal_address=temporal_server, task_queue=f"fuzz-{uuid.uuid4()}")
    app = create_app(settings_, store=store, stream=StreamOptions(ping_s=1.0))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", key
    server.should_exit = True
    thread.join(15)
    store.close()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_5xx_and_responses_match_the_schema(live_api: tuple[str, str], mode: str) -> None:
    """Every operation, ``max_examples`` generated (or schema-violating) requests each. Driven with
    hypothesis directly: schemathesis' pytest plugin does not run under pytest 9."""
    from schemathesis.generation import GenerationMode

    base, key = live_api
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 25
    calls: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call_and_validate(headers={"X-Api-Key": key}, checks=CHECKS, timeout=20)
            calls.append(response.status_code)

        try:
            check()
        except Unsatisfiable:
            assert mode == "negative"  # an operation without parameters or body has nothing to violate
    assert len(calls) > 10 * len(operations) // 2, len(calls)
