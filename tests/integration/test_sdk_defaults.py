"""Every public method of langgraph-sdk's ``assistants``, ``threads``, ``runs`` and ``crons`` clients, called
with default arguments as a LangGraph user writes them, against Steward on a real uvicorn and the real
runtime. The clients are wrapped so each test records the methods it called, and each test ends by checking
that it called every public method of its client: a method a new SDK release adds fails here until it is
covered (or listed in ``NOT_SUPPORTED`` with the reason)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk._async.assistants import AssistantsClient
from langgraph_sdk._async.cron import CronClient
from langgraph_sdk._async.runs import RunsClient
from langgraph_sdk._async.threads import ThreadsClient

from tests.conftest import GOOD_APPLICATION, pending_approvals, wait_for

pytestmark = pytest.mark.timeout(120)

BAND_C = {"application": {**GOOD_APPLICATION["application"], "application_id": "A-D", "credit_score": 600}}
CLIENTS: dict[str, type] = {
    "assistants": AssistantsClient,
    "threads": ThreadsClient,
    "runs": RunsClient,
    "crons": CronClient,
}
NOT_SUPPORTED: dict[str, str] = {}


def public_methods(name: str) -> set[str]:
    cls = CLIENTS[name]
    return {f"{name}.{m}" for m, _ in inspect.getmembers(cls, inspect.isfunction) if not m.startswith("_")}


class Recorded:
    """A langgraph-sdk client that notes which public methods were called."""

    def __init__(self, inner: Any, name: str, seen: set[str]) -> None:
        self._inner, self._name, self._seen = inner, name, seen

    def __getattr__(self, attr: str) -> Any:
        self._seen.add(f"{self._name}.{attr}")
        return getattr(self._inner, attr)


def assert_all_called(name: str, seen: set[str]) -> None:
    missing = public_methods(name) - seen - set(NOT_SUPPORTED)
    assert not missing, f"langgraph-sdk methods not exercised: {sorted(missing)}"


@dataclass
class Server:
    url: str
    operator: str
    approver: str

    def sdk(self, seen: set[str], key: str | None = None) -> Any:
        raw = get_client(url=self.url, api_key=key or self.operator)
        return {n: Recorded(getattr(raw, n), n, seen) for n in CLIENTS}


@pytest.fixture
async def server(client, store, task_queue, worker, tmp_path: Path) -> AsyncIterator[Server]:  # type: ignore[no-untyped-def]
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    async with serve_app(app) as running:
        yield Server(
            url=running.base_url,
            operator=store.create_api_key("olivia", "acme", ["operator"])[1],
            approver=store.create_api_key("arthur", "acme", ["approver"])[1],
        )


async def refused(call: Any) -> httpx.Response:
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await call
    return exc.value.response


async def collect(stream: Any) -> list[Any]:
    return [part async for part in stream]


async def until_run_ends(events: Any, ends: tuple[str, ...] = ("completed", "failed")) -> list[dict[str, Any]]:
    """A v3 session's events up to the root lifecycle event in ``ends``: the stream itself stays open (it
    follows the thread's later runs), as the SDK's long-lived shared stream expects."""
    seen: list[dict[str, Any]] = []
    async for event in events:
        seen.append(event)
        if event["method"] == "lifecycle" and event["params"]["data"]["event"] in ends:
            return seen
    raise AssertionError(f"stream ended before the run did: {[e['method'] for e in seen]}")


def test_the_sdk_clients_have_the_methods_this_file_covers() -> None:
    """A guard on the guard: the enumeration finds the methods (an SDK refactor must not make it vacuous)."""
    assert {"runs.join_stream", "threads.get_history", "crons.create", "assistants.get_graph"} <= set().union(
        *(public_methods(n) for n in CLIENTS)
    )


async def test_every_assistants_method_with_defaults(server: Server) -> None:
    seen: set[str] = set()
    a = server.sdk(seen)["assistants"]
    assert "loan_triage" in [x["assistant_id"] for x in await a.search()]
    assert await a.count() == len(await a.search(limit=100)) >= 3
    assert (await a.get("loan_triage"))["graph_id"] == "loan_triage"
    graph = await a.get_graph("loan_triage")
    assert {"intake", "assess", "tools", "__start__"} <= {n["id"] for n in graph["nodes"]}
    assert all({"source", "target"} <= set(e) for e in graph["edges"])
    schemas = await a.get_schemas("loan_triage")
    assert "application" in schemas["input_schema"]["properties"]
    assert await a.get_subgraphs("loan_triage") == {}
    created = await a.create("loan_triage")  # the graph's declared assistant
    assert created["assistant_id"] == "loan_triage"
    assert (await a.update("loan_triage"))["assistant_id"] == "loan_triage"
    changed = await refused(a.update("loan_triage", config={"configurable": {"x": 1}}))
    assert changed.status_code == 422 and "config" in changed.json()["detail"]
    gone = await refused(a.delete("loan_triage"))
    assert gone.status_code == 409 and "project file" in gone.json()["detail"]
    versions = await a.get_versions("loan_triage")
    assert [v["version"] for v in versions] == [1]
    assert (await a.set_latest("loan_triage", 1))["version"] == 1
    assert (await refused(a.get("nope"))).status_code == 404
    assert_all_called("assistants", seen)


async def test_every_threads_method_with_defaults(server: Server) -> None:
    seen: set[str] = set()
    sdk = server.sdk(seen)
    t = sdk["threads"]
    thread = await t.create()
    tid = thread["thread_id"]
    assert (await t.get(tid))["status"] == "idle"
    assert (await t.update(tid, metadata={"desk": "north"}))["metadata"]["desk"] == "north"
    assert tid in [x["thread_id"] for x in await t.search()]
    assert await t.count() >= 1 and await t.count(metadata={"desk": "north"}) == 1
    assert (await t.get_state(tid))["values"] == {}

    await sdk["runs"].wait(tid, "loan_triage", input=BAND_C)
    state = await t.get_state(tid)
    checkpoint_id = state["checkpoint"]["checkpoint_id"]
    assert state["values"]["outcome"]["decision"] == "referred" and checkpoint_id
    history = await t.get_history(tid)
    assert [h["checkpoint"]["checkpoint_id"] for h in history] == [checkpoint_id]
    assert (await t.get_state(tid, checkpoint_id=checkpoint_id))["values"] == state["values"]
    assert (await t.get_state(tid, checkpoint={"thread_id": tid, "checkpoint_id": checkpoint_id}))["next"] == []
    assert (await refused(t.get_state(tid, checkpoint_id="older"))).status_code == 404

    parts = await collect(await t.join_stream(tid))  # the thread's latest run, stream_mode 'run_modes'
    assert parts[-1].event == "end" and any(p.event == "values" for p in parts)

    updated = await t.update_state(tid, {"note": "called the applicant"})
    new_id = updated["checkpoint"]["checkpoint_id"]
    assert new_id != checkpoint_id
    assert (await t.get_state(tid))["values"]["note"] == "called the applicant"
    node = await refused(t.update_state(tid, {"note": "x"}, as_node="assess"))
    assert node.status_code == 422 and "as_node" in node.json()["detail"]

    # The v3 thread-centric session (POST /threads/{id}/commands, /stream/events) on a thread the SDK mints.
    async with t.stream(assistant_id="loan_triage") as session:
        started = await session.run.start(input=BAND_C)
        events = await until_run_ends(session.events)
        output = await session.output.with_timeout(60)
    assert started["run_id"].startswith("run-")
    lifecycle = [e["params"]["data"]["event"] for e in events if e["method"] == "lifecycle"]
    assert lifecycle == ["running", "completed"]
    values = [e["params"]["data"] for e in events if e["method"] == "values"]
    # The run's stored input is the validated model dump (amounts as floats, defaults such as currency filled in).
    from agents.loan_triage.graph import LoanTriageInput

    assert values[0] == LoanTriageInput.model_validate(BAND_C).model_dump(mode="json", exclude_none=True)
    assert values[0]["application"]["currency"] == "EUR" and values[-1]["outcome"]["decision"] == "referred"
    assert output["outcome"]["decision"] == "referred"  # the thread's state, read once the run completed
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len({e["event_id"] for e in events}) == len(events)
    assert (await t.get(session.thread_id))["status"] == "idle"

    copy = await t.copy(tid)
    assert copy["thread_id"] != tid and copy["values"]["note"] == "called the applicant"
    assert (await t.prune([copy["thread_id"]]))["pruned_count"] == 1
    assert (await refused(t.get(copy["thread_id"]))).status_code == 404
    await t.delete(tid)
    assert (await refused(t.get(tid))).status_code == 404
    assert_all_called("threads", seen)


async def test_every_runs_method_with_defaults(server: Server, store) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    sdk = server.sdk(seen)
    r = sdk["runs"]
    tid = (await sdk["threads"].create())["thread_id"]

    parts = await collect(r.stream(tid, "loan_triage", input=BAND_C))
    assert [p.event for p in parts][0] == "metadata" and parts[-1].event == "end"
    assert [p.data for p in parts if p.event == "values"][-1]["outcome"]["decision"] == "referred"

    run = await r.create(tid, "loan_triage", input=BAND_C)
    joined = await collect(r.join_stream(tid, run["run_id"]))  # no stream_mode: was a 422
    assert joined[-1].event == "end" and [p.data for p in joined if p.event == "values"][-1]["outcome"]
    assert (await r.join(tid, run["run_id"]))["outcome"]["decision"] == "referred"
    assert (await r.wait(tid, "loan_triage", input=BAND_C))["outcome"]["decision"] == "referred"
    assert len(await r.list(tid)) == 3
    assert (await r.get(tid, run["run_id"]))["status"] == "success"
    kept = await refused(r.delete(tid, run["run_id"]))
    assert kept.status_code == 409 and "audit" in kept.json()["detail"]

    batch = await r.create_batch([{"assistant_id": "loan_triage", "input": BAND_C}] * 2)
    assert len(batch) == 2 and len({b["thread_id"] for b in batch}) == 2

    waiting = await r.create(tid, "loan_triage", input=GOOD_APPLICATION)
    await pending_approvals(store, waiting["run_id"], 1)  # approve_loan; the notice comes only after it ran
    cancelled = await r.cancel(tid, waiting["run_id"])
    assert cancelled["run_id"] == waiting["run_id"]
    other = (await sdk["threads"].create())["thread_id"]
    second = await r.create(other, "loan_triage", input=GOOD_APPLICATION)
    await pending_approvals(store, second["run_id"], 1)
    await r.cancel_many(thread_id=other)
    final = await r.join(other, second["run_id"])
    assert final == {} or "__error__" not in final
    # cancel_many asks Temporal and returns; the worker records the cancellation a moment later (join may
    # return first: the run was waiting on approvals), so the status is read once the run has stopped.
    await wait_for(lambda: (store.get_run(second["run_id"]) or {}).get("status") == "cancelled")
    assert (await r.get(other, second["run_id"]))["cancel_reason"] == "cancelled"
    assert_all_called("runs", seen)


async def test_every_crons_method_with_defaults(server: Server) -> None:
    seen: set[str] = set()
    sdk = server.sdk(seen)
    c = sdk["crons"]
    tid = (await sdk["threads"].create())["thread_id"]
    stateless = await c.create("loan_triage", schedule="0 2 * * *", input=BAND_C)
    on_thread = await c.create_for_thread(tid, "loan_triage", schedule="0 4 * * *", input=BAND_C)
    try:
        ids = {stateless["cron_id"], on_thread["cron_id"]}
        assert {x["cron_id"] for x in await c.search()} == ids
        assert await c.count() == 2 and await c.count(thread_id=tid) == 1
        assert (await c.update(stateless["cron_id"], schedule="0 5 * * *"))["schedule"] == "0 5 * * *"
    finally:
        await c.delete(stateless["cron_id"])
        await c.delete(on_thread["cron_id"])
    assert await c.search() == []
    assert_all_called("crons", seen)


async def test_interrupts_carry_the_human_interrupt_shape_and_resume_with_a_human_response(server: Server) -> None:
    seen: set[str] = set()
    operator, approver = server.sdk(seen), server.sdk(seen, server.approver)
    tid = (await operator["threads"].create())["thread_id"]
    parts = await collect(
        operator["runs"].stream(tid, "loan_triage", input=GOOD_APPLICATION, stream_mode=["values", "updates"])
    )
    streamed = [i for p in parts if p.event == "updates" for i in p.data.get("__interrupt__", [])]
    state = await operator["threads"].get_state(tid)
    for interrupt in [*state["interrupts"], *state["tasks"][0]["interrupts"], *streamed]:
        value = interrupt["value"]
        assert value["action_request"] == {"action": value["tool"], "args": value["args"]}
        assert value["config"] == {
            "allow_accept": True,
            "allow_edit": True,
            "allow_respond": True,
            "allow_ignore": True,
        }
        assert value["tool"] in value["description"] and value["approval_id"] == interrupt["id"]
    # The loan decision is asked alone; the customer notice is proposed only after it ran (lending policy 2026.12).
    assert [i["value"]["tool"] for i in state["interrupts"]] == ["approve_loan"]
    loan = state["interrupts"][0]

    # Agent Inbox answers an interrupt with a HumanResponse; here an edit (a lower amount), keyed by interrupt id.
    edited = {**loan["value"]["args"], "amount": 18000.0}
    decisions = {loan["id"]: {"type": "edit", "args": {"action": "approve_loan", "args": edited}}}
    resumed = await collect(approver["runs"].stream(tid, "loan_triage", command={"resume": decisions}))
    values = [p.data for p in resumed if p.event == "values"][-1]
    outcome = values["outcome"]
    assert outcome["decision"] == "approved" and outcome["tools"]["approve_loan"] == "executed"
    # The edit is what ran: the templated notice (straight through, stp-loan-notice) states the edited amount.
    assert outcome["tools"]["notify_customer"] == "executed"
    ran = {r["tool"]: r for r in values["tool_results"]}
    assert ran["approve_loan"]["args"]["amount"] == 18000.0
    assert "approved for 18,000.00 EUR" in ran["notify_customer"]["args"]["message"], ran["notify_customer"]


async def test_a_thread_stream_session_answers_approvals_with_input_respond(server: Server) -> None:
    """``threads.stream``: the operator's session sees the loan approval as an ``input.requested`` interrupt; an
    approver's session on the same thread answers it by its id (``run.respond``) and sees the run complete (the
    notice of the approval that ran follows without a person, stp-loan-notice)."""
    seen: set[str] = set()
    operator, approver = server.sdk(seen), server.sdk(seen, server.approver)
    async with operator["threads"].stream(assistant_id="loan_triage") as asking:
        await asking.run.start(input=GOOD_APPLICATION)
        events = await until_run_ends(asking.events, ends=("interrupted",))
        await wait_for_interrupts(asking, 1)
        tid, asked = asking.thread_id, list(asking.interrupts)
        assert asking.interrupted
        with pytest.raises(httpx.HTTPStatusError) as not_approver:  # an operator may not approve
            await asking.run.respond("approve", interrupt_id=asked[0]["interrupt_id"])
        assert not_approver.value.response.status_code == 403
        assert not_approver.value.response.json()["error"] == "permission_denied"
    assert [i["value"]["tool"] for i in asked] == ["approve_loan"]
    assert all(i["value"]["action_request"]["action"] == i["value"]["tool"] for i in asked)
    # The assessment here is written by rules (no model in this test): on custom, never on the messages channel.
    assert "input.requested" in [e["method"] for e in events]
    assert "message" in [e["params"]["data"]["type"] for e in events if e["method"] == "custom"]
    assert not [e for e in events if e["method"] == "messages"]

    async with approver["threads"].stream(tid, assistant_id="loan_triage") as answering:
        await wait_for_interrupts(answering, 1)  # replayed from the run's start: it knows what is open
        for interrupt in list(answering.interrupts):
            await answering.run.respond({"type": "accept", "args": None}, interrupt_id=interrupt["interrupt_id"])
        final = await answering.output.with_timeout(60)
    assert final["outcome"]["decision"] == "approved"
    assert final["outcome"]["tools"]["approve_loan"] == "executed"
    assert final["outcome"]["tools"]["notify_customer"] == "executed"


async def wait_for_interrupts(session: Any, n: int, timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while len(session.interrupts) < n:  # noqa: ASYNC110 - the SDK offers no event for its interrupt list
            await asyncio.sleep(0.05)


async def test_thread_stream_resumes_after_since_and_follows_the_threads_next_run(server: Server) -> None:
    """``since`` is a thread-wide seq: a stream resumed after event k of run 1 gets the rest of run 1 (nothing
    lost, nothing twice) and then run 2's events, whose seqs are higher still."""
    from langgraph_sdk.stream.transport import ProtocolSseTransport

    headers = {"X-Api-Key": server.operator}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        transport = ProtocolSseTransport(client=http, thread_id=tid)
        first = await transport.send_command(
            {"id": 1, "method": "run.start", "params": {"assistant_id": "loan_triage", "input": BAND_C}}
        )
        assert first is not None and first["type"] == "success"
        everything = transport.open_event_stream({"channels": ["values", "lifecycle", "custom"]})
        run1 = await until_run_ends(everything.events)
        await everything.close()
        middle = run1[len(run1) // 2]["seq"]
        resumed = transport.open_event_stream({"channels": ["values", "lifecycle", "custom"], "since": middle})
        rest = await until_run_ends(resumed.events)
        assert rest == [e for e in run1 if e["seq"] > middle]

        second = await transport.send_command(
            {"id": 2, "method": "run.start", "params": {"assistant_id": "loan_triage", "input": BAND_C}}
        )
        assert second is not None and second["result"]["run_id"] != first["result"]["run_id"]
        run2 = await until_run_ends(resumed.events)  # the same stream, still open, follows the next run
        await resumed.close()
        await transport.close()
    assert run2[0]["seq"] > run1[-1]["seq"] and run2[0]["params"]["data"]["event"] == "running"
    custom = [e["params"]["data"]["type"] for e in run2 if e["method"] == "custom"]
    assert custom[0] == "run_started" and custom[-1] == "run_finished"


async def test_thread_stream_bad_input_is_a_4xx_naming_the_field(server: Server) -> None:
    headers = {"X-Api-Key": server.operator}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        unknown = await http.post(f"/threads/{tid}/commands", json={"id": 1, "method": "state.fork", "params": {}})
        assert unknown.status_code == 400 and unknown.json()["error"] == "not_supported"
        assert "method" in unknown.json()["detail"] and unknown.json()["id"] == 1
        no_assistant = await http.post(f"/threads/{tid}/commands", json={"id": 2, "method": "run.start", "params": {}})
        assert no_assistant.status_code == 422 and "params.assistant_id" in no_assistant.json()["detail"]
        bad_input = await http.post(
            f"/threads/{tid}/commands",
            json={"id": 3, "method": "run.start", "params": {"assistant_id": "loan_triage", "input": {"x": 1}}},
        )
        assert bad_input.status_code == 422 and bad_input.json()["type"] == "error"
        no_id = await http.post(f"/threads/{tid}/commands", json={"method": "run.start"})
        assert no_id.status_code == 422 and "id" in str(no_id.json()["detail"])
        channel = await http.post(f"/threads/{tid}/stream/events", json={"channels": ["gossip"]})
        assert channel.status_code == 422 and "channels" in str(channel.json()["detail"])
        respond = await http.post(
            f"/threads/{tid}/commands", json={"id": 4, "method": "input.respond", "params": {"response": 1}}
        )
        assert respond.status_code == 422 and "params.interrupt_id" in respond.json()["detail"]
        elsewhere = await http.post("/threads/nope/stream/events", json={"channels": ["values"]})
        assert elsewhere.status_code == 404
        # The JS SDK's threads.patchState and thread-less runs.joinStream (served for it) refuse bad input too.
        no_metadata = await http.patch(f"/threads/{tid}/state", json={})
        assert no_metadata.status_code == 422 and "metadata" in str(no_metadata.json()["detail"])
        assert (await http.patch("/threads/nope/state", json={"metadata": {}})).status_code == 404
        assert (await http.get("/runs/run-nope/stream")).status_code == 404


def test_a_human_response_becomes_a_steward_decision() -> None:
    from guards.types import Principal
    from runtime.errors import UserError
    from server.dispatch import _decisions

    who = Principal(id="arthur", tenant="acme", roles=["approver"])
    pending = [{"approval_id": "ap-1"}, {"approval_id": "ap-2"}]
    accept = _decisions([{"type": "accept", "args": None}], pending, who)
    assert [(d.approval_id, d.action) for d in accept] == [("ap-1", "approve"), ("ap-2", "approve")]
    mixed = _decisions([{"type": "ignore", "args": None}, {"type": "response", "args": "call me"}], pending, who)
    assert [(d.action, d.response) for d in mixed] == [("reject", None), ("respond", "call me")]
    edit = _decisions({"ap-1": {"type": "edit", "args": {"action": "t", "args": {"amount": 5}}}}, pending, who)
    assert edit[0].action == "edit" and edit[0].args == {"amount": 5}
    with pytest.raises(UserError, match="command.resume.type"):
        _decisions({"type": "maybe", "args": None}, pending, who)
    with pytest.raises(UserError, match="3 responses for 2 pending"):
        _decisions([{"type": "accept"}] * 3, pending, who)
