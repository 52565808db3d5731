"""The action adapter seam and the outbox, without services: what each adapter says, the routing from
settings, the outbox's transaction with the ledger row, leases, backoff, and the dispatcher's verdicts on
each kind of answer (httpx's MockTransport stands in for the receiver; tests/integration has a real one)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import tools.claims
import tools.kyc
import tools.lending  # noqa: F401 - registers the side-effecting tools
from runtime.outbox import DispatchOptions, Outbox, OutboxDispatcher, action_routing
from runtime.settings import Settings
from runtime.store import Store
from tools.adapters import (
    ActionRouting,
    AdapterName,
    Delivery,
    StagedAction,
    WebhookAdapter,
    action_scope,
    idempotency_key,
)
from tools.registry import get_tool, issue_grant, list_tools

LOAN = {"application_id": "A-1", "amount": 1000.0, "reason": "band A"}
WEBHOOK = ActionRouting(default=AdapterName.WEBHOOK, webhook_url="http://127.0.0.1:9/hook")


def _run(tool: str, args: dict[str, Any], run_id: str = "run-1", call_id: str = "c1") -> dict[str, Any]:
    import asyncio

    return asyncio.run(get_tool(tool).run(args, issue_grant(run_id, call_id, None)))


def test_every_side_effecting_tool_reports_its_action() -> None:
    """No side-effecting tool Steward ships (``tools.*``) may answer without saying which adapter took its
    action (test modules register probe tools of their own in the same process)."""
    acting = [t.name for t in list_tools() if t.side_effect and t._fn.__module__.startswith("tools.")]
    assert {"approve_loan", "decline_loan", "notify_customer", "pay_claim", "decline_claim"} <= set(acting)
    assert {"request_documents", "escalate_case"} <= set(acting)
    for name in acting:
        assert "action" in get_tool(name).result_schema.model_fields, name


def test_simulated_is_the_default_and_never_says_delivered() -> None:
    result = _run("notify_customer", {"applicant_id": "P-1", "message": "hello"})
    assert result["action"] == {
        "tool": "notify_customer",
        "adapter": "simulated",
        "delivery": "simulated",
        "idempotency_key": idempotency_key("run-1", "c1"),
        "attempts": 0,
        "last_error": None,
    }
    assert "delivered" not in json.dumps(result)


def test_honest_statuses_of_claims_and_kyc_actions() -> None:
    paid = _run(
        "pay_claim",
        {"claim_id": "C-1", "policy_id": "P-1", "amount": 10.0, "currency": "EUR", "reason": "late"},
    )
    assert paid["status"] == "requested" and paid["action"]["delivery"] == "simulated"
    docs = _run(
        "request_documents",
        {"case_id": "K-1", "customer_id": "U-1", "documents": ["proof_of_address"], "message": "please"},
    )
    assert docs["status"] == "requested" and docs["action"]["delivery"] == "simulated"


def test_webhook_stages_the_action_and_reports_queued() -> None:
    with action_scope(WEBHOOK) as scope:
        result = _run_in_scope("approve_loan", LOAN)
    assert result["action"]["adapter"] == "webhook" and result["action"]["delivery"] == "queued"
    [staged] = scope.staged
    assert staged.idempotency_key == idempotency_key("run-1", "c1") == result["action"]["idempotency_key"]
    assert staged.url == "http://127.0.0.1:9/hook"
    assert staged.payload == {**LOAN, "status": "approved"}


def _run_in_scope(tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run a tool synchronously inside the caller's scope (asyncio.run copies the current context)."""
    return _run(tool, args)


def test_idempotency_key_is_deterministic_and_header_safe() -> None:
    key = idempotency_key("run-1", "weird id\n with: spaces")
    assert key == idempotency_key("run-1", "weird id\n with: spaces") != idempotency_key("run-2", "c1")
    assert key.startswith("stw-") and key.isascii() and "\n" not in key and " " not in key


