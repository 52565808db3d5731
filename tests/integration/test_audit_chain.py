"""The audit trail of real runs is hash-chained: editing or deleting any row is detected and named, by the
store and by ``steward audit verify``; ``steward audit export`` writes every record as JSONL."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.store import Store
from tests.conftest import GOOD_APPLICATION, make_worker, pending_approvals
from tests.integration import deciding

REPO = Path(__file__).parents[2]


def steward(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STEWARD_HOME": str(home),
        "STEWARD_DB_PATH": str(home / "steward.db"),
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, "-c", "from runtime.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
    )


async def test_tampering_with_one_audit_row_is_detected_and_named(client, task_queue, tmp_path) -> None:
    store = Store(tmp_path / "steward.db")
    async with make_worker(client, store, task_queue):
        handle = await runs.start_run(
            client, store, task_queue, "loan_triage", GOOD_APPLICATION, Principal(id="alice", roles=["operator"])
        )
        # Lending policy 2026.12: the loan waits for an approver; the templated notice then runs straight through.
        (row,) = await pending_approvals(store, handle.id, 1)
        await deciding.decide(
            client,
            store,
            ApprovalDecision(
                approval_id=row["approval_id"], action="approve", principal=Principal(id="bob", roles=["approver"])
            ),
        )
        assert (await handle.result()).status == "success"
    records = store.audit_records()
    assert len(records) > 10
    ok = steward(tmp_path, "audit", "verify")
    assert ok.returncode == 0 and f"{len(records)} audit records verified" in ok.stdout

    export = tmp_path / "audit.jsonl"
    assert steward(tmp_path, "audit", "export", "--out", str(export)).returncode == 0
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [r["seq"] for r in records]
    assert {"run.started", "policy.decision", "approval.approved", "tool.executed", "run.success"} <= {
        r["action"] for r in lines
    }

    # Rewrite who approved the loan: the record and its number are named.
    approval = next(r for r in records if r["action"] == "approval.approved")
    db = sqlite3.connect(store.path)
    db.execute("UPDATE audit SET actor='mallory' WHERE seq=?", (approval["seq"],))
    db.commit()
    bad = steward(tmp_path, "audit", "verify")
    assert bad.returncode == 1 and f"audit record {approval['seq']} was altered" in bad.stdout
    db.execute("UPDATE audit SET actor='bob' WHERE seq=?", (approval["seq"],))
    db.commit()
    assert steward(tmp_path, "audit", "verify").returncode == 0
    # Delete a record in the middle of the chain.
    middle = records[len(records) // 2]["seq"]
    db.execute("DELETE FROM audit WHERE seq=?", (middle,))
    db.commit()
    gone = steward(tmp_path, "audit", "verify")
    assert gone.returncode == 1 and f"audit record {middle} is missing" in gone.stdout
