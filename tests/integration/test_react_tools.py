"""A ReAct agent built on ``ToolNode`` with two langchain ``@tool``s, served from a user's project file: every
tool call goes through Steward's guards and policy with no change to the graph. The low-risk tool runs, the
tool whose risk is declared nowhere stops for approval and runs once after it, a tool the agent was not given is
denied with a message naming its tools, and a direct call of a registered tool from a node is refused.
Real Temporal dev server; once with a scripted chat model, once with the real local model (Gemma 3 270M)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from guards.types import ApprovalDecision, Principal
from runtime import runs
from tests.conftest import pending_approvals, wait_for
from tests.integration import deciding
from tests.integration.test_llm_server import MODEL, ModelServer, start_model_server

pytestmark = pytest.mark.timeout(240)

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])

TOOLS = textwrap.dedent(
    '''
    """The user's tools: plain langchain-core, no Steward import. Each appends to a ledger file so the test
    can count real executions."""

    import os

    from langchain_core.tools import tool


    def _log(entry: str) -> None:
        with open(os.environ["REACT_TOOLS_LEDGER"], "a") as f:
            f.write(entry + "\\n")


    @tool
    def lookup_order(order_id: str) -> dict:
        """Look up an order's status."""
        _log(f"lookup_order:{order_id}")
        return {"order_id": order_id, "status": "delivered", "amount": 42.0}


    @tool
    def refund_order(order_id: str, amount: float) -> str:
        """Refund an order (moves money)."""
        _log(f"refund_order:{order_id}:{amount}")
        return f"refunded {amount} on {order_id}"


    @tool
    def notify_refund(order_id: str) -> str:
        """Tell the customer their order was refunded (presupposes the refund: depends_on in the project)."""
        _log(f"notify_refund:{order_id}")
        return f"customer told about {order_id}"


    lookup_order.metadata = {"risk": "low", "side_effect": False, "owner": "support"}
    TOOLS = [lookup_order, refund_order, notify_refund]
    '''
)

GRAPHS = textwrap.dedent(
    '''
    """Graphs on the same tools: create_react_agent and the hand-built agent -> ToolNode loop with a scripted
    model, the loop with the runtime's model (the real one in the test), and a node that calls a tool
    directly."""

    from typing import Any

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, ToolMessage, convert_to_messages
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, create_react_agent, tools_condition

    from react_tools import TOOLS, lookup_order


    class ScriptedModel(GenericFakeChatModel):
        """First turn: the three calls below; after the tools answered: a summary of what they said."""

        def bind_tools(self, tools: Any, **kw: Any) -> Any:
            return self

        def _generate(self, messages: list, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
            results = [m for m in messages if isinstance(m, ToolMessage)]
            if results:
                text = " | ".join(f"{m.name}:{m.status}:{m.content}" for m in results)
                return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content="", tool_calls=self.calls))])

        calls: list = [
            {"id": "c-lookup", "name": "lookup_order", "args": {"order_id": "O-42"}},
            {"id": "c-refund", "name": "refund_order", "args": {"order_id": "O-42", "amount": 42.0}},
            {"id": "c-wire", "name": "wire_money", "args": {"to": "X", "amount": 1000.0}},
        ]


    class TwoRefunds(ScriptedModel):
        """Two calls that both need a person, in one step."""

        calls: list = [
            {"id": "r-1", "name": "refund_order", "args": {"order_id": "O-1", "amount": 1.0}},
            {"id": "r-2", "name": "refund_order", "args": {"order_id": "O-2", "amount": 2.0}},
        ]


    class RefundAndNotify(ScriptedModel):
        """The notice proposed in the same step as the refund it presupposes."""

        calls: list = [
            {"id": "n-1", "name": "notify_refund", "args": {"order_id": "O-7"}},
            {"id": "r-7", "name": "refund_order", "args": {"order_id": "O-7", "amount": 7.0}},
        ]


    react = create_react_agent(ScriptedModel(messages=iter(())), TOOLS)
    react_refund_notify = create_react_agent(RefundAndNotify(messages=iter(())), TOOLS)


    async def refund_notify_agent(state: MessagesState) -> dict:
        return {"messages": [await RefundAndNotify(messages=iter(())).ainvoke(state["messages"])]}


    async def scripted_agent(state: MessagesState) -> dict:
        return {"messages": [await ScriptedModel(messages=iter(())).ainvoke(state["messages"])]}


    async def two_refunds_agent(state: MessagesState) -> dict:
        return {"messages": [await TwoRefunds(messages=iter(())).ainvoke(state["messages"])]}


    async def model_agent(state: MessagesState) -> dict:
        from agents.context import get_chat_model  # the runtime's model (the real local one in the test)

        model = get_chat_model()
        messages = convert_to_messages(state["messages"])  # an activity node may get them as dicts
        answered = any(isinstance(m, ToolMessage) for m in messages)
        if answered:  # no tools the second time: the model explains in words
            return {"messages": [await model.bind(max_tokens=32).ainvoke(messages)]}
        bound = model.bind_tools(TOOLS, tool_choice="refund_order", max_tokens=48)
        return {"messages": [await bound.ainvoke(messages)]}


    def _loop(agent: Any) -> StateGraph:
        """The ReAct loop as the LangGraph docs build it: agent -> (tools_condition) -> ToolNode -> agent."""
        g = StateGraph(MessagesState)
        g.add_node("agent", agent)
        g.add_node("tools", ToolNode(TOOLS))
        g.add_edge(START, "agent")
        g.add_conditional_edges("agent", tools_condition)
        g.add_edge("tools", "agent")
        return g


    def build_scripted() -> StateGraph:
        return _loop(scripted_agent)


    def build_two_refunds() -> StateGraph:
        return _loop(two_refunds_agent)


    def build_refund_notify() -> StateGraph:
        return _loop(refund_notify_agent)


    def build_model_loop() -> StateGraph:
        return _loop(model_agent)


    async def direct(state: MessagesState) -> dict:
        out = await lookup_order.ainvoke({"order_id": "O-1"})
        return {"messages": [AIMessage(content=str(out))]}


    def build_direct() -> StateGraph:
        g = StateGraph(MessagesState)
        g.add_node("direct", direct)
        g.add_edge(START, "direct")
        g.add_edge("direct", END)
        return g
    '''
)


def write_project(folder: Path) -> Path:
    (folder / "react_tools.py").write_text(TOOLS)
    (folder / "react_graphs.py").write_text(GRAPHS)
    project = {
        "dependencies": ["."],
        "graphs": {
            "react_support": "./react_graphs.py:build_scripted",
            "react_prebuilt": "./react_graphs.py:react",
            "loop_support": "./react_graphs.py:build_model_loop",
            "direct_support": "./react_graphs.py:build_direct",
            "two_refunds": "./react_graphs.py:build_two_refunds",
            "refund_notify": "./react_graphs.py:build_refund_notify",
            "refund_notify_prebuilt": "./react_graphs.py:react_refund_notify",
        },
        "steward": {
            "tools": {
                "lookup_order": {"risk": "low", "owner": "support-team", "version": "3"},
                "notify_refund": {"risk": "low", "depends_on": ["refund_order"]},
            }
        },
    }
    path = folder / "langgraph.json"
    path.write_text(json.dumps(project, indent=2))
    return path


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tools.ledger"
    monkeypatch.setenv("REACT_TOOLS_LEDGER", str(path))
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user project served in this process; the repo's own project is restored after."""
    from agents.registry import use_project

    path = write_project(tmp_path_factory.mktemp("react-project"))
    use_project(path)
    yield path
    use_project()


@pytest.fixture
async def react_worker(project: Path, client, store, task_queue) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    from agents.registry import list_assistants
    from guards.policy import load_policy_engine
    from runtime.worker import build_worker

    async with build_worker(client, task_queue, store, load_policy_engine(), assistants=list_assistants()) as w:
        yield w


def executions(ledger: Path) -> list[str]:
    return ledger.read_text().split() if ledger.exists() else []


def tool_messages(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ToolMessages of a final state, by tool name (messages arrive as objects or their dict dumps)."""
    out = {}
    for m in state["messages"]:
        d = m if isinstance(m, dict) else m.model_dump()
        if d.get("type") == "tool":
            out[d["name"]] = d
    return out


@pytest.mark.parametrize("assistant", ["react_support", "react_prebuilt"])
async def test_react_agent_tools_are_guarded(
    assistant: str, client, store, task_queue, react_worker, ledger: Path
) -> None:
    """``react_support``: the hand-built loop (tools_condition, one ToolNode call for the whole step);
    ``react_prebuilt``: ``create_react_agent`` (one ``Send`` task per tool call)."""
    from tools.registry import get_tool

    handle = await runs.start_run(
        client,
        store,
        task_queue,
        assistant,
        {"messages": [{"role": "user", "content": "refund O-42"}]},
        REQUESTER,
    )
    [approval] = await pending_approvals(store, handle.id, 1)
    # The refund's risk is declared nowhere: high, so a person must approve; the low-risk lookup already ran.
    assert approval["tool"] == "refund_order" and approval["args"] == {"order_id": "O-42", "amount": 42.0}
    assert executions(ledger) == ["lookup_order:O-42"]
    spec = get_tool("refund_order")
    assert (spec.risk, spec.risk_from) == ("high", "default")
    lookup = get_tool("lookup_order")
    assert (lookup.risk, lookup.risk_from, lookup.owner, lookup.version) == ("low", "project", "support-team", "3")

    await deciding.decide(
        client, store, ApprovalDecision(approval_id=approval["approval_id"], action="approve", principal=APPROVER)
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "success"
    assert executions(ledger) == ["lookup_order:O-42", "refund_order:O-42:42.0"]  # each exactly once

    msgs = tool_messages(result.state)
    assert msgs["lookup_order"]["status"] == "success" and '"delivered"' in msgs["lookup_order"]["content"]
    assert msgs["refund_order"]["status"] == "success"
    assert msgs["refund_order"]["content"] == "refunded 42.0 on O-42"
    wire = msgs["wire_money"]
    assert wire["status"] == "error" and wire["tool_call_id"] == "c-wire"
    assert "not one of this agent's tools" in wire["content"]
    assert "lookup_order" in wire["content"] and "refund_order" in wire["content"]
    final = result.state["messages"][-1]
    final_text = final["content"] if isinstance(final, dict) else final.content
    assert "refund_order:success:refunded 42.0 on O-42" in final_text

    done = {r["tool"]: r for r in store.tool_executions(handle.id)}
    assert set(done) == {"lookup_order", "refund_order"}
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in done.values())
    assert done["refund_order"]["approval_id"] == approval["approval_id"]
    actions = [r["action"] for r in store.audit_records(run_id=handle.id)]
    assert actions.count("tool.executed") == 2 and actions.count("approval.approved") == 1
    denied = [
        e["data"]
        for e in store.events_after(handle.id)
        if e["type"] == "policy_decision" and e["data"]["tool"] == "wire_money"
    ]
    assert denied and denied[0]["effect"] == "deny"


async def test_rejected_tool_never_runs_and_the_model_hears_why(
    client, store, task_queue, react_worker, ledger: Path
) -> None:
    handle = await runs.start_run(
        client,
        store,
        task_queue,
        "react_support",
        {"messages": [{"role": "user", "content": "refund O-42"}]},
        REQUESTER,
    )
    [approval] = await pending_approvals(store, handle.id, 1)
    await deciding.decide(
        client,
        store,
        ApprovalDecision(
            approval_id=approval["approval_id"], action="reject", principal=APPROVER, comment="already refunded"
        ),
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert executions(ledger) == ["lookup_order:O-42"]
    refund = tool_messages(result.state)["refund_order"]
    assert refund["status"] == "error" and "already refunded" in refund["content"] and "bob" in refund["content"]


async def test_a_tool_called_directly_from_a_node_is_refused(
    client, store, task_queue, react_worker, ledger: Path
) -> None:
    handle = await runs.start_run(
        client, store, task_queue, "direct_support", {"messages": [{"role": "user", "content": "hi"}]}, REQUESTER
    )
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the workflow failure wraps the node's error
        await asyncio.wait_for(handle.result(), 60)
    assert "runs only through the guarded tool node" in str(failed.value.__cause__ or failed.value)
    assert executions(ledger) == []


async def test_two_approvals_in_one_step_each_run_once_and_replay(
    client, store, task_queue, react_worker, ledger: Path
) -> None:
    """Calls that reach one ToolNode invocation wait one after the other (one pending interrupt per task);
    each gets its own approval, runs once, and the history replays without divergence."""
    from agents.registry import list_assistants
    from runtime.worker import build_replayer

    handle = await runs.start_run(
        client, store, task_queue, "two_refunds", {"messages": [{"role": "user", "content": "two refunds"}]}, REQUESTER
    )
    seen: list[str] = []
    for expected in ("O-1", "O-2"):
        rows = await pending_approvals(store, handle.id, 1)
        [row] = [r for r in rows if r["approval_id"] not in seen]
        assert row["args"]["order_id"] == expected
        seen.append(row["approval_id"])
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=APPROVER)
        )
        if expected == "O-1":
            await wait_for(lambda: len(store.list_approvals(run_id=handle.id)) == 2)
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "success"
    assert executions(ledger) == ["refund_order:O-1:1.0", "refund_order:O-2:2.0"]
    assert all(r["attempts"] == 1 for r in store.tool_executions(handle.id))
    replay = await build_replayer(list_assistants()).replay_workflow(await handle.fetch_history())
    assert replay.replay_failure is None


@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_a_notice_declared_dependent_runs_only_after_its_refund_ran(
    action: str, client, store, task_queue, react_worker, ledger: Path
) -> None:
    """One ToolNode step proposes the notice before the refund it presupposes (``depends_on`` in the project
    file): the refund waits for a person, the notice (low risk, no approval) runs only after the refund ran,
    and is dropped, with the model told why, when the refund was rejected."""
    handle = await runs.start_run(
        client, store, task_queue, "refund_notify", {"messages": [{"role": "user", "content": "refund O-7"}]}, REQUESTER
    )
    [approval] = await pending_approvals(store, handle.id, 1)
    assert approval["tool"] == "refund_order"
    assert executions(ledger) == []  # the notice did not run beside the refund that waits
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=approval["approval_id"], action=action, principal=APPROVER)
    )
    result = await asyncio.wait_for(handle.result(), 60)
    msgs = tool_messages(result.state)
    if action == "approve":
        assert executions(ledger) == ["refund_order:O-7:7.0", "notify_refund:O-7"]
        assert msgs["notify_refund"]["status"] == "success"
    else:
        assert executions(ledger) == []
        notice = msgs["notify_refund"]
        assert notice["status"] == "error" and "did not run" in notice["content"]
        assert "refund_order" in notice["content"]
        dropped = [e["data"] for e in store.events_after(handle.id) if e["type"] == "tool_call_dropped"]
        assert [d["tool"] for d in dropped] == ["notify_refund"]


async def test_a_dependent_notice_fanned_out_beside_its_refund_is_dropped(
    client, store, task_queue, react_worker, ledger: Path
) -> None:
    """``create_react_agent`` sends each call as its own task, and parallel tasks cannot wait for each other:
    the notice is dropped and the model asked to propose it again once the refund ran; the refund still waits
    for its person and runs once."""
    handle = await runs.start_run(
        client,
        store,
        task_queue,
        "refund_notify_prebuilt",
        {"messages": [{"role": "user", "content": "refund O-7"}]},
        REQUESTER,
    )
    [approval] = await pending_approvals(store, handle.id, 1)
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=approval["approval_id"], action="approve", principal=APPROVER)
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert executions(ledger) == ["refund_order:O-7:7.0"]
    notice = tool_messages(result.state)["notify_refund"]
    assert notice["status"] == "error" and "propose it again once refund_order has run" in notice["content"]


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    from agents.context import set_chat_model_factory
    from runtime.llm.breaker import reset_breakers
    from runtime.llm.chat_model import StewardChatModel

    home = tmp_path_factory.mktemp("llm-home")
    server = start_model_server(home, home / "server.log")
    reset_breakers()
    set_chat_model_factory(lambda: StewardChatModel(base_url=server.base_url, model=MODEL, timeout_s=60))
    yield server
    set_chat_model_factory(None)
    reset_breakers()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()


async def test_real_model_tool_call_goes_through_approval(
    client, store, task_queue, react_worker, ledger: Path, model_server: ModelServer
) -> None:
    """The real model proposes the call (forced to the refund tool: a 270M model chooses tools poorly); what it
    proposes is checked, waits for a person, and runs once."""
    handle = await runs.start_run(
        client,
        store,
        task_queue,
        "loop_support",
        {"messages": [{"role": "user", "content": "Please refund order O-7 for 12.5 dollars."}]},
        REQUESTER,
    )
    [approval] = await pending_approvals(store, handle.id, 1, timeout=120)
    assert approval["tool"] == "refund_order"
    assert set(approval["args"]) == {"order_id", "amount"}  # schema-checked before anyone was asked
    assert executions(ledger) == []
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=approval["approval_id"], action="approve", principal=APPROVER)
    )
    result = await asyncio.wait_for(handle.result(), 150)
    assert result.status == "success"
    ran = executions(ledger)
    assert len(ran) == 1 and ran[0].startswith("refund_order:")
    refund = tool_messages(result.state)["refund_order"]
    assert refund["status"] == "success" and refund["content"].startswith("refunded ")
    [row] = store.tool_executions(handle.id)
    assert row["attempts"] == 1 and row["approval_id"] == approval["approval_id"]
