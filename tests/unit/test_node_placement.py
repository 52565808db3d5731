"""Which default nodes run in the workflow (agents.placement): only code that provably reads nothing but its
state. Each case is a node a user could write; a wrong "yes" would put I/O into replayed workflow code."""

from __future__ import annotations

import json
import operator
import time
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agents.placement import inline_reason
from agents.registry import INLINE_MARK, check_graph

LIMIT = 3
NAMES = ("a", "b")


class State(TypedDict, total=False):
    text: str
    trail: Annotated[list[str], operator.add]


def _shout(text: str) -> str:
    return text.upper() + "!" * LIMIT


def _write(text: str) -> None:
    with open("/dev/null", "w") as f:
        f.write(text)


async def pure_async(state: State) -> dict[str, Any]:
    return {"trail": ["first"], "text": _shout(state.get("text", ""))}


def pure_sync(state: State) -> dict[str, Any]:
    words = sorted(w for w in state.get("text", "").split() if len(w) > 1 and w not in NAMES)
    return {"trail": [f"{len(words)} words"], "text": " ".join(words)}


async def asks(state: State) -> dict[str, Any]:
    answer = interrupt({"question": f"go ahead with {state.get('text')!r}?"})
    return {"text": str(answer)}


def routes(state: State) -> Command[Any]:
    return Command(goto=END, update={"trail": ["routed"]})


async def reads_clock(state: State) -> dict[str, Any]:
    return {"text": str(time.time())}


async def dumps(state: State) -> dict[str, Any]:
    return {"text": json.dumps(state)}


def via_helper(state: State) -> dict[str, Any]:
    _write(state.get("text", ""))
    return {}


def with_config(state: State, config: Any) -> dict[str, Any]:
    return {"text": config["configurable"]["thread_id"]}


def imports_inside(state: State) -> dict[str, Any]:
    import os

    return {"text": os.getcwd()}


def uses_a_set(state: State) -> dict[str, Any]:
    return {"trail": list({*state.get("trail", [])})}


def prints(state: State) -> dict[str, Any]:
    print(state)
    return {}


def hashes(state: State) -> dict[str, Any]:
    return {"text": str(hash(state.get("text")))}


def make_model_node(model: Any) -> Any:
    async def call_model(state: State) -> dict[str, Any]:
        return {"text": await model.ainvoke(state["text"])}

    return call_model


def make_constant_node(suffix: str) -> Any:
    def add_suffix(state: State) -> dict[str, Any]:
        return {"text": state.get("text", "") + suffix}

    return add_suffix


def reflects(state: State) -> dict[str, Any]:
    return {"text": state.__class__.__name__}


def test_nodes_that_only_reshape_their_state_may_run_in_the_workflow() -> None:
    for node in (pure_async, pure_sync, asks, routes, make_constant_node("?")):
        assert inline_reason(node) is None, node.__name__


def test_anything_that_can_reach_outside_the_state_stays_an_activity() -> None:
    expected = {
        reads_clock: "module 'time'",
        dumps: "module 'json'",
        via_helper: "builtin 'open'",
        with_config: "takes more than its state",
        imports_inside: "import name",
        uses_a_set: "builds a set",
        prints: "builtin 'print'",
        hashes: "builtin 'hash'",
        make_model_node(object()): "captures 'model'",
        reflects: "attribute '__class__'",
        len: "not a plain function",
    }
    for node, why in expected.items():
        reason = inline_reason(node)
        assert reason is not None and why in reason, (getattr(node, "__name__", node), reason)


def _graph() -> StateGraph[Any, Any, Any, Any]:
    g = StateGraph(State)
    g.add_node("pure", pure_async)
    g.add_node("clock", reads_clock)
    g.add_node("mine", pure_sync, metadata={"execute_in": "activity"})
    g.add_edge(START, "pure")
    g.add_edge("pure", "clock")
    g.add_edge("clock", "mine")
    g.add_edge("mine", END)
    return g


def _mark(g: StateGraph[Any, Any, Any, Any], node: str) -> Any:
    r: Any = g.nodes[node].runnable
    return getattr(r.func or r.afunc, INLINE_MARK, "unmarked")


def test_check_graph_marks_only_default_nodes_it_proved_pure() -> None:
    g = _graph()
    check_graph("t", g)
    assert _mark(g, "pure") is None
    assert "module 'time'" in _mark(g, "clock")
    assert _mark(g, "mine") == "unmarked"  # the node's own execute_in wins: never inlined
    # Every default node keeps its activity registration (a run recorded before inlining replays with it).
    assert all(g.nodes[n].metadata["execute_in"] == "activity" for n in ("pure", "clock", "mine"))  # type: ignore[index]


def test_a_project_can_turn_inlining_off() -> None:
    g = _graph()
    check_graph("t", g, inline_pure=False)
    assert "inline_pure_nodes: false" in _mark(g, "pure")
