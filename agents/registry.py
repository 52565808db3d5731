"""The assistant registry: the assistants of the loaded project file, by name.

Assistants come from a project file (``agents.project``): the repo's own ``langgraph.json`` by default, or the
one the runtime points at with ``use_project`` (``STEWARD_CONFIG`` / ``steward up --config PATH``). A reload
that fails raises and leaves the last good configuration serving.

A graph is built fresh for each consumer (worker plugin, replayer, tests) because the Temporal plugin
mutates the nodes of the graph it is given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from langgraph.graph import StateGraph
from pydantic import BaseModel

from agents.guarded import GUARDED_NODE, is_guarded_node
from agents.project import REPO_PROJECT, LoadedAssistant, Project, StewardSection, guard_profiles, load_project
from guards.points import use_profiles
from tools.registry import project_tools


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
    input_model: type[BaseModel] | None = None
    """Declared pydantic model inputs are validated with (the API refuses bad input naming the field)."""
    prompts_module: str | None = None
    """Declared module of the assistant's prompts (its upper-case string constants; ``*_VERSION`` constants
    are the prompt version)."""
    card: Path | None = None
    modules: tuple[str, ...] = ()
    """Top-level modules of the graph's code, passed through the workflow sandbox by the worker."""


DEFAULT_NODE_OPTIONS: dict[str, Any] = {
    "execute_in": "activity",
    "start_to_close_timeout": timedelta(seconds=60),
}
"""Where a node without Steward metadata runs, and why.

A plain LangGraph node may do anything (HTTP calls, files, a model), so it can never be workflow code, which
must be deterministic and is replayed. It runs as a regular activity rather than a local activity: a local
activity's result is only recorded when the workflow task that ran it completes, and one that runs long holds
that task (and is re-run from scratch when the worker dies mid-way); a regular activity is recorded the moment
it finishes, so a worker killed mid-run never re-runs a finished node. The cost is one server round trip
(≈ 50 ms vs ≈ 20 ms measured here), small beside any node that does real work. Retries come from the worker's
default (``runtime.errors.retry_policy``: a ``UserError`` is never retried); a node that knows better sets its
own ``metadata``."""

_PLACES = ("activity", "workflow")


def check_graph(
    name: str,
    graph: StateGraph[Any, Any, Any, Any],
    node_defaults: dict[str, Any] | None = None,
    inline_pure: bool = True,
) -> None:
    """Give every node a place to run and refuse a graph whose tool calls could bypass the guarded node.

    A node without ``execute_in`` gets ``node_defaults`` (default ``DEFAULT_NODE_OPTIONS``: an activity, as it
    may do I/O). With ``inline_pure``, one whose code provably reads only its state (``agents.placement``) is
    marked to run in the workflow instead; it keeps its activity registration, which runs it only for a run
    started before this placement existed (``runtime.worker.place_inline_nodes``). An unknown place is refused.
    The only workflow-side node that may reach tools is the guarded
    node, and tools themselves refuse to run without the grant its activity issues. Function nodes only, and
    no LangGraph retry policies: the Temporal plugin refuses both, so they are refused here, at load.
    """
    from langgraph._internal._runnable import RunnableCallable

    keys = message_keys(graph)
    for node_name, node in graph.nodes.items():
        if not isinstance(node.runnable, RunnableCallable):
            raise ValueError(
                f"assistant {name!r}: node {node_name!r} is a {type(node.runnable).__name__}; the Temporal plugin "
                "runs function nodes only (wrap a subgraph in a function that invokes it)"
            )
        if isinstance(getattr(node.runnable, "tools_by_name", None), dict):
            raise ValueError(
                f"assistant {name!r}: node {node_name!r} is a ToolNode that was not guarded; serve the graph "
                "through the project file, or call agents.toolnode.adopt_tool_nodes(graph) first"
            )
        if node.retry_policy:
            raise ValueError(
                f"assistant {name!r}: node {node_name!r} sets a LangGraph retry_policy; retries are Temporal's: "
                "put a temporalio RetryPolicy under metadata['retry_policy'] instead"
            )
        meta = node.metadata if node.metadata is not None else {}
        place = meta.get("execute_in")
        if place is None:
            node.metadata = {**(node_defaults or DEFAULT_NODE_OPTIONS), **meta}
            _record_default_node(node.runnable, node_name, keys, inline_pure)
        elif place not in _PLACES:
            raise ValueError(
                f"assistant {name!r}: node {node_name!r} has execute_in={place!r}; expected one of {list(_PLACES)}"
            )
        if node_name == GUARDED_NODE:
            fn = getattr(node.runnable, "afunc", None) or getattr(node.runnable, "func", None)
            if not is_guarded_node(fn):
                raise ValueError(f"assistant {name!r}: node {GUARDED_NODE!r} must be agents.guarded.guarded_tool_node")