def test_per_tool_override_keeps_one_tool_simulated() -> None:
    routing = ActionRouting(
        default=AdapterName.WEBHOOK,
        webhook_url="http://127.0.0.1:9/hook",
        overrides={"notify_customer": AdapterName.SIMULATED},
        webhook_urls={"approve_loan": "http://127.0.0.1:9/core"},
    )
    with action_scope(routing) as scope:
        note = _run("notify_customer", {"applicant_id": "P-1", "message": "hi"})
        loan = _run("approve_loan", LOAN, call_id="c2")
    assert note["action"]["delivery"] == "simulated" and loan["action"]["delivery"] == "queued"
    assert [a.url for a in scope.staged] == ["http://127.0.0.1:9/core"]


def test_webhook_without_the_runtime_outbox_refuses() -> None:
    action = StagedAction("stw-x", "approve_loan", "run-1", "c1", "http://x", {})
    with pytest.raises(RuntimeError, match="outbox"):
        WebhookAdapter().submit(None, action)


def test_settings_route_and_a_webhook_needs_a_url() -> None:
    with pytest.raises(ValueError, match="STEWARD_WEBHOOK_URL"):
        action_routing(Settings(action_adapter="webhook"))
    with pytest.raises(ValueError, match="pay_claim"):
        action_routing(Settings(action_adapters={"pay_claim": "webhook"}))
    routing = action_routing(
        Settings(action_adapter="webhook", webhook_url="http://h/x", action_adapters={"notify_customer": "simulated"})
    )
    assert routing.adapter_for("approve_loan") == AdapterName.WEBHOOK
    assert routing.adapter_for("notify_customer") == AdapterName.SIMULATED
    assert action_routing(Settings()).adapter_for("approve_loan") == AdapterName.SIMULATED


def test_settings_reject_an_unknown_adapter() -> None:
    with pytest.raises(ValueError, match="action_adapter"):
        Settings(action_adapter="email")  # type: ignore[arg-type]


# -- the outbox ------------------------------------------------------------------------------------------------
@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    store = Store(tmp_path / "steward.db")
    store.create_run("run-1", "t-1", "loan_triage", "acme", "alice", {})
    return Outbox(store)


def _stage(outbox: Outbox, call_id: str = "c1", url: str = "http://receiver/hook") -> str:
    """What execute_tool does: the ledger row and the outbox row in one finish_tool_execution transaction."""
    store = outbox.store
    key = idempotency_key("run-1", call_id)
    action = StagedAction(key, "approve_loan", "run-1", call_id, url, {"application_id": "A-1"})
    store.begin_tool_execution("run-1", call_id, "approve_loan", {}, None)
    store.finish_tool_execution("run-1", call_id, "done", {"ok": True}, also=Outbox.stage("acme", [action]))
    return key


def test_outbox_row_commits_with_the_ledger_row_or_not_at_all(outbox: Outbox) -> None:
    key = _stage(outbox)
    row = outbox.get(key)
    assert row is not None and row.delivery == Delivery.QUEUED and row.tenant == "acme" and row.attempts == 0
    _stage(outbox)  # a retried execution stages the same key: still one row
    assert len(outbox.list_actions()) == 1

    store = outbox.store
    store.begin_tool_execution("run-1", "c9", "approve_loan", {}, None)

    def broken(c: Any) -> None:
        Outbox.stage("acme", [StagedAction("stw-9", "approve_loan", "run-1", "c9", "http://r", {})])(c)
        raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        store.finish_tool_execution("run-1", "c9", "done", {}, also=broken)
    assert outbox.get("stw-9") is None
    [ledger] = [t for t in store.tool_executions("run-1") if t["tool_call_id"] == "c9"]
    assert ledger["status"] == "started", "neither the ledger row nor the outbox row committed"


