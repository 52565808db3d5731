"""Guard benchmark -> bench/results/guards.json.

Overhead per tool call = what the runtime adds around one proposed call, measured as the runtime does it:
tool-argument guards + the CEL policy decision + the audit and event writes of the evaluation, and the
tool-output guards + their audit write after execution (SQLite WAL file on this machine's disk).
Validations per second counts single validator checks. Audit verify time is for a 100k-record chain.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, pct  # noqa: E402
from guards.points import run_point  # noqa: E402
from guards.policy import PolicyEngine, PolicyInput  # noqa: E402
from guards.types import Principal  # noqa: E402
from runtime.db.tables import audit  # noqa: E402
from runtime.store import Store, _audit_hash, _dumps  # noqa: E402

ARGS = {
    "applicant_id": "P-1",
    "channel": "email",
    "message": "Your application A-1 has been approved; the first payment is due on 1 December.",
}
RESULT = {"delivered": True, "channel": "email"}


def overhead(store: Store, policy: PolicyEngine, n: int) -> list[float]:
    requester = Principal(id="alice", roles=["operator"])
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        g = run_point("tool_args", ARGS, "loan_triage", tool="notify_customer")
        d = policy.decide(
            PolicyInput(
                tool="notify_customer",
                risk="medium",
                side_effect=True,
                args=g.value,
                tenant="default",
                requester=requester,
            )
        )
        store.append_events(
            "bench",
            [
                (f"{i}:p", "tool_call_proposed", {"args": g.value}),
                (f"{i}:v", "policy_decision", {"effect": d.effect, "rule_id": d.rule_id}),
            ],
        )
        store.append_audit("default", "alice", "guard.tool_args", {"checked": len(g.verdicts)}, "bench", f"{i}:g")
        store.append_audit("default", "alice", "policy.decision", {"effect": d.effect}, "bench", f"{i}:d")
        out = run_point("tool_output", RESULT, "loan_triage", tool="notify_customer")
        store.append_audit("default", "steward", "guard.tool_output", {"checked": len(out.verdicts)}, "bench", f"{i}:o")
        times.append((time.perf_counter() - t0) * 1000)
    return times


def validations_per_s(seconds: float = 2.0) -> float:
    checks, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        checks += len(run_point("tool_args", ARGS, "loan_triage", tool="notify_customer").verdicts)
    return checks / (time.perf_counter() - t0)


def audit_verify(store: Store, n: int) -> float:
    """Write an n-record chain in bulk (same hash function), then time the full verification."""
    rows, prev = [], "0" * 64
    ts = time.time()
    for seq in range(1, n + 1):
        data = _dumps({"i": seq})
        digest = _audit_hash(prev, ts, "t", "a", "act", "r", data)
        rows.append(
            {"seq": seq, "ts": ts, "tenant": "t", "actor": "a", "action": "act", "run_id": "r", "key": None}
            | {"data": data, "prev_hash": prev, "hash": digest}
        )
        prev = digest
    with store._tx() as c:  # noqa: SLF001 - a benchmark fixture, not an API
        c.execute(audit.delete())
        c.execute(audit.insert(), rows)
    t0 = time.perf_counter()
    ok, message = store.verify_audit()
    elapsed = time.perf_counter() - t0
    assert ok, message
    return elapsed


def main(n: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="steward-guards-"))
    store = Store(tmp / "steward.db")
    policy = PolicyEngine()
    overhead(store, policy, 50)  # warm-up: guardrails import, CEL compile, SQLite pages
    times = overhead(store, policy, n)
    return {
        "overhead_p50_ms": round(pct(times, 0.5), 3),
        "overhead_p95_ms": round(pct(times, 0.95), 3),
        "overhead_mean_ms": round(statistics.mean(times), 3),
        "validations_per_s": round(validations_per_s(), 0),
        "audit_verify_100k_s": round(audit_verify(store, 100_000), 3),
        "tool_calls": n,
        "machine": machine(),
        "notes": "per tool call: tool_args guards + CEL policy + 2 events + 3 hash-chained audit records + "
        "tool_output guards, SQLite WAL (synchronous=NORMAL) on local disk",
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "guards.json"))
    a = ap.parse_args()
    result = main(a.calls)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
