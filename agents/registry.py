"""The assistant registry: name -> graph builder, version, description.

A graph is built fresh for each consumer (worker plugin, replayer, tests) because the Temporal plugin
mutates the nodes of the graph it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph import StateGraph

from agents.guarded import GUARDED_NODE, is_guarded_node


@dataclass(frozen=True)
class AssistantSpec:
    name: str
    version: str
    description: str
    build_graph: Callable[[], StateGraph[Any, Any, Any, Any]]
    input_schema: dict[str, Any]
    subscriptions: dict[str, str] = field(default_factory=dict)
    """Domain events that start this assistant: event type -> the input field the event's data goes into
    (``{"loan.application.received": "application"}``), the event-driven path of ``POST /events``."""


def check_graph(name: str, graph: StateGraph[Any, Any, Any, Any]) -> None:
    """Refuse a graph whose tool calls could bypass the guarded node.

    Every node must declare where it runs; the only workflow-side node that may reach tools is the guarded
    node, and tools themselves refuse to run without the grant its activity issues.
    """
    for node_name, node in graph.nodes.items():
        if isinstance(getattr(node.runnable, "tools_by_name", None), dict):
            raise ValueError(
                f"assistant {name!r}: node {node_name!r} is a ToolNode that was not guarded; serve the graph "
                "through the project file, or call agents.toolnode.adopt_tool_nodes(graph) first"
            )
        meta = node.metadata or {}
        if meta.get("execute_in") not in ("activity", "workflow"):
            raise ValueError(f"assistant {name!r}: node {node_name!r} must set metadata execute_in")
        if node_name == GUARDED_NODE:
            fn = getattr(node.runnable, "afunc", None) or getattr(node.runnable, "func", None)
            if not is_guarded_node(fn):
                raise ValueError(f"assistant {name!r}: node {GUARDED_NODE!r} must be agents.guarded.guarded_tool_node")


_ASSISTANTS: dict[str, AssistantSpec] = {}


def register_assistant(spec: AssistantSpec) -> AssistantSpec:
    check_graph(spec.name, spec.build_graph())
    _ASSISTANTS[spec.name] = spec
    return spec


def get_assistant(name: str) -> AssistantSpec:
    _load_builtin()
    try:
        return _ASSISTANTS[name]
    except KeyError:
        raise KeyError(f"assistant {name!r} not found; known: {sorted(_ASSISTANTS)}") from None


def list_assistants() -> list[AssistantSpec]:
    _load_builtin()
    return [_ASSISTANTS[k] for k in sorted(_ASSISTANTS)]


BUILTIN = ("loan_triage", "kyc_review", "claims")


def _load_builtin() -> None:
    import importlib

    for name in BUILTIN:
        if name not in _ASSISTANTS:
            register_assistant(importlib.import_module(f"agents.{name}.graph").SPEC)


def subscribers(event_type: str) -> list[AssistantSpec]:
    """Assistants subscribed to a domain event type."""
    return [a for a in list_assistants() if event_type in a.subscriptions]


def event_types() -> list[str]:
    return sorted({t for a in list_assistants() for t in a.subscriptions})