def message_keys(graph: StateGraph[Any, Any, Any, Any]) -> tuple[str, ...]:
    """State keys reduced by ``add_messages`` (``MessagesState`` and the like)."""
    from langgraph.graph.message import add_messages

    return tuple(k for k, ch in graph.channels.items() if getattr(ch, "operator", None) is add_messages)


def _as_messages(value: Any) -> Any:
    """Message dicts (LangChain ``model_dump`` shape, or ``{"role", "content"}``) -> message objects."""
    from langchain_core.messages import BaseMessage, convert_to_messages, messages_from_dict

    if not isinstance(value, list):
        return value
    out = []
    for m in value:
        if isinstance(m, dict) and "type" in m and "role" not in m:
            try:
                out.append(messages_from_dict([{"type": m["type"], "data": m}])[0])
                continue
            except (ValueError, KeyError, TypeError):
                pass
        out.append(m if isinstance(m, BaseMessage) else convert_to_messages([m])[0])
    return out


INLINE_MARK = "__steward_inline__"
"""Set (to the reason, or None) on a default node's wrapper: None means it may run in the workflow."""


def _record_default_node(runnable: Any, node_name: str, keys: tuple[str, ...], inline_pure: bool = True) -> None:
    """Wrap a node Steward placed by default so it behaves like one of ours, without touching the user's code.

    - Its start and finish land in the run's event log and node ledger (``node_started`` / ``node_finished``,
      keyed by activity id and attempt, through the same event sink ``agents.context.activity_node`` uses), so
      streams show its updates and a retry after a crash shows as a second attempt.
    - In a graph with ``add_messages`` state it gets message objects, as under ``langgraph dev``: activity nodes
      receive their state as JSON (the Temporal plugin serialises it), so ``state["messages"][-1].content``
      would fail in an unchanged node.
    """
    import functools
    import inspect

    fn = runnable.func or runnable.afunc

    def restore(state: Any) -> Any:
        if keys and isinstance(state, dict) and any(k in state for k in keys):
            return {**state, **{k: _as_messages(state[k]) for k in keys if k in state}}
        return state

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def wrapped_async(state: Any, *args: Any, **kwargs: Any) -> Any:
            with _NodeRecord(node_name) as record:
                return record.done(await fn(restore(state), *args, **kwargs))

        wrapped: Any = wrapped_async
    else:

        @functools.wraps(fn)
        def wrapped_sync(state: Any, *args: Any, **kwargs: Any) -> Any:
            with _NodeRecord(node_name) as record:
                return record.done(fn(restore(state), *args, **kwargs))

        wrapped = wrapped_sync
    from agents.placement import inline_reason

    setattr(wrapped, INLINE_MARK, inline_reason(fn) if inline_pure else "the project sets inline_pure_nodes: false")
    if runnable.func is not None:
        runnable.func = wrapped
    else:
        runnable.afunc = wrapped


class _NodeRecord:
    """Start, finish or failure of one node attempt in the event log (and, for an activity, the node ledger).

    In an activity the events are written at once through the worker's event sink, keyed by activity id and
    attempt. In the workflow (a node ``agents.placement`` inlined) they go to the run's buffer
    (``AgentRunWorkflow.node_events``), which the workflow writes before the next node that is not inlined, at
    an interrupt and with ``run_finished``: in one transaction with the next thing it records anyway, instead
    of one local activity per event. Keys there are the workflow run id and a count of inlined node calls, the
    same on replay. Elsewhere (a graph run outside Steward) it records nothing. The run id is the workflow id
    (``runtime.runs`` starts every run under its own id)."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.on = False
        self.buffer: list[tuple[str, str, dict[str, Any]]] | None = None

    def __enter__(self) -> _NodeRecord:
        from temporalio import activity, workflow

        from agents.context import get_event_sink

        if activity.in_activity():
            info = activity.info()
            self.on, self.sink, self.attempt = True, get_event_sink(), info.attempt
            self.run_id = info.workflow_id or ""
            self.task_key = f"{info.workflow_run_id}:{info.activity_id}"
            self.prefix = f"{self.task_key}:{info.attempt}"
            start = {"node": self.node, "attempt": self.attempt}
            self.sink.node(
                self.run_id,
                self.node,
                self.task_key,
                self.attempt,
                "started",
                (f"{self.prefix}:start", "node_started", start),
            )
        elif workflow.in_workflow() and (recorder := getattr(workflow.instance(), "record_node", None)) is not None:
            self.on, self.attempt = True, 1
            self.buffer, self.prefix = recorder()
            self.buffer.append(
                (f"{self.prefix}:start", "node_started", {"node": self.node, "attempt": 1, "inline": True})
            )
        return self

    def done(self, out: Any) -> Any:
        if self.on:
            keys = sorted(out) if isinstance(out, dict) else []
            data = {"node": self.node, "attempt": self.attempt, "update_keys": keys}
            if self.buffer is not None:
                self.buffer.append((f"{self.prefix}:end", "node_finished", {**data, "inline": True}))
            else:
                self.sink.node(
                    self.run_id,
                    self.node,
                    self.task_key,
                    self.attempt,
                    "completed",
                    (f"{self.prefix}:end", "node_finished", data),
                )
        return out

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        from langgraph.errors import GraphBubbleUp

        # interrupt() raises to pause the graph: a question, not a failure.
        if self.on and isinstance(exc, Exception) and not isinstance(exc, GraphBubbleUp):
            event = (
                f"{self.prefix}:error",
                "node_failed",
                {"node": self.node, "attempt": self.attempt, "error": f"{type(exc).__name__}: {exc}"},
            )
            if self.buffer is not None:
                self.buffer.append(event)
            else:
                self.sink.events(self.run_id, [event])


def node_defaults(section: StewardSection) -> dict[str, Any]:
    """``DEFAULT_NODE_OPTIONS`` with the project's node timeout."""
    return {**DEFAULT_NODE_OPTIONS, "start_to_close_timeout": timedelta(seconds=section.node_timeout_s)}


