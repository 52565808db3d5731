"""A one-node assistant that decides from a ruleset, for the mutation check's own test.

``START -> decide -> END``: ``decide`` evaluates the ``probe_band`` ruleset (read from ``tools.rules``'s
directory at run time, as the reference agents read theirs) on the input's score and returns the band as the
decision. Nodes are module-level functions: the Temporal LangGraph plugin imports them by name.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.context import ACTIVITY_NODE, RunContext, activity_node
from agents.registry import AssistantSpec

RULESET = "probe_band"
RULES = """\
ruleset: probe_band
version: "1"
description: Bands for the mutation check's test (a stand-in for a handbook's banding table).
mode: first
facts:
  score: float
outcomes: [S, A, B, C]
default_outcome: C
rules:
  - id: PROBE-S
    when: score >= 900
    outcome: S
    reason: exceptional (no suite case sits at this threshold, so moving it must survive)
  - id: PROBE-A
    when: score >= 700 and score != 0.5
    outcome: A
    reason: band A
  - id: PROBE-B
    when: 600 <= score
    outcome: B
    reason: band B
"""


class ProbeState(TypedDict, total=False):
    score: float
    outcome: dict[str, Any]


@activity_node("decide")
async def decide(state: ProbeState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from tools.rules import load_ruleset

    verdict = load_ruleset(RULESET).evaluate({"score": state.get("score")})
    return {
        "outcome": {"decision": verdict.outcome, "decided_by": "rules", "basis": {"rules_fired": verdict.fired_ids}}
    }


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(ProbeState, context_schema=RunContext)
    g.add_node("decide", decide, metadata=dict(ACTIVITY_NODE))
    g.add_edge(START, "decide")
    g.add_edge("decide", END)
    return g


PROBE = AssistantSpec("mutation_probe", "0", "decides a band from the probe_band ruleset (tests)", build_graph, {})
