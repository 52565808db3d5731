"""The official ``langgraph_sdk`` client against Steward on a real uvicorn on loopback, on the real runtime:
assistants, threads, a streamed run that stops at an interrupt, resuming it with ``command.resume``, wait,
join, join_stream, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.conftest import GOOD_APPLICATION

pytestmark = pytest.mark.timeout(120)

BAND_C = {"application": {**GOOD_APPLICATION["application"], "application_id": "A-C", "credit_score": 600}}


@dataclass
class Server:
    url: str
    operator: str
    approver: str


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


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [part async for part in stream]


async def test_sdk_lists_assistants_and_their_schemas(server: Server) -> None:
    sdk = get_client(url=server.url, api_key=server.operator)
    found = await sdk.assistants.search(graph_id="loan_triage")
    assert [a["assistant_id"] for a in found] == ["loan_triage"]
    assistant = await sdk.assistants.get("loan_triage")
    assert assistant["graph_id"] == "loan_triage" and assistant["version"] == 1
    schemas = await sdk.assistants.get_schemas("loan_triage")
    assert "application" in schemas["input_schema"]["properties"]
    graph = await sdk.assistants.get_graph("loan_triage")
    assert {n["id"] for n in graph["nodes"]} >= {"intake", "assess", "tools", "summarize"}


async def test_sdk_streams_a_run_to_its_interrupt_and_resumes_it(server: Server) -> None:
    operator = get_client(url=server.url, api_key=server.operator)
    approver = get_client(url=server.url, api_key=server.approver)
    thread = await operator.threads.create(metadata={"case": "sdk"})
    tid = thread["thread_id"]
    parts = await collect(
        operator.runs.stream(
            tid, "loan_triage", input=GOOD_APPLICATION, stream_mode=["values", "updates", "messages-tuple"]
        )
    )
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    run_id = parts[0].data["run_id"]
    tokens = "".join(p.data[0]["content"] for p in parts if p.event == "messages")
    assert "Credit band A: the rules support approval; an approver must confirm." in tokens
    assert {"intake", "assess"} <= {k for p in parts if p.event == "updates" for k in p.data}
    last_values = [p.data for p in parts if p.event == "values"][-1]
    # Only the loan decision waits; the notice is proposed after it ran (lending policy 2026.12).
    assert [i["value"]["tool"] for i in last_values["__interrupt__"]] == ["approve_loan"]
    assert all(p.id for p in parts if p.event not in ("metadata", "end"))

    assert (await operator.threads.get(tid))["status"] == "interrupted"
    state = await operator.threads.get_state(tid)
    assert state["next"] == ["tools"] and len(state["interrupts"]) == 1
    assert (await operator.runs.get(tid, run_id))["status"] == "interrupted"
    assert [t["thread_id"] for t in await operator.threads.search(metadata={"case": "sdk"})] == [tid]

    # Resume: a decision for every pending interrupt, keyed by interrupt (= approval) id, as the SDK allows.
    decisions = {i["id"]: {"action": "approve", "comment": "ok"} for i in state["interrupts"]}
    resumed = await collect(
        approver.runs.stream(tid, "loan_triage", command={"resume": decisions}, stream_mode="values", version="v2")
    )
    assert resumed[-1]["type"] == "values" and resumed[-1]["interrupts"] == []
    outcome = resumed[-1]["data"]["outcome"]
    assert {k: outcome[k] for k in ("decision", "decided_by", "missing", "tools")} == {
        "decision": "approved",
        "decided_by": "arthur",
        "missing": [],
        "tools": {"approve_loan": "executed", "credit_check": "executed", "notify_customer": "executed"},
    }
    run = await operator.runs.get(tid, run_id)
    assert run["status"] == "success" and run["run_id"] == run_id
    assert [r["run_id"] for r in await operator.runs.list(tid)] == [run_id]
    assert (await operator.threads.get(tid))["status"] == "idle"


async def test_sdk_wait_join_and_join_stream(server: Server) -> None:
    sdk = get_client(url=server.url, api_key=server.operator)
    values = await sdk.runs.wait(None, "loan_triage", input=BAND_C)
    assert values["outcome"]["decision"] == "referred"

    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    run = await sdk.runs.create(tid, "loan_triage", input=BAND_C)
    assert run["status"] in ("pending", "running")
    joined = await sdk.runs.join(tid, run["run_id"])
    assert joined["outcome"]["decision"] == "referred"
    assert (await sdk.runs.get(tid, run["run_id"]))["status"] == "success"

    second = await sdk.runs.create(tid, "loan_triage", input=BAND_C)
    parts = await collect(sdk.runs.join_stream(tid, second["run_id"], stream_mode=["custom", "values"]))
    assert parts[-1].event == "end"
    types = [p.data["type"] for p in parts if p.event == "custom"]
    assert types[0] == "run_started" and types[-1] == "run_finished" and "tool_finished" in types
    assert [p.data for p in parts if p.event == "values"][-1]["outcome"]["decision"] == "referred"
    # The thread carries state across runs: both runs' messages are in the final values.
    assert len((await sdk.threads.get_state(tid))["values"]["messages"]) > len(joined["messages"])


async def test_sdk_waits_until_the_interrupt_and_cancels(server: Server) -> None:
    sdk = get_client(url=server.url, api_key=server.operator)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    values = await sdk.runs.wait(tid, "loan_triage", input=GOOD_APPLICATION)
    assert [i["value"]["tool"] for i in values["__interrupt__"]] == ["approve_loan"]
    run = (await sdk.runs.list(tid))[0]
    await sdk.runs.cancel(tid, run["run_id"], wait=True)
    cancelled = await sdk.runs.get(tid, run["run_id"])
    assert cancelled["status"] == "interrupted" and cancelled["cancel_reason"] == "cancelled"
    assert (await sdk.threads.get(tid))["status"] == "idle"
