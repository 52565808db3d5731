"""Supervision of the embedded Temporal dev server, with real processes: ``steward up`` restarts a Temporal
killed with -9 on the same SQLite file, the worker and the API ride over the gap, and a run that waited for
approval across the crash completes when decided through the HTTP API. Also: a worker started before Temporal
waits for it (logged) instead of exiting, and the API's connection recovers after an outage."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from runtime.client import connect
from runtime.devserver import start_dev_server
from runtime.settings import Settings
from runtime.store import Store
from server.connection import TemporalConnection, TemporalUnavailable
from tests.conftest import GOOD_APPLICATION, free_port, wait_for

STEWARD = [sys.executable, "-c", "from runtime.cli import main; main()"]
REPO = Path(__file__).parents[2]
# About durability, not models: no model server, no credit-model training in the children.
LEAN = {"STEWARD_LLM_EMBEDDED_SERVER": "false", "STEWARD_SCORING_BOOTSTRAP": "false"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STEWARD_TEMPORAL_ADDRESS"}
    return {**env, **LEAN, "PYTHONPATH": str(REPO), **extra}


def _temporal_child(pid: int) -> psutil.Process | None:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for c in children:
        try:
            if "start-dev" in c.cmdline():
                return c
        except psutil.NoSuchProcess:
            continue
    return None


async def _call(http: httpx.AsyncClient, method: str, url: str, timeout: float = 60.0, **kw: Any) -> Any:
    """A client that honours 503 + Retry-After (Temporal briefly away) and fails on anything else."""
    deadline = time.monotonic() + timeout
    while True:
        r = await http.request(method, url, **kw)
        if r.status_code != 503 or time.monotonic() > deadline:
            assert r.status_code == 200, (method, url, r.status_code, r.text)
            return r.json()
        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))


# Several Python processes start cold (guards, langgraph, temporalio imports): minutes on a loaded 2-core box.
@pytest.mark.timeout(900)
async def test_killed_temporal_is_restarted_and_the_waiting_run_completes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port, ui, api = free_port(), free_port(), free_port()
    env = _env(
        STEWARD_HOME=str(home),
        STEWARD_TEMPORAL_DEV_PORT=str(port),
        STEWARD_TEMPORAL_UI_PORT=str(ui),
        STEWARD_API_PORT=str(api),
    )
    up_log = tmp_path / "up.log"
    with open(up_log, "ab") as log:
        proc = subprocess.Popen([*STEWARD, "up"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        await wait_for(lambda: "steward is up" in up_log.read_text(), timeout=120)
        admin = (home / "admin.key").read_text().strip()
        # Separation of duties: the approver is someone other than the requester (the local admin).
        _, approver = Store(home / "steward.db").create_api_key("bob", "default", ["approver"])
        base = f"http://127.0.0.1:{api}"
        async with (
            httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=180) as http,
            httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {approver}"}, timeout=180) as bob,
        ):
            thread = await _call(http, "POST", "/threads", json={})
            tid = thread["thread_id"]
            run = await _call(
                http, "POST", f"/threads/{tid}/runs", json={"assistant_id": "loan_triage", "input": GOOD_APPLICATION}
            )
            run_id = run["run_id"]

            async def pending() -> list[dict[str, Any]]:
                return await _call(http, "GET", "/approvals", params={"run_id": run_id})  # type: ignore[no-any-return]

            deadline = time.monotonic() + 90
            # The loan waits for its approver (the notice follows the decision, LP-6.1).
            while len(waiting := await pending()) < 1:
                assert time.monotonic() < deadline, f"run {run_id} never asked for its approval: {waiting}"
                await asyncio.sleep(0.2)

            victim = _temporal_child(proc.pid)
            assert victim is not None, "the embedded dev server runs as a child of steward up"
            worker_pids = {c.pid for c in psutil.Process(proc.pid).children() if c.pid != victim.pid}
            victim.send_signal(signal.SIGKILL)  # kill -9: no graceful shutdown
            victim.wait(timeout=10)

            await wait_for(lambda: "temporal exited with -9" in up_log.read_text(), timeout=30)
            await wait_for(lambda: "temporal restarted" in up_log.read_text(), timeout=60)
            fresh = _temporal_child(proc.pid)
            assert fresh is not None and fresh.pid != victim.pid, "a new dev server process"

            # The waiting run is still there: the restarted server read the same history file.
            client = await connect(Settings(), address=f"127.0.0.1:{port}")
            desc = await client.get_workflow_handle(run_id).describe()
            assert desc.status is not None and desc.status.name == "RUNNING", desc.status

            assert [row["tool"] for row in waiting] == ["approve_loan"]
            decided: set[str] = set()
            deadline = time.monotonic() + 90
            while (status := (await _call(http, "GET", f"/threads/{tid}/runs/{run_id}"))["status"]) != "success":
                assert status in ("pending", "running", "interrupted"), status
                assert time.monotonic() < deadline, f"run {run_id} did not finish after approval: {status}"
                for row in await pending():  # whatever else the run asks after the restart is decided too
                    if row["approval_id"] not in decided:
                        result = await _call(
                            bob, "POST", f"/approvals/{row['approval_id']}/decision", json={"action": "approve"}
                        )
                        assert result["decided_by"] == "bob"
                        decided.add(row["approval_id"])
                await asyncio.sleep(0.2)
            assert waiting[0]["approval_id"] in decided

        text = up_log.read_text()
        # The worker and the API rode over the outage: nothing but Temporal was restarted.
        assert "worker exited" not in text and "api exited" not in text, text
        assert worker_pids <= {c.pid for c in psutil.Process(proc.pid).children()}
    finally:
        children = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        psutil.wait_procs(children, timeout=15)
    assert "stopped." in up_log.read_text()


async def test_worker_started_before_temporal_waits_for_it(tmp_path: Path) -> None:
    port, ui = free_port(), free_port()
    log_path = tmp_path / "worker.log"
    env = _env(
        STEWARD_HOME=str(tmp_path / "home"),
        STEWARD_TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        STEWARD_TASK_QUEUE=f"wait-{port}",
    )
    with open(log_path, "ab") as log:
        worker = subprocess.Popen([*STEWARD, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    server = None
    try:
        await wait_for(lambda: "is not reachable yet" in log_path.read_text(), timeout=60)
        assert worker.poll() is None, log_path.read_text()
        server = start_dev_server(tmp_path / "temporal", port=port, ui_port=ui)
        await wait_for(lambda: "worker polling task queue" in log_path.read_text(), timeout=60)
        assert worker.poll() is None, log_path.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        if server is not None:
            server.stop()


async def test_api_connection_fails_fast_then_recovers(tmp_path: Path) -> None:
    port, ui = free_port(), free_port()
    conn = TemporalConnection(Settings(temporal_address=f"127.0.0.1:{port}"))
    started = time.monotonic()
    try:
        await conn.get()
        raise AssertionError("connected to a port nothing listens on")
    except TemporalUnavailable as exc:
        assert f"127.0.0.1:{port}" in str(exc)
    assert time.monotonic() - started < 4.0, "a request must get its 503 quickly, not wait on a long connect"
    # Within the backoff window the answer is immediate and says when the next attempt is.
    started = time.monotonic()
    try:
        await conn.get()
        raise AssertionError("connected inside the backoff window")
    except TemporalUnavailable as exc:
        assert "next attempt in" in str(exc)
    assert time.monotonic() - started < 0.5
    assert not await conn.healthy()

    server = start_dev_server(tmp_path / "temporal", port=port, ui_port=ui)
    try:

        async def connects() -> bool:
            try:
                await conn.get()
                return True
            except TemporalUnavailable:
                return False

        deadline = time.monotonic() + 15
        while not await connects():
            assert time.monotonic() < deadline, "the connection never recovered"
            await asyncio.sleep(0.2)
        assert await conn.healthy()
        client = await conn.get()

        # kill -9 and restart on the same file: the same client answers again, no reconnect by hand.
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        assert not await conn.healthy()
        server = start_dev_server(tmp_path / "temporal", port=port, ui_port=ui)
        deadline = time.monotonic() + 30
        while not await conn.healthy():
            assert time.monotonic() < deadline, "health never came back after the restart"
            await asyncio.sleep(0.2)
        assert await conn.get() is client
    finally:
        server.stop()


def test_a_dead_child_is_restarted_after_its_backoff_without_blocking_the_loop(tmp_path: Path) -> None:
    from runtime.supervisor import STABLE_AFTER_S, Child, supervise_once

    child = Child("flaky", [sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "flaky.log")
    child.start()
    assert child.process is not None
    child.process.wait(timeout=30)
    first_pid = child.process.pid
    lines: list[str] = []
    t0 = time.monotonic()
    supervise_once([child], lines.append, now=t0)
    assert time.monotonic() - t0 < 0.5, "scheduling a restart must not sleep through the backoff"
    assert lines == [f"flaky exited with 3; restarting in 1.0s (see {tmp_path / 'flaky.log'})"]
    supervise_once([child], lines.append, now=t0 + 0.5)
    assert child.process.pid == first_pid and len(lines) == 1, "not before the backoff is over"
    supervise_once([child], lines.append, now=t0 + 1.0)
    assert child.process.pid != first_pid and lines[-1].startswith("flaky restarted")
    child.process.wait(timeout=30)
    # A second crash right away doubles the backoff; a crash after a long healthy run starts afresh.
    supervise_once([child], lines.append, now=child.started_at + 1)
    assert "restarting in 2.0s" in lines[-1]
    child.restart_at = None
    supervise_once([child], lines.append, now=child.started_at + STABLE_AFTER_S + 1)
    assert "restarting in 1.0s" in lines[-1]
