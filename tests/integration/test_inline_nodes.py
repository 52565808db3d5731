"""Default nodes that provably read only their state run in the workflow (agents.placement), on a real Temporal
dev server: no activity is scheduled for them, their events land in the run's log in the order the nodes ran
(also around a node that stays an activity), every history replays, and a run started before inlining (its
pure nodes were activities) keeps them activities on a worker that inlines them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from guards.types import Principal
from runtime import runs

pytestmark = pytest.mark.timeout(180)

REQUESTER = Principal(id="olivia", roles=["operator"], tenant="acme")

GRAPHS = textwrap.dedent(
    '''
    """A user's graphs, plain LangGraph: pure nodes around one that writes a file (so it must stay an activity)."""

    import operator
    from typing import Annotated, Any, TypedDict

    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt


    class State(TypedDict, total=False):
        ledger: str
        trail: Annotated[list[str], operator.add]
        answer: Any
        note: str


    async def first(state: State) -> dict:
        return {"trail": ["first"]}


    def touch(state: State) -> dict:
        with open(state["ledger"], "a") as f:
            f.write("touch\\n")
        return {"trail": ["touch"]}


    async def last(state: State) -> dict:
        return {"trail": ["last"]}


    async def ask(state: State) -> dict:
        return {"trail": ["ask"], "answer": interrupt({"question": "which?"})}


    def build(*names: str) -> StateGraph:
        nodes = {"first": first, "touch": touch, "last": last, "ask": ask}
        g = StateGraph(State)
        for n in names:
            g.add_node(n, nodes[n])
        for a, b in zip([START, *names], [*names, END]):
            g.add_edge(a, b)
        return g


    def mixed() -> StateGraph:
        return build("first", "touch", "last")


    def asking() -> StateGraph:
        return build("first", "ask", "last")


    def asking_wf() -> StateGraph:
        g = build("first", "ask", "last")
        for n in g.nodes.values():
            n.metadata = {"execute_in": "workflow"}
        return g
    '''
)


def write_project(folder: Path, inline: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inline_graphs.py").write_text(GRAPHS)
    doc = {
        "dependencies": ["."],
        "graphs": {
            "mixed": "./inline_graphs.py:mixed",
            "asking": "./inline_graphs.py:asking",
            "asking_wf": "./inline_graphs.py:asking_wf",
        },
        "steward": {"inline_pure_nodes": inline},
    }
    path = folder / ("langgraph.json" if inline else "activities.json")
    path.write_text(json.dumps(doc))
    return path


MIXED_LOG = [
    ("run_started", ""),
    ("node_started", "first"),
    ("node_finished", "first"),
    ("node_started", "touch"),
    ("node_finished", "touch"),
    ("node_started", "last"),
    ("node_finished", "last"),
    ("run_finished", ""),
]
"""The event log of a ``mixed`` run (first, touch, last), in the order the nodes ran."""


def node_events(store: Any, run_id: str) -> list[tuple[str, str]]:
    return [
        (e["type"], e["data"].get("node", ""))
        for e in store.events_after(run_id, 0)
        if e["type"] in ("run_started", "node_started", "node_finished", "interrupt", "run_finished")
    ]


def scheduled_activities(history: Any) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def run_mixed(client: Any, store: Any, task_queue: str, book: Path) -> Any:
    from agents.registry import list_assistants
    from guards.policy import load_policy_engine
    from runtime.worker import build_worker

    async with build_worker(client, task_queue, store, load_policy_engine(), assistants=list_assistants()):
        handle = await runs.start_run(client, store, task_queue, "mixed", {"ledger": str(book)}, REQUESTER)
        result = await handle.result()
        return handle, result, await handle.fetch_history()


async def test_pure_nodes_run_in_the_workflow_and_log_in_order(client, store, task_queue, tmp_path: Path) -> None:
    from agents.registry import list_assistants, use_project
    from runtime.worker import build_replayer

    use_project(write_project(tmp_path / "project", inline=True))
    try:
        handle, result, history = await run_mixed(client, store, task_queue, tmp_path / "book")
        assert result.status == "success" and result.state["trail"] == ["first", "touch", "last"]
        # Only the node that writes a file was an activity; the pure ones ran in the workflow.
        assert scheduled_activities(history) == ["mixed.touch"]
        assert node_events(store, handle.id) == MIXED_LOG
        await build_replayer(list_assistants()).replay_workflow(history)
    finally:
        use_project()


@pytest.mark.parametrize(
    ("graph", "inline", "activities"),
    [
        ("asking", True, []),
        ("asking", False, ["asking.first", "asking.ask", "asking.ask", "asking.last"]),
        ("asking_wf", True, []),
    ],
)
async def test_a_question_from_a_workflow_side_node_is_answered_and_replays(
    client, store, task_queue, tmp_path: Path, graph: str, inline: bool, activities: list[str]
) -> None:
    """The question's id is the run's own, so the recorded answer finds it again when the run is rebuilt:
    a query on the finished run replays its whole history, and so does the replayer. (LangGraph's own interrupt
    ids change on every replay of a workflow-side node: answered runs failed both with "Missing associated
    machine for LocalActivity".)"""
    from agents.registry import list_assistants, use_project
    from guards.policy import load_policy_engine
    from runtime.interrupts import ANSWER_UPDATE, AnswerInterruptsInput
    from runtime.worker import build_replayer, build_worker
    from tests.conftest import wait_for

    use_project(write_project(tmp_path / "project", inline=inline))
    try:
        async with build_worker(client, task_queue, store, load_policy_engine(), assistants=list_assistants()):
            handle = await runs.start_run(client, store, task_queue, graph, {"ledger": "-"}, REQUESTER)
            await wait_for(lambda: (store.get_run(handle.id) or {}).get("status") == "interrupted", timeout=30)
            if graph == "asking":
                # The events of the nodes before the question are in the log while the run waits.
                assert node_events(store, handle.id)[-3:] == [
                    ("node_finished", "first"),
                    ("node_started", "ask"),
                    ("interrupt", ""),
                ]
            (question,) = await handle.query("pending_interrupts")
            await handle.execute_update(
                ANSWER_UPDATE,
                AnswerInterruptsInput(answers={question["id"]: "b"}, principal={"id": "olivia", "tenant": "acme"}),
            )
            result = await handle.result()
            history = await handle.fetch_history()
            assert await handle.query("status") == "success"  # a finished run's query replays it all
        assert result.state["answer"] == "b" and result.state["trail"] == ["first", "ask", "last"]
        assert scheduled_activities(history) == activities
        await build_replayer(list_assistants()).replay_workflow(history)
    finally:
        use_project()


async def test_a_run_started_before_inlining_replays_its_nodes_as_activities(
    client, store, task_queue, tmp_path: Path
) -> None:
    """A run started by an older Steward has no ``inline_nodes`` in its input: its nodes stay activities, live
    and on replay, on a worker that inlines them for new runs."""
    from agents.registry import list_assistants, use_project
    from guards.policy import load_policy_engine
    from runtime.client import data_converter
    from runtime.worker import build_replayer, build_worker
    from runtime.workflow import WORKFLOW_NAME, AgentRunInput, AgentRunResult

    old_input = AgentRunInput(
        run_id="run-old-" + task_queue,
        thread_id="thread-old-" + task_queue,
        assistant_id="mixed",
        input={"ledger": str(tmp_path / "book")},
        requester=REQUESTER.model_dump(),
        tenant=REQUESTER.tenant,
    )
    # What an older API sent: the same input without the field.
    (payload,) = data_converter.payload_converter.to_payloads([old_input])
    doc = json.loads(payload.data)
    del doc["inline_nodes"]
    payload.data = json.dumps(doc).encode()
    (decoded,) = data_converter.payload_converter.from_payloads([payload], [AgentRunInput])
    assert decoded.inline_nodes is False
    use_project(write_project(tmp_path / "project", inline=True))
    try:
        async with build_worker(client, task_queue, store, load_policy_engine(), assistants=list_assistants()):
            handle = await client.start_workflow(
                WORKFLOW_NAME, decoded, id=decoded.run_id, task_queue=task_queue, result_type=AgentRunResult
            )
            result = await handle.result()
            history = await handle.fetch_history()
        assert result.state["trail"] == ["first", "touch", "last"]
        assert scheduled_activities(history) == ["mixed.first", "mixed.touch", "mixed.last"]
        await build_replayer(list_assistants()).replay_workflow(history)
    finally:
        use_project()
