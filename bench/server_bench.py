"""Server benchmark -> bench/results/server.json.

The API runs as its own process (``uvicorn server.app:app``, configured by ``STEWARD_*`` variables, as
``steward up`` runs it); this process runs the embedded Temporal dev server, the worker, the SSE clients and,
for the synthetic measurements, the writer that appends events to the store the way the worker does.

- ``api_ready_s``: API process spawned -> ``GET /ready`` answers 200 (store and Temporal reachable).
- ``sse_events_per_s_1`` / ``_50``: a finished run with N events in the log, read as SSE (``custom`` mode) by
  1 client, then by 50 clients at once (events delivered per second, all clients together).
- ``event_latency_p50_ms`` / ``_p95_ms``: 10 live runs, 5 clients each (50 streams); a writer appends an
  event to every run each 20 ms; latency = arrival at the client - append time. Every client must receive
  every event of its run exactly once, or the benchmark fails (the load check).
- ``approve_to_next_node_p50_ms``: real ``loan_triage`` runs; ``POST /approvals/{id}/decision`` sent ->
  the approved tool's ``tool_started`` event (the next step) in the event log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, pct  # noqa: E402
from guards.policy import load_policy_engine  # noqa: E402
from runtime.client import connect  # noqa: E402
from runtime.devserver import start_dev_server  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.store import Store  # noqa: E402
from runtime.worker import build_worker  # noqa: E402
from server.testing import free_port  # noqa: E402
from tests.conftest import GOOD_APPLICATION  # noqa: E402


async def wait_ready(url: str, proc: subprocess.Popen[bytes], limit_s: float = 60.0) -> float:
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=2) as http:
        while time.perf_counter() - t0 < limit_s:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited with {proc.returncode}")
            try:
                if (await http.get(f"{url}/ready")).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError("API not ready in time")


def spawn_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "server.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def read_stream(http: httpx.AsyncClient, url: str, on_event: Any = None) -> list[int]:
    """Read one SSE stream to its end; returns the ids (event seqs) received."""
    seqs: list[int] = []
    async with http.stream("GET", url, params={"stream_mode": "custom", "follow": "true"}) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                seqs.append(int(line[4:]))
            elif line.startswith("data: ") and on_event is not None:
                on_event(line[6:])
            elif line == "event: end":
                break
    return seqs


def synthetic_run(store: Store, tenant: str) -> tuple[str, str]:
    run_id, thread_id = f"run-bench-{uuid.uuid4()}", f"thread-bench-{uuid.uuid4()}"
    store.create_run(run_id, thread_id, "loan_triage", tenant, "bench", {})
    store.set_run_status(run_id, "running")
    return thread_id, run_id


async def main(events: int, live_s: float, approvals: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="steward-server-bench-"))
    dev = start_dev_server(tmp / "temporal", port=free_port(), ui_port=free_port())
    client = await connect(Settings(), address=dev.address)
    store = Store(tmp / "steward.db")
    tq = f"bench-{uuid.uuid4()}"
    key = store.create_api_key("bench", "acme", ["operator"])[1]
    approver_key = store.create_api_key("approver", "acme", ["approver"])[1]
    port = free_port()
    env = {
        "STEWARD_HOME": str(tmp),
        "STEWARD_DB_PATH": str(tmp / "steward.db"),
        "STEWARD_TEMPORAL_ADDRESS": dev.address,
        "STEWARD_TASK_QUEUE": tq,
    }
    base = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {}
    worker = build_worker(client, tq, store, load_policy_engine())
    ready_times = []
    api = None
    try:
        for _ in range(3):
            api = spawn_api(env, port)
            ready_times.append(await wait_ready(base, api))
            if len(ready_times) < 3:
                api.terminate()
                api.wait(10)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with (
            worker,
            httpx.AsyncClient(base_url=base, headers={"X-Api-Key": key}, timeout=120, limits=limits) as http,
        ):
            # Throughput: a finished run with `events` events, read by 1 and by 50 clients.
            tid, rid = synthetic_run(store, "acme")
            store.append_events(rid, [(f"e{i}", "token", {"node": "bench", "text": f"t{i} "}) for i in range(events)])
            store.append_events(rid, [("finish", "run_finished", {"status": "success", "outcome": None})])
            store.set_run_status(rid, "success")
            url = f"/threads/{tid}/runs/{rid}/stream"
            await read_stream(http, url)  # warm-up
            t0 = time.perf_counter()
            got = await read_stream(http, url)
            one = len(got) / (time.perf_counter() - t0)
            assert got == list(range(1, events + 2))
            t0 = time.perf_counter()
            many = await asyncio.gather(*(read_stream(http, url) for _ in range(50)))
            fifty = sum(len(m) for m in many) / (time.perf_counter() - t0)
            assert all(m == got for m in many)

            # Latency and the load check: 10 live runs x 5 clients, an event per run every 20 ms.
            live = [synthetic_run(store, "acme") for _ in range(10)]
            latencies: list[float] = []

            def on_event(data: str) -> None:
                payload = json.loads(data)
                sent = (payload.get("data") or {}).get("sent")
                if sent is not None:
                    latencies.append((time.time() - sent) * 1000)

            readers = [
                asyncio.create_task(read_stream(http, f"/threads/{t}/runs/{r}/stream", on_event))
                for t, r in live
                for _ in range(5)
            ]
            await asyncio.sleep(0.5)  # let every client connect
            n = 0
            t_end = time.perf_counter() + live_s
            while time.perf_counter() < t_end:
                n += 1
                for _, r in live:
                    store.append_events(r, [(f"live{n}", "token", {"node": "bench", "text": ".", "sent": time.time()})])
                await asyncio.sleep(0.02)
            for _, r in live:
                store.append_events(r, [("finish", "run_finished", {"status": "success", "outcome": None})])
                store.set_run_status(r, "success")
            received = await asyncio.gather(*readers)
            assert all(seqs == list(range(1, n + 2)) for seqs in received), "a client lost or repeated an event"

            # HTTP approve -> the approved tool starts (the next step of the graph).
            roundtrips = []
            async with httpx.AsyncClient(base_url=base, headers={"X-Api-Key": approver_key}, timeout=60) as ap:
                for _ in range(approvals):
                    resp = await http.post("/runs", json={"assistant_id": "loan_triage", "input": GOOD_APPLICATION})
                    run_id = resp.json()["run_id"]
                    while len(rows := store.list_approvals(run_id=run_id, status="pending")) < 2:
                        await asyncio.sleep(0.01)
                    first, last = sorted(rows, key=lambda a: a["tool"])  # approve_loan, notify_customer
                    done = await ap.post(f"/approvals/{last['approval_id']}/decision", json={"action": "approve"})
                    done.raise_for_status()
                    await asyncio.sleep(0.05)
                    sent = time.time()
                    resp = await ap.post(f"/approvals/{first['approval_id']}/decision", json={"action": "approve"})
                    resp.raise_for_status()
                    while not (
                        started := [
                            e
                            for e in store.events_after(run_id, 0, 10_000)
                            if e["type"] == "tool_started" and e["data"]["tool"] in ("approve_loan", "notify_customer")
                        ]
                    ):
                        await asyncio.sleep(0.005)
                    roundtrips.append((started[0]["ts"] - sent) * 1000)
            result = {
                "sse_events_per_s_1": round(one, 1),
                "sse_events_per_s_50": round(fifty, 1),
                "event_latency_p50_ms": round(pct(latencies, 0.5), 1),
                "event_latency_p95_ms": round(pct(latencies, 0.95), 1),
                "approve_to_next_node_p50_ms": round(pct(roundtrips, 0.5), 1),
                "approve_to_next_node_p95_ms": round(pct(roundtrips, 0.95), 1),
                "api_ready_s": round(sorted(ready_times)[1], 2),
                "events_per_run": events,
                "live_events_checked": len(latencies),
                "live_clients": len(readers),
                "approval_runs": approvals,
                "machine": machine(),
                "notes": "API in its own uvicorn process; clients, worker, writer and Temporal dev server share "
                "the same machine. Streams poll the event log every 50 ms (the latency floor). api_ready_s: "
                "median of 3 spawns; approve: HTTP decision sent -> tool_started event timestamp.",
            }
    finally:
        if api is not None:
            api.terminate()
            api.wait(10)
        dev.stop()
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--live-seconds", type=float, default=5.0)
    ap.add_argument("--approvals", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "server.json"))
    a = ap.parse_args()
    out = asyncio.run(main(a.events, a.live_seconds, a.approvals))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
