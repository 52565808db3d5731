"""Project commands: ``steward new NAME`` scaffolds a LangGraph project Steward serves, outside the package.

The scaffold is a plain LangGraph project (``langgraph dev`` runs it too): its graph file imports no Steward
module. Steward's part is data: the ``steward`` section of ``langgraph.json`` (version, input schema, tool risk,
policy file), a policy rule file, an eval suite and a test.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from runtime.cli._common import _fail

_GRAPH = '''"""{name}: START -> intake -> classify -> tools -> respond -> END. Plain LangGraph: no Steward import.

``classify`` picks a team by keyword and asks for the order it is about with a tool call it builds itself (no
model needed); ``tools`` is LangGraph's ``ToolNode``, which Steward runs with every call going through its guards
and policy (``lookup_order`` is low risk and read-only, so the policy lets it run). Every node here may do I/O;
Steward runs each as a Temporal activity (retried, never re-run once finished).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode


class State(TypedDict, total=False):
    request: str
    text: str
    category: str
    order: dict
    reply: str
    outcome: dict
    messages: Annotated[list[AnyMessage], add_messages]


@tool
def lookup_order(order_id: str) -> dict:
    """Look up an order's status by id ("latest": the customer's most recent order). Read-only."""
    return {{"order_id": order_id, "status": "shipped"}}


# Risk for Steward's policy, read from the tool's own metadata (langgraph.json may declare it too).
lookup_order.metadata = {{"risk": "low", "side_effect": False, "owner": "{name}", "version": "1"}}

KEYWORDS = {{"refund": "billing", "invoice": "billing", "broken": "support", "order": "orders"}}
ORDER_ID = re.compile(r"\\b(?:order|#)\\s*#?(\\d+)")


async def intake(state: State) -> dict:
    return {{"text": " ".join(state.get("request", "").split()).lower()}}


async def classify(state: State) -> dict:
    text = state.get("text", "")
    category = next((c for word, c in KEYWORDS.items() if word in text), "general")
    found = ORDER_ID.search(text)
    call = {{"name": "lookup_order", "args": {{"order_id": found.group(1) if found else "latest"}}, "id": "lookup-1"}}
    return {{"category": category, "messages": [AIMessage(content="", tool_calls=[call])]}}


async def respond(state: State) -> dict:
    category = state.get("category", "general")
    results = [m for m in state.get("messages", []) if isinstance(m, ToolMessage) and m.name == "lookup_order"]
    try:
        order = json.loads(results[-1].content) if results else {{}}
    except (TypeError, ValueError):
        order = {{"raw": str(results[-1].content)}}
    reply = f"Routed to {{category}}."
    return {{"order": order, "reply": reply, "outcome": {{"category": category, "reply": reply}}}}


def build_graph() -> StateGraph:
    g = StateGraph(State)
    g.add_node("intake", intake)
    g.add_node("classify", classify)
    g.add_node("tools", ToolNode([lookup_order]))
    g.add_node("respond", respond)
    g.add_edge(START, "intake")
    g.add_edge("intake", "classify")
    g.add_edge("classify", "tools")
    g.add_edge("tools", "respond")
    g.add_edge("respond", END)
    return g


graph = build_graph().compile()
'''

_POLICY = """# {name} policy: the first rule whose `when` (CEL) is true decides; no match = deny.
version: "1"
description: Read-only tools run; side effects wait for an approver.
rules:
  - id: side-effects-need-approval
    when: tool.side_effect || tool.risk == 'high'
    effect: require_approval
    required_role: approver
    reason: side-effecting or high-risk action needs human approval
    deadline_s: 3600
    on_timeout: reject
  - id: default-allow
    when: "true"
    effect: allow
    reason: low-risk, read-only tool
"""

_CASES = [
    ("refund", "I want a refund for my last invoice", "billing"),
    ("broken", "My device arrived broken", "support"),
    ("hello", "Hello there", "general"),
]

_TEST = '''"""{name}'s graph with plain LangGraph (no Steward needed): the three eval cases route as expected."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from graph import graph  # noqa: E402

CASES = [json.loads(line) for line in (HERE / "evals" / "{name}.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_routes_as_expected(case: dict) -> None:
    result = asyncio.run(graph.ainvoke(case["input"]))
    assert result["outcome"]["category"] == case["expected"]["outcome"]["category"]
    assert result["order"]["status"] == "shipped"  # the tool ran through the graph's ToolNode
'''


def scaffold(name: str, parent: Path) -> Path:
    """Write the project folder ``parent/name``; refuses a name that is not an identifier or an existing
    folder (nothing is overwritten)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"NAME: {name!r} must be a Python identifier (letters, digits, underscores)")
    root = (parent / name).resolve()
    if root.exists():
        raise ValueError(f"NAME: {root} already exists; choose another name or remove it")
    package = Path(__file__).resolve().parents[1]
    if root.is_relative_to(package):
        raise ValueError(f"NAME: {root} is inside the Steward package; create projects outside it")
    (root / "evals").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "graph.py").write_text(_GRAPH.format(name=name))
    (root / "policy.yaml").write_text(_POLICY.format(name=name))
    (root / "evals" / f"{name}.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "id": cid,
                    "description": f"{request!r} routes to {category}",
                    "input": {"request": request},
                    "expected": {"outcome": {"category": category}, "guard_blocks": []},
                }
            )
            + "\n"
            for cid, request, category in _CASES
        )
    )
    (root / "tests" / f"test_{name}.py").write_text(_TEST.format(name=name))
    project: dict[str, Any] = {
        "dependencies": ["."],
        "graphs": {name: "./graph.py:build_graph"},
        "env": {},
        "steward": {
            "assistants": {
                name: {
                    "version": "0.1.0",
                    "description": f"{name}: routes a request to a team (scaffolded by `steward new`).",
                    "input_schema": {
                        "type": "object",
                        "properties": {"request": {"type": "string", "maxLength": 2000}},
                        "required": ["request"],
                    },
                }
            },
            "tools": {"lookup_order": {"risk": "low", "side_effect": False, "owner": name, "version": "1"}},
            "policy": "./policy.yaml",
        },
    }
    (root / "langgraph.json").write_text(json.dumps(project, indent=2) + "\n")
    return root


def apply_config() -> int | None:
    """Load the project file the settings name (``STEWARD_CONFIG``); on a broken one, the exit code."""
    from agents.project import ProjectError
    from agents.registry import use_project
    from runtime.settings import Settings

    config = Settings().config  # read now: the environment is what this command was started with
    if config is None:
        return None
    try:
        use_project(config)
    except ProjectError as exc:
        return _fail(str(exc))
    return None


def cmd_new(args: argparse.Namespace) -> int:
    try:
        root = scaffold(args.name, Path(args.dir))
    except ValueError as exc:
        return _fail(str(exc))
    print(f"created {root}")
    print(f"  serve it:    steward up --config {root / 'langgraph.json'}")
    print(f"  test it:     pytest {root / 'tests'}")
    print(f"  evaluate it: steward eval run {root / 'evals' / (args.name + '.jsonl')} --assistant {args.name}")
    return 0


def register(sub: Any) -> None:
    new = sub.add_parser("new", help="scaffold a LangGraph project Steward serves (outside the Steward package)")
    new.add_argument("name", help="project and assistant name (a Python identifier)")
    new.add_argument("--dir", default=".", help="parent folder (default: the current one)")
    new.set_defaults(fn=cmd_new)
