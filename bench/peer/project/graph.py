"""The race graphs for bench/peer_bench.py: plain LangGraph, no Steward import, no Steward annotations.

``three``: START -> first -> second -> third -> END. Three nodes that do no I/O, each appending its name.
``ask``: START -> prepare -> ask -> finish -> END. ``ask`` calls ``interrupt()`` once and stores the answer
that ``Command(resume=...)`` hands back.

Both servers (``langgraph dev`` and Steward) load these from the same ``langgraph.json``, with their own
defaults: the benchmark must race the graph a user would write, not one tuned for either server.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    text: str
    trail: Annotated[list[str], operator.add]
    answer: Any


async def first(state: State) -> dict[str, Any]:
    return {"trail": ["first"]}


async def second(state: State) -> dict[str, Any]:
    return {"trail": ["second"]}


async def third(state: State) -> dict[str, Any]:
    return {"trail": ["third"]}


async def prepare(state: State) -> dict[str, Any]:
    return {"trail": ["prepare"]}


async def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": f"go ahead with {state.get('text', '')!r}?"})
    return {"trail": ["ask"], "answer": answer}


async def finish(state: State) -> dict[str, Any]:
    return {"trail": ["finish"]}


def _chain(*nodes: Any) -> StateGraph:
    g = StateGraph(State)
    names = [n.__name__ for n in nodes]
    for n in nodes:
        g.add_node(n.__name__, n)
    for a, b in zip([START, *names], [*names, END], strict=True):
        g.add_edge(a, b)
    return g


three = _chain(first, second, third).compile()
ask_once = _chain(prepare, ask, finish).compile()
