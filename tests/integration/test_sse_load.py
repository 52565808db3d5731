"""Load on loopback, bounded: 50 SSE clients following 10 concurrent real runs each receive every event of
their run exactly once, in order, ending with the run's end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GOOD_APPLICATION

pytestmark = pytest.mark.timeout(180)
BAND_C = {"application": {**GOOD_APPLICATION["application"], "credit_score": 600}}


async def follow(http: httpx.AsyncClient, thread_id: str, run_id: str) -> list[int]:
    seqs: list[int] = []
    url = f"/threads/{thread_id}/runs/{run_id}/stream"
    async with http.stream("GET", url, params={"stream_mode": "custom", "follow": "true"}) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: ") and '"seq"' in line:
                seqs.append(json.loads(line[6:])["seq"])
            elif line == "event: end":
                return seqs
    raise AssertionError("stream closed without an end event")


async def test_fifty_clients_on_ten_concurrent_runs_lose_no_event(  # type: ignore[no-untyped-def]
    client, store, task_queue, worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    monkeypatch.setenv("STEWARD_STANDIN_DELAY_S", "0.3")  # runs stay live while the clients read
    key = store.create_api_key("olivia", "acme", ["operator"])[1]
    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with (
        serve_app(app) as api,
        httpx.AsyncClient(base_url=api.base_url, headers={"X-Api-Key": key}, timeout=120, limits=limits) as http,
    ):
        started: list[dict[str, Any]] = []
        for _ in range(10):
            r = await http.post("/runs", json={"assistant_id": "loan_triage", "input": BAND_C})
            assert r.status_code == 200, r.text
            started.append(r.json())
        received = await asyncio.gather(
            *(follow(http, run["thread_id"], run["run_id"]) for run in started for _ in range(5))
        )
        for i, seqs in enumerate(received):
            run_id = started[i // 5]["run_id"]
            assert store.get_run(run_id)["status"] == "success"
            assert seqs == list(range(1, store.last_event_seq(run_id) + 1)), f"client {i} of run {run_id}"
