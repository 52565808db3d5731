"""The HTTP API on the real runtime: a real Temporal dev server, a real worker on this test's task queue, and
the app served by uvicorn on loopback. Bad input, auth, roles, tenant isolation, run + approve over HTTP,
multitask strategies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GOOD_APPLICATION

pytestmark = pytest.mark.timeout(120)

BAND_C = {"application": {**GOOD_APPLICATION["application"], "application_id": "A-C", "credit_score": 600}}
# Bureau band D: the rules propose decline_loan (an approver confirms it), and the decline notice that follows
# it needs an approver too (LP-6.2): one run that asks for two approvals, one after the other.
BAND_D = {"application": {**GOOD_APPLICATION["application"], "application_id": "A-D", "credit_score": 550}}


@dataclass
class Api:
    base_url: str
    keys: dict[str, str]
    store: Any
    app: Any

    def http(self, who: str | None = None, header: str = "bearer") -> httpx.AsyncClient:
        headers = {}
        if who is not None:
            key = self.keys.get(who, who)
            headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-Api-Key": key}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


def make_keys(store: Any) -> dict[str, str]:
    spec = {
        "alice": ("alice", "acme", ["operator"]),
        "bob": ("bob", "acme", ["approver"]),
        "vera": ("vera", "acme", ["viewer"]),
        "root": ("root", "acme", ["admin"]),
        "mallory": ("mallory", "globex", ["admin"]),
    }
    return {name: store.create_api_key(p, t, r)[1] for name, (p, t, r) in spec.items()}


@pytest.fixture
async def api(client, store, task_queue, worker, tmp_path: Path) -> AsyncIterator[Api]:  # type: ignore[no-untyped-def]
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    async with serve_app(app) as running:
        yield Api(running.base_url, make_keys(store), store, app)


async def poll(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await fn()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


async def run_status(http: httpx.AsyncClient, thread_id: str, run_id: str) -> str:
    r = await http.get(f"/threads/{thread_id}/runs/{run_id}")
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def start_waiting_run(http: httpx.AsyncClient, application: dict[str, Any] = GOOD_APPLICATION) -> dict[str, Any]:
    """A run that stops at its loan decision: by default GOOD_APPLICATION, whose approve_loan waits for an
    approver (its debt service is above the straight-through line); the notice is proposed only after it ran."""
    thread = (await http.post("/threads", json={})).json()
    r = await http.post(
        f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "loan_triage", "input": application}
    )
    assert r.status_code == 200, r.text
    run = r.json()
    assert r.headers["content-location"] == f"/threads/{run['thread_id']}/runs/{run['run_id']}"

    async def interrupted() -> bool:
        return await run_status(http, run["thread_id"], run["run_id"]) == "interrupted"

    await poll(interrupted)
    return run


async def test_health_and_ready_need_no_key_but_every_other_route_does(api: Api) -> None:
    async with api.http() as anon:
        assert (await anon.get("/health")).json() == {"status": "ok"}
        ready = await anon.get("/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ready", "store": True, "temporal": True}
        assert (await anon.get("/openapi.json")).status_code == 200
        docs = await anon.get("/docs")
        assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text  # served locally
        assert (await anon.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200
        assert (await anon.get("/console/")).status_code == 200
        for method, path in [
            ("GET", "/assistants/loan_triage"),
            ("POST", "/threads"),
            ("GET", "/approvals"),
            ("GET", "/tools"),
            ("GET", "/audit"),
            ("GET", "/metrics"),
            ("GET", "/info"),
            ("GET", "/threads/t/runs/r/stream"),
        ]:
            r = await anon.request(method, path, json={} if method == "POST" else None)
            assert r.status_code == 401, (path, r.text)
            assert "API key" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
    async with api.http("stw_wrong_key") as wrong:
        r = await wrong.get("/tools")
        assert r.status_code == 401 and r.json() == {"detail": "invalid or revoked API key"}


async def test_keys_work_as_bearer_and_as_x_api_key(api: Api) -> None:
    for header in ("bearer", "x-api-key"):
        async with api.http("vera", header) as http:
            me = (await http.get("/info")).json()
            assert me["principal"] == {"id": "vera", "tenant": "acme", "roles": ["viewer"]}
            tools = (await http.get("/tools")).json()
            assert {t["name"] for t in tools} >= {"credit_check", "approve_loan"}
            assert all({"risk", "args_schema", "version", "owner"} <= set(t) for t in tools)


async def test_bad_input_gets_a_4xx_that_names_the_problem_and_starts_nothing(api: Api) -> None:
    async with api.http("alice") as http:
        thread_id = (await http.post("/threads", json={"thread_id": "t-bad"})).json()["thread_id"]
        runs = f"/threads/{thread_id}/runs"
        bad_amount = {"application": {**GOOD_APPLICATION["application"], "amount": "lots"}}
        cases: list[tuple[str, Any, int, str]] = [
            (runs, {"assistant_id": "loan_triage", "input": bad_amount}, 422, "input.application.amount"),
            (runs, {"assistant_id": "loan_triage", "input": {"application": {}}}, 422, "input.application"),
            (runs, {"assistant_id": "loan_triage", "input": [1, 2]}, 422, "input"),
            (runs, {"assistant_id": "nope", "input": GOOD_APPLICATION}, 404, "assistant 'nope' not found"),
            (runs, {"input": GOOD_APPLICATION}, 422, "assistant_id"),
            (runs, {"assistant_id": "loan_triage", "input": GOOD_APPLICATION, "colour": 1}, 422, "colour"),
            (
                runs,
                {"assistant_id": "loan_triage", "input": GOOD_APPLICATION, "interrupt_before": ["tools"]},
                422,
                "interrupt_before",
            ),
            (
                runs,
                {"assistant_id": "loan_triage", "input": GOOD_APPLICATION, "multitask_strategy": "rollback"},
                422,
                "rollback",
            ),
            (
                runs + "/stream",
                {"assistant_id": "loan_triage", "input": GOOD_APPLICATION, "stream_mode": "debug"},
                422,
                "stream_mode",
            ),
            (runs, {"assistant_id": "loan_triage", "command": {"resume": "approve"}}, 403, "approver"),
            (
                "/threads/t-missing/runs",
                {"assistant_id": "loan_triage", "input": GOOD_APPLICATION},
                404,
                "thread 't-missing' not found",
            ),
            ("/threads", {"thread_id": "t-bad"}, 409, "already exists"),
            ("/threads", {"thread_id": "has space"}, 422, "thread_id"),
        ]
        for path, body, status, needle in cases:
            r = await http.post(path, json=body)
            assert r.status_code == status, (body, r.text)
            assert needle in str(r.json()["detail"]), (needle, r.text)
        r = await http.post(
            runs, content=b'{"assistant_id": "loan_triage", "input": {', headers={"content-type": "application/json"}
        )
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
        r = await http.post(runs, content=b"x" * (2 << 20), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "larger than" in r.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(40):
                yield b"x" * 65536

        r = await http.post(runs, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        for path in ("/threads/t-missing", "/threads/t-bad/runs/run-missing", "/approvals/apr_missing"):
            r = await http.get(path)
            assert r.status_code == 404 and "not found" in r.json()["detail"], path
        assert (await http.get(f"{runs}")).json() == []  # nothing was started by any of the above

        run = await start_waiting_run(http)
        stream = f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream"
        for bad in ("abc", "1.2.3", "-1", "99999"):
            r = await http.get(stream, headers={"Last-Event-ID": bad})
            assert r.status_code == 422 and "Last-Event-ID" in r.json()["detail"], (bad, r.text)
        assert await run_status(http, run["thread_id"], run["run_id"]) == "interrupted"  # undisturbed


async def test_roles_gate_starting_deciding_and_audit(api: Api) -> None:
    async with api.http("vera") as viewer, api.http("alice") as operator, api.http("bob") as approver:
        r = await viewer.post("/threads", json={})
        assert r.status_code == 403 and "lacks role 'operator'" in r.json()["detail"]
        run = await start_waiting_run(operator)
        pending = (await viewer.get("/approvals", params={"run_id": run["run_id"]})).json()
        assert [a["tool"] for a in pending] == ["approve_loan"]  # the notice comes only after the decision ran
        r = await operator.post(f"/approvals/{pending[0]['approval_id']}/decision", json={"action": "approve"})
        assert r.status_code == 403 and "approver" in r.json()["detail"]
        for path in ("/audit", "/audit/verify", "/metrics"):
            assert (await approver.get(path)).status_code == 403, path
        r = await approver.post(f"/threads/{run['thread_id']}/runs/{run['run_id']}/cancel")
        assert r.status_code == 403


async def test_another_tenants_key_gets_404_for_threads_runs_approvals_and_audit(api: Api) -> None:
    async with api.http("alice") as alice, api.http("mallory") as mallory:
        run = await start_waiting_run(alice)
        tid, rid = run["thread_id"], run["run_id"]
        approval = (await alice.get("/approvals", params={"run_id": rid})).json()[0]["approval_id"]
        for path in (
            f"/threads/{tid}",
            f"/threads/{tid}/state",
            f"/threads/{tid}/runs",
            f"/threads/{tid}/runs/{rid}",
            f"/threads/{tid}/runs/{rid}/stream",
            f"/threads/{tid}/runs/{rid}/join",
            f"/approvals/{approval}",
            f"/audit?run_id={rid}",
        ):
            r = await mallory.get(path)
            assert r.status_code == 404, (path, r.status_code, r.text)
        for path, body in (
            (f"/approvals/{approval}/decision", {"action": "approve"}),
            (f"/threads/{tid}/runs/{rid}/cancel", None),
            (f"/threads/{tid}/runs", {"assistant_id": "loan_triage", "input": GOOD_APPLICATION}),
            (f"/threads/{tid}/runs", {"assistant_id": "loan_triage", "command": {"resume": "approve"}}),
        ):
            r = await mallory.post(path, json=body)
            assert r.status_code == 404, (path, r.text)
        assert (await mallory.get("/approvals")).json() == []
        assert (await mallory.post("/threads/search", json={})).json() == []
        assert (await mallory.get("/audit")).json() == []
        assert await run_status(alice, tid, rid) == "interrupted"


async def test_run_and_approve_over_http(api: Api) -> None:
    """A band-D application asks for two approvals one after the other: the decline (high risk), then, once the
    decline ran, its adverse-action notice (medium risk, LP-6.2). Bob approves the first and edits the second."""
    async with api.http("alice") as alice, api.http("bob") as bob, api.http("root") as root:
        run = await start_waiting_run(alice, BAND_D)
        tid, rid = run["thread_id"], run["run_id"]
        got = (await alice.get(f"/threads/{tid}/runs/{rid}")).json()
        assert got["steward_status"] == "interrupted" and len(got["interrupts"]) == 1
        assert got["temporal_url"].endswith(f"/workflows/{rid}")
        thread = (await alice.get(f"/threads/{tid}")).json()
        assert thread["status"] == "interrupted" and len(thread["interrupts"][rid]) == 1
        waiting = (await alice.post("/threads/search", json={"status": "interrupted"})).json()
        assert [t["thread_id"] for t in waiting] == [tid]
        high = (await bob.get("/approvals", params={"risk": "high", "assistant_id": "loan_triage"})).json()
        assert [a["tool"] for a in high] == ["decline_loan"]
        assert (await bob.get("/approvals", params={"risk": "medium", "thread_id": tid})).json() == []
        r = await bob.post(f"/approvals/{high[0]['approval_id']}/decision", json={"action": "edit", "args": {}})
        assert r.status_code == 422 and "invalid arguments" in r.json()["detail"]
        r = await bob.post(
            f"/approvals/{high[0]['approval_id']}/decision",
            json={"action": "approve", "comment": "band D, the rules agree"},
        )
        assert r.status_code == 200 and r.json() == {
            "approval_id": high[0]["approval_id"],
            "status": "approved",
            "decided_by": "bob",
        }
        r = await bob.post(f"/approvals/{high[0]['approval_id']}/decision", json={"action": "approve"})
        assert r.status_code == 409 and "not pending" in r.json()["detail"]

        async def notice() -> list[dict[str, Any]]:
            return list((await bob.get("/approvals", params={"risk": "medium", "thread_id": tid})).json())

        medium = await poll(notice, 60)  # proposed once the decline ran; a decline notice waits for an approver
        assert [a["tool"] for a in medium] == ["notify_customer"] and medium[0]["args"]["decision"] == "declined"
        assert await run_status(alice, tid, rid) == "interrupted"  # the notice's approval is open
        edited = {**medium[0]["args"], "message": "Declined: we will call you today to explain why."}
        r = await bob.post(f"/approvals/{medium[0]['approval_id']}/decision", json={"action": "edit", "args": edited})
        assert r.status_code == 200 and r.json()["status"] == "edited"

        async def done() -> bool:
            return await run_status(alice, tid, rid) == "success"

        await poll(done)
        final = (await alice.get(f"/threads/{tid}/runs/{rid}")).json()
        assert final["outcome"]["decision"] == "declined" and final["outcome"]["decided_by"] == "bob"
        assert final["outcome"]["tools"]["notify_customer"] == "executed"
        state = (await alice.get(f"/threads/{tid}/state")).json()
        assert state["values"]["outcome"] == final["outcome"] and state["next"] == [] and state["interrupts"] == []
        assert state["checkpoint"]["checkpoint_id"] == rid
        assert (await alice.get("/approvals")).json() == []

        audit = (await root.get("/audit", params={"run_id": rid})).json()
        actions = [a["action"] for a in audit]
        assert "approval.approved" in actions and "approval.edited" in actions and actions[-1] == "run.success"
        assert (await root.get("/audit/verify")).json()["ok"] is True
        metrics = (await root.get("/metrics")).text
        assert 'steward_runs{assistant="loan_triage",status="success",tenant="acme"} 1.0' in metrics
        assert (
            'steward_http_requests_total{method="POST",route="/approvals/{approval_id}/decision",status="200"}'
            in metrics
        )
        assert "steward_approval_decision_seconds_count" in metrics and "steward_step_duration_seconds_sum" in metrics


async def test_requester_cannot_approve_their_own_run(api: Api) -> None:
    async with api.http("root") as root:
        run = await start_waiting_run(root)
        approval = (await root.get("/approvals", params={"run_id": run["run_id"]})).json()[0]
        r = await root.post(f"/approvals/{approval['approval_id']}/decision", json={"action": "approve"})
        assert r.status_code == 403 and "separation of duties" in r.json()["detail"]


async def test_multitask_reject_refuses_and_enqueue_waits_for_the_thread(api: Api) -> None:
    async with api.http("alice") as alice, api.http("bob") as bob:
        first = await start_waiting_run(alice)
        tid = first["thread_id"]
        body = {"assistant_id": "loan_triage", "input": BAND_C}
        r = await alice.post(f"/threads/{tid}/runs", json={**body, "multitask_strategy": "reject"})
        assert r.status_code == 409 and first["run_id"] in r.json()["detail"]
        second = (await alice.post(f"/threads/{tid}/runs", json={**body, "multitask_strategy": "enqueue"})).json()
        await asyncio.sleep(0.5)
        assert await run_status(alice, tid, second["run_id"]) == "pending"  # queued behind the waiting run
        r = await bob.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "loan_triage", "command": {"resume": {"action": "approve"}}},
        )
        assert r.status_code == 200 and r.json()["outcome"]["decision"] == "approved", r.text
        values = (await alice.get(f"/threads/{tid}/runs/{second['run_id']}/join")).json()
        assert values["outcome"]["decision"] == "referred"
        runs = (await alice.get(f"/threads/{tid}/runs")).json()
        assert [r["run_id"] for r in runs] == [second["run_id"], first["run_id"]]
        assert {r["status"] for r in runs} == {"success"}


async def test_multitask_interrupt_cancels_the_waiting_run_and_starts_the_new_one(api: Api) -> None:
    async with api.http("alice") as alice:
        first = await start_waiting_run(alice)
        tid = first["thread_id"]
        r = await alice.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "loan_triage", "input": BAND_C, "multitask_strategy": "interrupt"},
        )
        assert r.status_code == 200 and r.json()["outcome"]["decision"] == "referred", r.text
        old = (await alice.get(f"/threads/{tid}/runs/{first['run_id']}")).json()
        assert old["status"] == "interrupted" and old["cancel_reason"] == "cancelled"


async def test_cancel_a_waiting_run_and_a_queued_run(api: Api) -> None:
    async with api.http("alice") as alice:
        first = await start_waiting_run(alice)
        tid = first["thread_id"]
        queued = (
            await alice.post(f"/threads/{tid}/runs", json={"assistant_id": "loan_triage", "input": BAND_C})
        ).json()
        r = await alice.post(f"/threads/{tid}/runs/{queued['run_id']}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "interrupted" and r.json()["cancel_reason"]
        r = await alice.post(f"/threads/{tid}/runs/{first['run_id']}/cancel", params={"wait": 1})
        assert r.status_code == 200, r.text
        assert r.json()["steward_status"] == "cancelled" and r.json()["status"] == "interrupted"
        r = await alice.post(f"/threads/{tid}/runs/{first['run_id']}/cancel")
        assert r.status_code == 409
        assert (await alice.get("/approvals", params={"thread_id": tid})).json() == []
        assert (await alice.get(f"/threads/{tid}")).json()["status"] == "idle"


async def test_stateless_wait_returns_the_final_values(api: Api) -> None:
    async with api.http("alice") as alice:
        r = await alice.post("/runs/wait", json={"assistant_id": "loan_triage", "input": BAND_C})
        assert r.status_code == 200, r.text
        values = r.json()
        assert values["outcome"]["decision"] == "referred" and values["application"]["application_id"] == "A-C"
        run_path = r.headers["content-location"]
        assert (await alice.get(run_path)).json()["status"] == "success"
