"""The run context every node receives (LangGraph ``Runtime.context``), and the event sink agents write to.

Agents must not import the runtime (imports point server -> runtime -> agents), so the runtime injects the
sink that activity-side nodes use to append events and ledger rows to the app store.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypedDict

from langgraph.runtime import Runtime
from temporalio.common import RetryPolicy


class RunContext(TypedDict):
    """Serializable: it crosses the activity boundary with every node call."""

    run_id: str
    thread_id: str
    tenant: str
    assistant_id: str
    requester: dict[str, Any]
    consent: dict[str, bool]


class EventSink(Protocol):
    def events(self, run_id: str, events: list[tuple[str, str, dict[str, Any]]]) -> None: ...

    def node(
        self,
        run_id: str,
        node: str,
        task_key: str,
        attempt: int,
        status: str,
        event: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        """Ledger row and its event in one write (a node start or finish is one fact)."""


class _NullSink:
    def events(self, run_id: str, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        return None

    def node(
        self,
        run_id: str,
        node: str,
        task_key: str,
        attempt: int,
        status: str,
        event: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        return None


_SINK: EventSink = _NullSink()


def set_event_sink(sink: EventSink) -> None:
    global _SINK
    _SINK = sink


def get_event_sink() -> EventSink:
    return _SINK


class NodeEmitter:
    """Handed to an activity-side node so it can stream tokens and progress into the run's event log."""

    def __init__(self, run_id: str, prefix: str, node: str) -> None:
        self.run_id, self.prefix, self.node, self._n = run_id, prefix, node, 0

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        self._n += 1
        _SINK.events(self.run_id, [(f"{self.prefix}:{self._n}", type_, {"node": self.node, **data})])


_CURRENT_EMITTER: dict[int, NodeEmitter] = {}


def current_emitter() -> NodeEmitter | None:
    """The emitter of the activity-side node running on this task (None in fast unit tests)."""
    import asyncio

    try:
        task = asyncio.current_task()
    except RuntimeError:
        return None
    return _CURRENT_EMITTER.get(id(task)) if task else None


ACTIVITY_NODE: dict[str, Any] = {"execute_in": "activity", "start_to_close_timeout": timedelta(seconds=30)}
"""Metadata of a quick activity-side node (intake, planning, summaries without a model)."""

MODEL_NODE: dict[str, Any] = {
    "execute_in": "activity",
    "start_to_close_timeout": timedelta(seconds=120),
    "heartbeat_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(maximum_attempts=5, non_retryable_error_types=["ValidationError"]),
}
"""Metadata of a node that calls the model: longer timeout, heartbeats on streamed tokens, bad input not retried.
Use ``dict(MODEL_NODE)`` (the Temporal plugin consumes the dict it is given)."""


class NodeFn(Protocol):
    """An async node taking the state and LangGraph's ``runtime`` (a Protocol, not a ``Callable``, so the
    parameter has the name LangGraph passes it by and ``StateGraph.add_node`` accepts the wrapped node)."""

    def __call__(self, state: Any, runtime: Runtime[RunContext]) -> Awaitable[dict[str, Any]]: ...


def _guard_llm_output(run_id: str, prefix: str, node: str, assistant_id: str, out: dict[str, Any]) -> dict[str, Any]:
    """Messages a node adds to the state pass the assistant's ``llm_output`` guards before they land there."""
    if not out or not out.get("messages"):
        return out
    from temporalio.exceptions import ApplicationError

    from guards.points import GuardError, run_point

    outcome = run_point("llm_output", out["messages"], assistant_id)
    if outcome.failures:
        _SINK.events(
            run_id,
            [
                (f"{prefix}:guard:{i}", "guard_verdict", {"node": node, **v.public()})
                for i, v in enumerate(outcome.failures)
            ],
        )
    if outcome.blocked is not None:
        raise ApplicationError(str(GuardError(outcome.blocked)), type="GuardBlocked", non_retryable=True)
    return {**out, "messages": outcome.value}


def activity_node(name: str) -> Callable[[NodeFn], NodeFn]:
    """Wrap an activity-side node so its start, finish and failure land in the event log and the node ledger.

    The ledger row is keyed by the Temporal activity id and attempt, so a retry after a crash is visible as a
    second attempt and a completed node is recorded once.
    """

    def deco(fn: NodeFn) -> NodeFn:
        @functools.wraps(fn)
        async def wrapper(state: Any, runtime: Runtime[RunContext]) -> dict[str, Any]:
            import asyncio

            from temporalio import activity

            ctx = runtime.context
            if not ctx or not activity.in_activity():
                return await fn(state, runtime)
            info = activity.info()
            task_key = f"{info.workflow_run_id}:{info.activity_id}"
            prefix = f"{task_key}:{info.attempt}"
            run_id = ctx["run_id"]
            _SINK.node(
                run_id,
                name,
                task_key,
                info.attempt,
                "started",
                (f"{prefix}:start", "node_started", {"node": name, "attempt": info.attempt}),
            )
            task = asyncio.current_task()
            emitter = NodeEmitter(run_id, prefix, name)
            if task:
                _CURRENT_EMITTER[id(task)] = emitter
            try:
                out = await fn(state, runtime)
            except Exception as exc:
                _SINK.events(
                    run_id,
                    [
                        (
                            f"{prefix}:error",
                            "node_failed",
                            {"node": name, "attempt": info.attempt, "error": f"{type(exc).__name__}: {exc}"},
                        )
                    ],
                )
                raise
            finally:
                if task:
                    _CURRENT_EMITTER.pop(id(task), None)
            out = _guard_llm_output(run_id, prefix, name, ctx.get("assistant_id", "default"), out)
            _SINK.node(
                run_id,
                name,
                task_key,
                info.attempt,
                "completed",
                (
                    f"{prefix}:end",
                    "node_finished",
                    {"node": name, "attempt": info.attempt, "update_keys": sorted(out or {})},
                ),
            )
            return out

        # LangGraph and the Temporal plugin read the signature; ours is the contract (state, runtime).
        del wrapper.__wrapped__  # type: ignore[attr-defined]
        return wrapper

    return deco


# -- the chat model ---------------------------------------------------------------------------------------
# Like the event sink, the model is injected by the runtime (which owns ``runtime/llm``): agents never import
# the runtime at module level. No factory means no model: agents take their rule-based path and say so.

ChatModelFactory = Callable[[], Any]
_CHAT_MODEL_FACTORY: ChatModelFactory | None = None


def set_chat_model_factory(factory: ChatModelFactory | None) -> None:
    """Install how activity-side nodes get their langchain-core chat model (None: no model configured)."""
    global _CHAT_MODEL_FACTORY
    _CHAT_MODEL_FACTORY = factory


def get_chat_model() -> Any | None:
    """A chat model for this call, or None when the runtime configured none."""
    return _CHAT_MODEL_FACTORY() if _CHAT_MODEL_FACTORY is not None else None
