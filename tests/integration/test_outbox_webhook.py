"""Side effects through adapters, end to end: a loan approval with the webhook adapter against a loopback
receiver that counts sends and applies each idempotency key once, while the worker process is killed with
kill -9 just before and just after a send; a receiver that is down; and the simulated adapter saying so.

Real processes and real HTTP: ``steward worker`` children on the session's Temporal dev server, an
``http.server`` receiver in a thread, the API served by uvicorn on loopback.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from guards.policy import load_policy_engine
from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.devserver import free_port
from runtime.outbox import DispatchOptions, Outbox, OutboxDispatcher
from runtime.settings import Settings
from runtime.store import Store
from runtime.worker import build_worker
from tests.conftest import GOOD_APPLICATION, pending_approvals, wait_for
from tests.integration import deciding
from tests.integration.test_crash_recovery import REQUESTER, _spawn_worker
from tools.adapters import ActionRouting, AdapterName, Delivery

APPROVER = Principal(id="bob", roles=["approver"])
ACTING = ["approve_loan", "notify_customer"]  # the loan flow's two side effects (credit_check has none)


class Receiver:
    """A downstream system on loopback: counts every send per Idempotency-Key and applies each key once."""

    def __init__(self, port: int | None = None) -> None:
        self.sends: Counter[str] = Counter()
        self.applied: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                key = self.headers.get("Idempotency-Key", "")
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with receiver.lock:
                    receiver.sends[key] += 1
                    receiver.applied.setdefault(key, body)  # dedupe on the key: applied once
                self.send_response(200 if key else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = port or free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/actions"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _webhook_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "STEWARD_ACTION_ADAPTER": "webhook",
        "STEWARD_WEBHOOK_URL": url,
        "STEWARD_OUTBOX_POLL_S": "0.2",
        "STEWARD_OUTBOX_LEASE_S": "3",
        "STEWARD_WEBHOOK_TIMEOUT_S": "2",
        "STEWARD_OUTBOX_BACKOFF_BASE_S": "0.2",
        **extra,
    }


async def _approved_run(client: Any, store: Store, task_queue: str) -> str:
    """A loan approved by a person; its notice then runs straight through (lending policy 2026.12, rule
    stp-loan-notice), so the run has the loan flow's two side effects and only the loan asked for an approver."""
    handle = await runs.start_run(client, store, task_queue, "loan_triage", GOOD_APPLICATION, REQUESTER)
    (row,) = await pending_approvals(store, handle.id, 1, timeout=120)
    assert row["tool"] == "approve_loan", row
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=APPROVER)
    )
    try:
        result = await asyncio.wait_for(handle.result(), 120)
    except TimeoutError:
        pending = [a["tool"] for a in store.list_approvals(run_id=handle.id, status="pending")]
        raise AssertionError(f"the run did not finish; still pending: {pending}") from None
    assert [a["tool"] for a in store.list_approvals(run_id=handle.id)] == ["approve_loan"]
    assert result.status == "success" and (result.outcome or {}).get("decision") == "approved", result
    return handle.id


def _outcome_deliveries(store: Store, run_id: str) -> dict[str, str]:
    """The run outcome's actions, as the API and the console read them."""
    run = store.get_run(run_id)
    assert run is not None and run["output"] is not None
    return {a["tool"]: a["delivery"] for a in run["output"]["actions"]}