def prepare_graph(
    name: str, build: Callable[[], StateGraph[Any, Any, Any, Any]], section: StewardSection
) -> Callable[[], StateGraph[Any, Any, Any, Any]]:
    """The user's builder, then Steward's steps on each fresh graph: guard its ToolNodes, place its nodes."""
    tools = {k: v.model_dump(exclude_unset=True) for k, v in section.tools.items()}

    def build_prepared() -> StateGraph[Any, Any, Any, Any]:
        graph = build()
        adopt = _tool_node_adopter()
        if adopt is not None:
            adopt(graph, tools)
        check_graph(name, graph, node_defaults(section), section.inline_pure_nodes)
        return graph

    return build_prepared


def _tool_node_adopter() -> Callable[[Any, dict[str, dict[str, Any]]], None] | None:
    """``agents.toolnode.adopt_tool_nodes`` when that module exists (ToolNode guarding lands separately)."""
    try:
        from agents.toolnode import adopt_tool_nodes  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    fn: Callable[[Any, dict[str, dict[str, Any]]], None] = adopt_tool_nodes
    return fn


def _spec(a: LoadedAssistant, section: StewardSection) -> AssistantSpec:
    from agents.intake import intake_for

    d = a.declaration
    # A structured input also takes a request in plain words (``{"messages": [...]}``): agents.intake.
    build, input_model = intake_for(a.name, d.description, a.build_graph, a.input_model)
    return AssistantSpec(
        name=a.name,
        version=d.version,
        description=d.description,
        build_graph=prepare_graph(a.name, build, section),
        input_schema=a.input_schema,
        subscriptions=dict(d.subscriptions),
        input_model=input_model,
        prompts_module=a.prompts_module,
        card=a.card,
        modules=a.modules,
    )


_LOCK = threading.Lock()
_PROJECT: Project | None = None
_ASSISTANTS: dict[str, AssistantSpec] = {}
_EXTRA: dict[str, AssistantSpec] = {}


def use_project(path: Path | str | None = None) -> Project:
    """Load a project file and serve its assistants; on any error raise ``ProjectError`` and keep serving the
    last good configuration."""

    def check(name: str, graph: Any, section: StewardSection) -> None:
        prepare_graph(name, lambda: graph, section)()

    with project_tools():
        project = load_project(path or REPO_PROJECT, check=check)
    specs = {n: _spec(a, project.section) for n, a in project.assistants.items()}
    global _PROJECT, _ASSISTANTS
    with _LOCK:
        _PROJECT, _ASSISTANTS = project, specs
        use_profiles(guard_profiles(project))  # every process that serves the project guards with its profiles
    return project


def current_project() -> Project:
    if _PROJECT is None:
        use_project()
    assert _PROJECT is not None
    return _PROJECT


def register_assistant(spec: AssistantSpec) -> AssistantSpec:
    """Serve an assistant that is not in the project file (tests, stand-ins); checked like any other."""
    check_graph(spec.name, spec.build_graph())
    _EXTRA[spec.name] = spec
    return spec


def _all() -> dict[str, AssistantSpec]:
    current_project()
    return {**_EXTRA, **_ASSISTANTS}


def get_assistant(name: str) -> AssistantSpec:
    known = _all()
    try:
        return known[name]
    except KeyError:
        raise KeyError(f"assistant {name!r} not found; known: {sorted(known)}") from None


def list_assistants() -> list[AssistantSpec]:
    known = _all()
    return [known[k] for k in sorted(known)]


def subscribers(event_type: str) -> list[AssistantSpec]:
    """Assistants subscribed to a domain event type."""
    return [a for a in list_assistants() if event_type in a.subscriptions]


def event_types() -> list[str]:
    return sorted({t for a in list_assistants() for t in a.subscriptions})
