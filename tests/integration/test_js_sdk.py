"""The JavaScript LangGraph SDK (``@langchain/langgraph-sdk`` from npm, locked in tests/js/package-lock.json
and installed by ``.ci/system-deps`` with ``npm ci``) driving Steward as a chat front end does: create a
thread, stream a run, read state and history, list runs, rejoin the stream, resume the interrupts with
Agent Inbox's HumanResponse. Skipped only where ``node`` is missing; a missing ``npm ci`` is a failure."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import GOOD_APPLICATION

pytestmark = pytest.mark.timeout(180)
JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture
async def api(client, store, task_queue, worker, tmp_path: Path) -> AsyncIterator[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    async with serve_app(app) as running:
        yield (
            running.base_url,
            store.create_api_key("olivia", "acme", ["operator"])[1],
            store.create_api_key("arthur", "acme", ["approver"])[1],
        )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_js_sdk_drives_a_chat_turn_and_resumes_the_interrupts(api: tuple[str, str, str]) -> None:
    assert (JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk").is_dir(), (
        "the JS SDK is not installed: run `npm ci` in tests/js (.ci/system-deps does)"
    )
    url, operator, approver = api
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / "chat_frontend.mjs"),
        url,
        operator,
        approver,
        json.dumps(GOOD_APPLICATION),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=150)
    assert proc.returncode == 0, err.decode()[-3000:]
    report = json.loads(out)

    tid = report["thread"]["thread_id"]
    assert report["first_events"][0] == "metadata" and report["first_events"][-1] == "end"
    assert "Credit band A" in report["tokens"]
    # The loan waits for a person; the notice follows the decision without one (LP-6.1, stp-loan-notice).
    assert {i["value"]["action_request"]["action"] for i in report["streamed_interrupts"]} == {"approve_loan"}
    assert report["state"]["next"] == ["tools"] and len(report["state"]["interrupts"]) == 1
    assert all(i["value"]["config"]["allow_accept"] for i in report["state"]["interrupts"])
    assert len(report["history"]) == 1 and report["history"][0]["checkpoint"]["thread_id"] == tid
    assert [r["run_id"] for r in report["runs"]] == [report["run_id"]]
    assert report["rejoined_events"][0] == "metadata" and report["rejoined_events"][-1] == "end"
    assert "values" in report["rejoined_events"]
    assert report["rejoined_by_run_id_events"] == report["rejoined_events"]  # GET /runs/{run_id}/stream

    assert report["resumed_events"][-1] == "end"
    assert report["final_values"]["outcome"]["decision"] == "approved"
    assert report["final_state"]["values"]["outcome"]["decided_by"] == "arthur"
    assert report["final_state"]["interrupts"] == []
    assert report["final_history"][0]["checkpoint"]["checkpoint_id"] == report["run_id"]
    assert report["patched"] is None and report["patched_thread"]["metadata"]["reviewed"] == "yes"  # patchState


CHAT_GRAPH = """
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph


async def reply(state: MessagesState) -> dict:
    last = state["messages"][-1]
    return {"messages": [AIMessage(content=f"echo: {last.content} ({len(state['messages'])} so far)")]}


def build_chat():
    g = StateGraph(MessagesState)
    g.add_node("reply", reply)
    g.add_edge(START, "reply")
    g.add_edge("reply", END)
    return g.compile()
"""


@pytest.fixture
async def chat_api(
    client, store, task_queue, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """A user's project (a MessagesState graph, no Steward import) outside the repo, served in this process."""
    from agents.registry import list_assistants, use_project
    from guards.policy import load_policy_engine
    from runtime.settings import Settings
    from runtime.worker import build_worker
    from server.app import create_app
    from server.testing import serve_app

    folder = tmp_path_factory.mktemp("js-chat-project")
    (folder / "chat_graph.py").write_text(CHAT_GRAPH)
    (folder / "langgraph.json").write_text(
        json.dumps({"dependencies": ["."], "graphs": {"chat": "./chat_graph.py:build_chat"}})
    )
    use_project(folder / "langgraph.json")
    try:
        async with build_worker(client, task_queue, store, load_policy_engine(), assistants=list_assistants()):
            app = create_app(Settings(home=folder, task_queue=task_queue), store=store, client=client)
            async with serve_app(app) as running:
                yield running.base_url, store.create_api_key("olivia", "acme", ["operator"])[1]
    finally:
        use_project()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_js_sdk_streams_chat_turns_with_messages_input(chat_api: tuple[str, str]) -> None:
    url, key = chat_api
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / "messages_turn.mjs"),
        url,
        key,
        "chat",
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=150)
    assert proc.returncode == 0, err.decode()[-3000:]
    report = json.loads(out)
    first, second = report["turns"]
    assert first["events"][0] == "metadata" and first["events"][-1] == "end"
    assert [m["content"] for m in first["last_values"]["messages"]] == ["hi", "echo: hi (1 so far)"]
    # The thread carries the conversation: the second turn sees all three earlier messages.
    assert [m["content"] for m in second["last_values"]["messages"]][-2:] == ["again", "echo: again (3 so far)"]
    assert [m["content"] for m in report["state"]["values"]["messages"]][-1] == "echo: again (3 so far)"
    assert len(report["history"]) == 1 and len(report["runs"]) == 2