def _actions_of(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    return {t["tool"]: t["result"]["action"] for t in store.tool_executions(run_id) if t["tool"] in ACTING}


def _assert_queued_honestly(store: Store, run_id: str) -> None:
    """What the tools, the ledger and the audit said when the run finished: queued, never delivered."""
    actions = _actions_of(store, run_id)
    assert sorted(actions) == ACTING
    assert all(a["adapter"] == "webhook" and a["delivery"] == "queued" for a in actions.values()), actions
    executed = [r["data"] for r in store.audit_records(run_id) if r["action"] == "tool.executed"]
    audited = {d["tool"]: d["result"]["action"]["delivery"] for d in executed if d["tool"] in ACTING}
    assert audited == dict.fromkeys(ACTING, "queued"), audited
    assert _outcome_deliveries(store, run_id) == dict.fromkeys(ACTING, "queued")


def _assert_each_applied_once(store: Store, run_id: str, receiver: Receiver) -> Outbox:
    outbox = Outbox(store)
    rows = outbox.list_actions(run_id=run_id)
    keys = {a["idempotency_key"] for a in _actions_of(store, run_id).values()}
    assert {r.idempotency_key for r in rows} == keys and len(keys) == 2
    assert all(r.delivery == Delivery.DELIVERED for r in rows), rows
    assert set(receiver.applied) == keys, "none lost, none invented"
    assert {receiver.applied[k]["tool"] for k in keys} == set(ACTING)
    delivered = [e for e in store.events_after(run_id) if e["type"] == "action_delivered"]
    assert sorted(e["data"]["idempotency_key"] for e in delivered) == sorted(keys), "one event per action"
    audited = [r for r in store.audit_records(run_id) if r["action"] == "action.delivered"]
    assert sorted(r["data"]["idempotency_key"] for r in audited) == sorted(keys)
    assert _outcome_deliveries(store, run_id) == dict.fromkeys(ACTING, "delivered"), "the outcome kept current"
    ok, message = store.verify_audit()
    assert ok, message
    return outbox


@pytest.mark.parametrize("point", ["before_send", "after_send"])
async def test_kill_9_around_the_send_applies_each_key_exactly_once(client, temporal_server, tmp_path, point) -> None:
    task_queue = f"outbox-{point}-{uuid.uuid4()}"
    store = Store(tmp_path / "steward.db")
    receiver = Receiver()
    worker = _spawn_worker(
        tmp_path,
        temporal_server,
        task_queue,
        **_webhook_env(receiver.url, STEWARD_OUTBOX_PAUSE_AT=point, STEWARD_OUTBOX_PAUSE_S="60"),
    )
    try:
        run_id = await _approved_run(client, store, task_queue)
        _assert_queued_honestly(store, run_id)
        outbox = Outbox(store)
        if point == "before_send":
            # Claimed under a lease and paused before the POST: nothing sent yet.
            claimed = await wait_for(
                lambda: [r for r in outbox.list_actions(run_id=run_id) if r.lease_owner], timeout=60
            )
            assert claimed[0].attempts == 0 and not receiver.sends
        else:
            # The receiver has applied it; the worker pauses before it records that.
            await wait_for(lambda: sum(receiver.sends.values()) == 1, timeout=60)
        worker.kill()  # kill -9
        worker.wait()
        assert all(r.delivery == Delivery.QUEUED for r in outbox.list_actions(run_id=run_id)), (
            "nothing marked delivered"
        )
        sent_before_restart = dict(receiver.sends)
        worker = _spawn_worker(tmp_path, temporal_server, task_queue, **_webhook_env(receiver.url))
        await wait_for(
            lambda: all(r.delivery == Delivery.DELIVERED for r in outbox.list_actions(run_id=run_id)), timeout=90
        )
    finally:
        worker.kill()
        worker.wait()
        receiver.stop()
    outbox = _assert_each_applied_once(store, run_id, receiver)
    if point == "before_send":
        assert sent_before_restart == {} and set(receiver.sends.values()) == {1}, receiver.sends
    else:
        [resent] = sent_before_restart
        assert receiver.sends[resent] == 2, "sent again after the crash: the receiver's dedupe made it once"
        row = outbox.get(resent)
        assert row is not None and row.attempts == 2


async def test_receiver_down_keeps_actions_queued_with_backoff_and_visible(client, store, task_queue, tmp_path) -> None:
    from server.app import create_app
    from server.testing import serve_app

    port = free_port()  # nothing listens here yet
    url = f"http://127.0.0.1:{port}/actions"
    routing = ActionRouting(default=AdapterName.WEBHOOK, webhook_url=url)
    outbox = Outbox(store)
    dispatcher = OutboxDispatcher(outbox, DispatchOptions(poll_s=0.05, backoff_base_s=0.2, backoff_max_s=3.2))
    stop = asyncio.Event()
    dispatching = asyncio.create_task(dispatcher.run(stop))
    _, key = store.create_api_key("vera", REQUESTER.tenant, ["viewer"])
    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    receiver: Receiver | None = None
    try:
        async with build_worker(client, task_queue, store, load_policy_engine(), actions=routing):
            run_id = await _approved_run(client, store, task_queue)
        _assert_queued_honestly(store, run_id)
        # Backoff: the retries of one row come further and further apart (0.2 s, 0.4 s, 0.8 s, ...).
        first = outbox.list_actions(run_id=run_id)[0].idempotency_key
        gaps = await _retry_gaps(outbox, first, 3)
        assert gaps[1] > gaps[0] * 1.3, gaps
        await wait_for(lambda: all(r.attempts >= 3 for r in outbox.list_actions(run_id=run_id)), timeout=30)
        rows = outbox.list_actions(run_id=run_id)
        assert all(r.delivery == Delivery.QUEUED and "ConnectError" in (r.last_error or "") for r in rows), rows
        assert not [e for e in store.events_after(run_id) if e["type"] == "action_delivered"]
        assert not [r for r in store.audit_records(run_id) if r["action"] == "action.delivered"]
        async with serve_app(app) as api, httpx.AsyncClient(base_url=api.base_url) as http:
            headers = {"Authorization": f"Bearer {key}"}
            queued = (await http.get("/outbox", params={"run_id": run_id}, headers=headers)).json()
            assert {a["delivery"] for a in queued} == {"queued"} and all(a["attempts"] >= 3 for a in queued)
            assert all(a["target"] == url and a["next_attempt_at"] for a in queued)
            bad = await http.get("/outbox", params={"delivery": "sent"}, headers=headers)
            assert bad.status_code == 422 and "delivery" in json.dumps(bad.json()["detail"])
            assert (await http.get("/outbox")).status_code == 401
            # The receiver comes back: every action delivered, once each.
            receiver = Receiver(port)
            await wait_for(
                lambda: all(r.delivery == Delivery.DELIVERED for r in outbox.list_actions(run_id=run_id)), 30
            )
            done = (await http.get("/outbox", params={"run_id": run_id}, headers=headers)).json()
            assert {a["delivery"] for a in done} == {"delivered"}
        _assert_each_applied_once(store, run_id, receiver)
    finally:
        stop.set()
        await dispatching
        if receiver is not None:
            receiver.stop()


async def _retry_gaps(outbox: Outbox, key: str, n: int) -> list[float]:
    """Watch a row's sends: the seconds between the next ``n`` consecutive ones (n - 1 gaps)."""
    row = outbox.get(key)
    assert row is not None
    last, times = row.attempts, list[float]()
    deadline = time.monotonic() + 30
    while len(times) < n and time.monotonic() < deadline:
        row = outbox.get(key)
        assert row is not None and row.delivery == Delivery.QUEUED
        if row.attempts != last:
            last = row.attempts
            times.append(time.monotonic())
        await asyncio.sleep(0.01)
    assert len(times) == n, times
    return [b - a for a, b in zip(times, times[1:], strict=False)]


async def test_simulated_adapter_says_simulated_in_results_audit_and_outcome(client, store, task_queue) -> None:
    async with build_worker(client, task_queue, store, load_policy_engine()):
        run_id = await _approved_run(client, store, task_queue)
    actions = _actions_of(store, run_id)
    assert {a["delivery"] for a in actions.values()} == {"simulated"}
    assert {a["adapter"] for a in actions.values()} == {"simulated"}
    executed = {
        r["data"]["tool"]: r["data"]["result"] for r in store.audit_records(run_id) if r["action"] == "tool.executed"
    }
    assert all(executed[t]["action"]["delivery"] == "simulated" for t in ACTING), executed
    assert Outbox(store).list_actions(run_id=run_id) == [], "nothing queued: nothing leaves Steward"
    run = store.get_run(run_id)
    assert run is not None
    text = json.dumps(run["output"])
    assert '"delivered"' not in text
    outcome = {a["tool"]: (a["adapter"], a["delivery"]) for a in run["output"]["actions"]}
    assert outcome == dict.fromkeys(ACTING, ("simulated", "simulated")), outcome
