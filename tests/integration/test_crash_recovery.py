"""Crashes while a run works or waits for approval: the run completes, no node or tool runs twice, the
approval is neither lost nor skipped. Real processes: a worker subprocess, a dedicated Temporal dev server,
and ``steward up`` itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from guards.types import Principal
from runtime import runs
from runtime.client import connect
from runtime.devserver import start_dev_server
from runtime.settings import Settings
from runtime.store import Store
from tests.conftest import GOOD_APPLICATION, free_port, pending_approvals, wait_for
from tests.integration.loan_flow import decide_as_they_come

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])
STEWARD = [sys.executable, "-c", "from runtime.cli import main; main()"]
REPO = Path(__file__).parents[2]
# These tests are about durability, not models: no model server, no credit-model training in the children
# (agents then use their rule-based texts, labelled as such).
LEAN = {"STEWARD_LLM_EMBEDDED_SERVER": "false", "STEWARD_SCORING_BOOTSTRAP": "false"}


def _env(home: Path, address: str, task_queue: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **LEAN,
        "STEWARD_HOME": str(home),
        "STEWARD_TEMPORAL_ADDRESS": address,
        "STEWARD_TASK_QUEUE": task_queue,
        "PYTHONPATH": str(REPO),
        **extra,
    }


def _spawn_worker(home: Path, address: str, task_queue: str, **extra: str) -> subprocess.Popen[bytes]:
    log = open(home / f"worker-{uuid.uuid4().hex[:6]}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [*STEWARD, "worker"],
        env=_env(home, address, task_queue, **extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def assert_ran_once(store: Store, run_id: str) -> None:
    """The ledger check: every node task and every tool call completed exactly once."""
    completed: dict[str, int] = {}
    for row in store.node_executions(run_id):
        if row["status"] == "completed":
            completed[row["task_key"]] = completed.get(row["task_key"], 0) + 1
    assert completed and all(n == 1 for n in completed.values()), completed
    # assess: the proposal, after credit_check, after the loan (proposing the notice), after the notice.
    nodes = sorted(r["node"] for r in store.node_executions(run_id) if r["status"] == "completed")
    assert nodes == ["assess", "assess", "assess", "assess", "intake", "summarize"], nodes
    tools = store.tool_executions(run_id)
    assert sorted(t["tool"] for t in tools) == ["approve_loan", "credit_check", "notify_customer"]
    assert all(t["status"] == "done" and t["attempts"] == 1 for t in tools), tools
    ok, message = store.verify_audit()
    assert ok, message


async def _approve_all(client: Any, store: Store, run_id: str) -> None:
    """Approve the loan the run waited on across the crash, then whatever follows it, until the run ends."""
    decided = await decide_as_they_come(client, store, run_id, principal=APPROVER, timeout=120)
    assert [r["tool"] for r in decided] == ["approve_loan"], "the approval notice goes straight through"


async def test_worker_killed_mid_activity_and_while_waiting(client, temporal_server, tmp_path) -> None:
    task_queue = f"crash-{uuid.uuid4()}"
    store = Store(tmp_path / "steward.db")
    worker = _spawn_worker(tmp_path, temporal_server, task_queue, STEWARD_STANDIN_DELAY_S="4")
    try:
        handle = await runs.start_run(client, store, task_queue, "loan_triage", GOOD_APPLICATION, REQUESTER)
        # Kill -9 while the model node (assess) is in the middle of its activity.
        await wait_for(lambda: any(e["type"] == "message" for e in store.events_after(handle.id)), timeout=60)
        worker.kill()
        worker.wait()
        started = [r for r in store.node_executions(handle.id) if r["node"] == "assess"]
        assert [r["status"] for r in started] == ["started"], "the killed attempt must not have completed"
        worker = _spawn_worker(tmp_path, temporal_server, task_queue)
        await pending_approvals(store, handle.id, 1, timeout=60)
        # Kill -9 again while the run waits for approval; the approval survives in workflow state.
        worker.kill()
        worker.wait()
        worker = _spawn_worker(tmp_path, temporal_server, task_queue)
        await _approve_all(client, store, handle.id)
        result = await handle.result()
    finally:
        worker.kill()
        worker.wait()
    assert result.status == "success" and result.outcome["decision"] == "approved"
    killed_key = started[0]["task_key"]
    attempts = [(r["attempt"], r["status"]) for r in store.node_executions(handle.id) if r["task_key"] == killed_key]
    assert attempts == [(1, "started"), (2, "started"), (2, "completed")], attempts
    assert_ran_once(store, handle.id)


async def test_temporal_server_restart_while_waiting_for_approval(tmp_path) -> None:
    from guards.policy import load_policy_engine
    from runtime.worker import build_worker

    port, ui = free_port(), free_port()
    server = start_dev_server(tmp_path / "temporal", port=port, ui_port=ui)
    store = Store(tmp_path / "steward.db")
    client = await connect(Settings(), address=server.address)
    task_queue = f"restart-{uuid.uuid4()}"
    async with build_worker(client, task_queue, store, load_policy_engine()):
        handle = await runs.start_run(client, store, task_queue, "loan_triage", GOOD_APPLICATION, REQUESTER)
        await pending_approvals(store, handle.id, 1)
        assert server.process is not None
        server.process.kill()  # kill -9: no graceful shutdown
        server.process.wait()
        server = start_dev_server(tmp_path / "temporal", port=port, ui_port=ui)
        assert server.process is not None, "a fresh server process, on the same SQLite file"
        await _approve_all(client, store, handle.id)
        result = await handle.result()
    server.stop()
    assert result.status == "success"
    assert_ran_once(store, handle.id)


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


async def test_steward_up_restart_while_waiting_for_approval(tmp_path) -> None:
    port, ui, api = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        **LEAN,
        "STEWARD_HOME": str(tmp_path / "home"),
        "STEWARD_TEMPORAL_DEV_PORT": str(port),
        "STEWARD_TEMPORAL_UI_PORT": str(ui),
        "STEWARD_API_PORT": str(api),
        "PYTHONPATH": str(REPO),
    }

    def up() -> subprocess.Popen[bytes]:
        log = open(tmp_path / "up.log", "ab")  # noqa: SIM115
        return subprocess.Popen([*STEWARD, "up", "--no-api"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    proc = up()
    try:
        await wait_for(lambda: "steward is up" in (tmp_path / "up.log").read_text(), timeout=60)
        store = Store(tmp_path / "home" / "steward.db")
        client = await connect(Settings(), address=f"127.0.0.1:{port}")
        handle = await runs.start_run(client, store, "steward-agents", "loan_triage", GOOD_APPLICATION, REQUESTER)
        await pending_approvals(store, handle.id, 1, timeout=60)
        children = _children(proc.pid)
        assert len(children) >= 2, "temporal dev server and worker run as children"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"orphans left after Ctrl-C: {alive}"
        proc = up()
        await wait_for(lambda: (tmp_path / "up.log").read_text().count("steward is up") == 2, timeout=60)
        client = await connect(Settings(), address=f"127.0.0.1:{port}")
        await _approve_all(client, store, handle.id)
        result = await handle.result()
        assert result.status == "success"
        assert_ran_once(store, handle.id)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert "stopped." in (tmp_path / "up.log").read_text()


@pytest.mark.parametrize("sig", [signal.SIGKILL])
async def test_killed_supervisor_leaves_no_orphans(tmp_path, sig) -> None:
    port, ui = free_port(), free_port()
    env = {
        **os.environ,
        **LEAN,
        "STEWARD_HOME": str(tmp_path / "home"),
        "STEWARD_TEMPORAL_DEV_PORT": str(port),
        "STEWARD_TEMPORAL_UI_PORT": str(ui),
        "PYTHONPATH": str(REPO),
    }
    log = open(tmp_path / "up.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([*STEWARD, "up", "--no-api"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    await wait_for(lambda: "steward is up" in (tmp_path / "up.log").read_text(), timeout=60)
    children = _children(proc.pid)
    assert children
    proc.send_signal(sig)
    proc.wait(timeout=10)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"orphans left after kill -9 of the supervisor: {alive}"