def test_a_live_lease_keeps_a_second_worker_off_until_it_expires(outbox: Outbox) -> None:
    key = _stage(outbox)
    now = time.time()
    first = outbox.claim("worker-a", lease_s=30, now=now)
    assert first is not None and first.idempotency_key == key and first.lease_owner == "worker-a"
    assert outbox.claim("worker-b", lease_s=30, now=now + 1) is None
    retaken = outbox.claim("worker-b", lease_s=30, now=now + 31)
    assert retaken is not None and retaken.lease_owner == "worker-b"
    # The first worker's late verdict no longer applies: the row is worker-b's.
    outbox.mark_retry(first, "worker-a", "late", 5)
    row = outbox.get(key)
    assert row is not None and row.lease_owner == "worker-b" and row.last_error is None


def test_backoff_doubles_and_is_capped() -> None:
    opts = DispatchOptions(backoff_base_s=0.5, backoff_max_s=3)
    assert [opts.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def _dispatch(outbox: Outbox, handler: Any, **opts: Any) -> bool:
    dispatcher = OutboxDispatcher(outbox, DispatchOptions(**opts), owner="w1")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        return await dispatcher.dispatch_one(http)


async def test_delivered_only_on_2xx_with_event_audit_and_outcome(outbox: Outbox) -> None:
    key = _stage(outbox)
    store = outbox.store
    store.set_run_status(
        "run-1", "success", output={"actions": [{"idempotency_key": key, "delivery": "queued", "attempts": 0}]}
    )
    seen: list[httpx.Request] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201)

    assert await _dispatch(outbox, ok)
    assert seen[0].headers["Idempotency-Key"] == key
    body = json.loads(seen[0].content)
    assert body["action"] == {"application_id": "A-1"} and body["tool"] == "approve_loan"
    row = outbox.get(key)
    assert row is not None and row.delivery == Delivery.DELIVERED and row.attempts == 1
    [event] = [e for e in store.events_after("run-1") if e["type"] == "action_delivered"]
    assert event["data"]["idempotency_key"] == key and event["data"]["delivery"] == "delivered"
    [audit] = [r for r in store.audit_records("run-1") if r["action"] == "action.delivered"]
    assert audit["data"]["idempotency_key"] == key and audit["actor"] == "steward:outbox"
    run = store.get_run("run-1")
    assert run is not None and run["output"]["actions"][0]["delivery"] == "delivered"
    assert not await _dispatch(outbox, ok), "nothing left to deliver"


async def test_server_errors_and_timeouts_stay_queued_with_backoff(outbox: Outbox) -> None:
    key = _stage(outbox)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    before = time.time()
    assert await _dispatch(outbox, down, backoff_base_s=10)
    row = outbox.get(key)
    assert row is not None and row.delivery == Delivery.QUEUED and row.attempts == 1
    assert row.last_error is not None and "ConnectError" in row.last_error
    assert row.next_attempt_at >= before + 10 and row.lease_owner is None
    assert not await _dispatch(outbox, down), "not due again before its backoff"

    with outbox.store.engine.begin() as c:  # fast-forward the clock
        c.execute(sa.text("UPDATE outbox SET next_attempt_at=0"))
    assert await _dispatch(outbox, lambda r: httpx.Response(503, text="busy"), backoff_base_s=10)
    row = outbox.get(key)
    assert row is not None and row.delivery == Delivery.QUEUED and row.attempts == 2
    assert row.last_error == "HTTP 503: busy" and row.next_attempt_at >= time.time() + 19
    assert not [e for e in outbox.store.events_after("run-1") if e["type"] == "action_delivered"]


async def test_a_refusal_or_used_up_attempts_mark_failed(outbox: Outbox) -> None:
    refused = _stage(outbox, "c1")
    assert await _dispatch(outbox, lambda r: httpx.Response(422, text="bad amount"))
    row = outbox.get(refused)
    assert row is not None and row.delivery == Delivery.FAILED and row.last_error == "HTTP 422: bad amount"
    assert [e["type"] for e in outbox.store.events_after("run-1")] == ["action_failed"]

    limited = _stage(outbox, "c2")
    assert await _dispatch(outbox, lambda r: httpx.Response(500), max_attempts=1)
    row = outbox.get(limited)
    assert row is not None and row.delivery == Delivery.FAILED and row.attempts == 1
