"""langgraph-sdk's thread-centric streaming session (``client.threads.stream``, the v3 protocol, SSE transport).

The SDK talks to two endpoints of one thread:

- ``POST /threads/{thread_id}/commands``: JSON commands ``{"id", "method", "params"}`` answered with
  ``{"type": "success", "id", "result", "meta": {"applied_through_seq"}}`` or, with a 4xx status,
  ``{"type": "error", "id", "error": <code>, "message", "detail"}``. Served: ``run.start`` (creates the thread
  on first use, as the SDK expects for the id it minted, then starts or queues the run through
  ``server.dispatch``) and ``input.respond`` (one response or ``responses``: the same resume path as
  ``command.resume``, so an approval still needs an approver). Other methods answer ``not_supported``.
- ``POST /threads/{thread_id}/stream/events``: an SSE stream of protocol events ``{"type": "event",
  "method", "seq", "event_id", "params": {"namespace", "timestamp", "data"}}`` filtered by the body's
  ``channels`` (``namespaces``/``depth`` filter too; Steward's events all sit at the root namespace ``[]``).

**Events are the run's event log, re-read.** As ``server.streaming`` does for run streams, nothing is kept in
the API process: events come from ``Store.events_after``, so a stream can be rejoined on any API replica.
The protocol's ``seq`` is thread-wide (a session may hold several runs), so run ``k`` of the thread (creation
order; runs are never deleted) and its log event ``n`` become ``seq = k * 1_000_000 + n``; ``since`` resumes
after such a seq. Without ``since`` the stream starts at the thread's oldest unfinished run, else its latest.
The stream then follows the thread's later runs until the client leaves, as the SDK's long-lived shared
stream expects.

| log event | channel | protocol data |
|---|---|---|
| run_started | lifecycle, values | ``{"event": "running", "graph_name"}``; the run input |
| token (model output only) | messages | message-start + content-block-start (first token), content-block-delta |
| node_finished | messages, updates | content-block-finish, message-finish (if it streamed); ``{node: {update_keys}}`` |
| tool_started / tool_finished / tool_failed | tools | tool-started / tool-finished / tool-error |
| approval_requested, interrupt | input, lifecycle, values | input.requested {interrupt_id, value}; interrupted |
| run_finished | lifecycle, values | the final state (success); ``completed``, or ``failed`` with the error |
| every event | custom | ``{"type", "seq", "ts", "data"}`` (the console's timeline vocabulary) |

Rule- or template-written messages are not put on ``messages`` (that channel carries model tokens only); they
are on ``custom``. Not served: ``subscription.*``, ``agent.getTree``, ``input.inject``, ``state.*`` commands
(the SDK's SSE transport opens a new filtered stream instead of subscribing), ``checkpoints`` and ``tasks``
events, subgraph namespaces, and the WebSocket transport.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sse_starlette import EventSourceResponse

from guards.types import Principal, has_role
from runtime.db.notify import RunWatch, listener_for
from runtime.errors import Conflict, Forbidden, NotFound, StewardError, UserError
from runtime.store import TERMINAL_STATUSES, Store
from server.aio import db
from server.deps import DispatcherDep, PrincipalDep, StoreDep
from server.dispatch import RunDispatcher
from server.schemas import RunCreate
from server.streaming import SAFETY_POLL_S, StreamMapper, final_state_of
from server.views import human_interrupt, load_thread

router = APIRouter(prefix="/threads", tags=["threads"])

RUN_SPAN = 1_000_000
"""Log events per run in the thread-wide ``seq`` (``k * RUN_SPAN + n``); a run's log stays far below it."""

CHANNELS = ("values", "updates", "messages", "tools", "lifecycle", "input", "checkpoints", "tasks", "custom")
_ERROR_STATUS: tuple[tuple[type[StewardError], int, str], ...] = (
    (NotFound, 404, "no_such_run"),
    (Forbidden, 403, "permission_denied"),
    (Conflict, 409, "invalid_argument"),
)


class ProtocolCommand(BaseModel):
    """One command of the v3 protocol (``langchain_protocol.Command``)."""

    id: int = Field(ge=0)
    method: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)


class EventStreamRequest(BaseModel):
    """The body of ``/stream/events`` (``langchain_protocol.EventStreamRequest``)."""

    channels: list[
        Annotated[
            str, Field(pattern=r"^(values|updates|messages|tools|lifecycle|input|checkpoints|tasks|custom|custom:.+)$")
        ]
    ] = Field(min_length=1)
    namespaces: list[list[str]] | None = None
    depth: int | None = Field(default=None, ge=0)
    since: int | None = Field(default=None, ge=0)


class CommandError(StewardError):
    """A command the protocol answers with an error envelope (``not_supported``, ``invalid_argument``)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


# -- commands ----------------------------------------------------------------------------------------
async def _run_start(
    principal: Principal, store: Store, dispatcher: RunDispatcher, thread_id: str, params: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    if not has_role(principal, "operator"):
        raise Forbidden(
            f"principal {principal.id!r} lacks role 'operator' needed to start runs (has {sorted(principal.roles)})"
        )
    unknown = set(params) - {"assistant_id", "input", "config", "metadata", "langsmith_tracer"}
    if unknown:
        raise UserError(f"params.{sorted(unknown)[0]}: not a run.start parameter")
    try:
        body = RunCreate.model_validate({k: v for k, v in params.items() if k != "langsmith_tracer"})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"params.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    thread = await db(store.get_thread, thread_id)
    if thread is None:
        # The SDK mints the thread id client-side and never sends if_not_exists: the thread is made here.
        await db(store.create_thread, thread_id, principal.tenant)
    elif thread["tenant"] != principal.tenant:
        raise NotFound(f"thread {thread_id!r} not found")
    run = await dispatcher.submit(principal, body, thread_id)
    return {"run_id": run["run_id"]}, await db(_thread_seq, store, run, 0)


async def _input_respond(
    principal: Principal, store: Store, dispatcher: RunDispatcher, thread_id: str, params: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    await db(load_thread, store, principal, thread_id)
    if "responses" in params:
        entries = params["responses"]
        if not isinstance(entries, list) or not entries:
            raise UserError("params.responses: a non-empty list of {interrupt_id, response}")
    else:
        entries = [params]
    resume: dict[str, Any] = {}
    for i, entry in enumerate(entries):
        where = f"params.responses[{i}]" if "responses" in params else "params"
        if not isinstance(entry, dict) or not isinstance(entry.get("interrupt_id"), str):
            raise UserError(f"{where}.interrupt_id: required (the id of an outstanding interrupt)")
        if "response" not in entry:
            raise UserError(f"{where}.response: required")
        resume[entry["interrupt_id"]] = entry["response"]
    for extra in ("update", "goto"):
        if extra in params:
            raise CommandError("not_supported", f"params.{extra}: not supported by Steward's resume")
    run, _ = await dispatcher.resume(principal, thread_id, resume)
    last = await db(store.last_event_seq, run["run_id"])
    return {"run_id": run["run_id"]}, await db(_thread_seq, store, run, last)


_COMMANDS = {"run.start": _run_start, "input.respond": _input_respond}


@router.post("/{thread_id}/commands")
async def thread_command(
    thread_id: str, body: ProtocolCommand, principal: PrincipalDep, store: StoreDep, dispatcher: DispatcherDep
) -> JSONResponse:
    """One protocol command for this thread (``run.start``, ``input.respond``); see the module docstring."""
    handler = _COMMANDS.get(body.method)
    try:
        if handler is None:
            raise CommandError(
                "unknown_command" if "." not in body.method else "not_supported",
                f"method: {body.method!r} is not served; served: {sorted(_COMMANDS)}",
            )
        result, applied = await handler(principal, store, dispatcher, thread_id, body.params)
    except CommandError as exc:
        return _error(body.id, exc.code, str(exc), exc.status)
    except UserError as exc:
        status, code = next(((s, c) for cls, s, c in _ERROR_STATUS if isinstance(exc, cls)), (422, "invalid_argument"))
        return _error(body.id, code, str(exc), status)
    return JSONResponse({"type": "success", "id": body.id, "result": result, "meta": {"applied_through_seq": applied}})


def _error(command_id: int, code: str, message: str, status: int) -> JSONResponse:
    # ``detail`` beside the protocol's fields: every Steward error body names the problem there.
    body = {"type": "error", "id": command_id, "error": code, "message": message, "detail": message}
    return JSONResponse(body, status_code=status)


# -- events ------------------------------------------------------------------------------------------
def _thread_runs(store: Store, thread_id: str) -> list[dict[str, Any]]:
    """The thread's runs, oldest first: their positions (1-based) are the run part of the thread-wide seq."""
    return list(reversed(store.list_runs(thread_id, limit=100_000)))


def _newer_runs(store: Store, thread_id: str, known: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``known``, or the full list again once a newer run exists: a waiting stream polls one row, not all."""
    newest = store.list_runs(thread_id, limit=1)
    if newest and (not known or newest[0]["run_id"] != known[-1]["run_id"]):
        return _thread_runs(store, thread_id)
    return known


def _thread_seq(store: Store, run: dict[str, Any], n: int) -> int:
    ids = [r["run_id"] for r in _thread_runs(store, run["thread_id"])]
    return (ids.index(run["run_id"]) + 1) * RUN_SPAN + n


@dataclass
class ProtocolMapper:
    """Folds one run's log into protocol events (``method``, ``data``) for the table in the module docstring."""

    run: dict[str, Any]
    store: Store
    values: StreamMapper = field(init=False)
    open_messages: dict[str, tuple[str, str]] = field(default_factory=dict)
    """node -> (message id, text so far), for nodes whose model is streaming tokens."""

    def __post_init__(self) -> None:
        self.values = StreamMapper(
            run=self.run, modes=("values", "updates"), final_state=final_state_of(self.store, self.run)
        )

    def feed(self, e: dict[str, Any]) -> list[tuple[str, Any]]:
        t, d = e["type"], e["data"] if isinstance(e["data"], dict) else {}
        out: list[tuple[str, Any]] = []
        if t == "run_started":
            out.append(("lifecycle", {"event": "running", "graph_name": self.run["assistant_id"]}))
        elif t == "token":
            out += self._token(d.get("node") or "", d.get("text", ""), e["seq"])
        elif t == "node_finished":
            out += self._close_message(d.get("node") or "")
        elif t == "tool_started":
            out.append(
                (
                    "tools",
                    {
                        "event": "tool-started",
                        "tool_call_id": d.get("tool_call_id", ""),
                        "tool_name": d.get("tool", ""),
                        "input": d.get("args"),
                    },
                )
            )
        elif t == "tool_finished":
            out.append(
                (
                    "tools",
                    {"event": "tool-finished", "tool_call_id": d.get("tool_call_id", ""), "output": d.get("result")},
                )
            )
        elif t == "tool_failed":
            out.append(
                (
                    "tools",
                    {"event": "tool-error", "tool_call_id": d.get("tool_call_id", ""), "message": d.get("error", "")},
                )
            )
        elif t == "approval_requested":
            out.append(("input.requested", {"interrupt_id": d["approval_id"], "value": human_interrupt(d)}))
            out.append(("lifecycle", {"event": "interrupted", "graph_name": self.run["assistant_id"]}))
        elif t == "interrupt":
            out.append(("input.requested", {"interrupt_id": d["interrupt_id"], "value": d.get("value")}))
            out.append(("lifecycle", {"event": "interrupted", "graph_name": self.run["assistant_id"]}))
        # values / updates: the same frames a run stream sends (StreamMapper), so the two never disagree.
        out += self.values.feed(e)
        out.append(("custom", {"type": t, "seq": e["seq"], "ts": e["ts"], "data": e["data"]}))
        if t == "run_finished":
            for node in list(self.open_messages):
                out += self._close_message(node)
            # Last: a client that stops reading at the terminal lifecycle event has seen everything of the run.
            out.append(("lifecycle", self._terminal(d)))
        return out

    def _token(self, node: str, text: str, seq: int) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if node not in self.open_messages:
            msg_id = f"msg-{self.run['run_id']}-{seq}"
            self.open_messages[node] = (msg_id, "")
            out.append(
                (
                    "messages",
                    {
                        "event": "message-start",
                        "role": "ai",
                        "id": msg_id,
                        "metadata": {"run_id": self.run["run_id"], "langgraph_node": node},
                    },
                )
            )
            out.append(("messages", {"event": "content-block-start", "id": msg_id, "index": 0, "content": _text("")}))
        msg_id, so_far = self.open_messages[node]
        self.open_messages[node] = (msg_id, so_far + text)
        # Each event names its message (``id``): the SDK routes events to a message's stream by it.
        delta = {"type": "text-delta", "text": text}
        out.append(("messages", {"event": "content-block-delta", "id": msg_id, "index": 0, "delta": delta}))
        return out

    def _close_message(self, node: str) -> list[tuple[str, Any]]:
        opened = self.open_messages.pop(node, None)
        if opened is None:
            return []
        msg_id, text = opened
        return [
            ("messages", {"event": "content-block-finish", "id": msg_id, "index": 0, "content": _text(text)}),
            ("messages", {"event": "message-finish", "id": msg_id}),
        ]

    def _terminal(self, d: dict[str, Any]) -> dict[str, Any]:
        status = d.get("status")
        if status == "success":
            return {"event": "completed", "graph_name": self.run["assistant_id"]}
        return {"event": "failed", "graph_name": self.run["assistant_id"], "error": d.get("error") or f"run {status}"}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _wanted(method: str, channels: list[str]) -> bool:
    channel = "input" if method == "input.requested" else method
    return channel in channels or (channel == "custom" and any(c.startswith("custom:") for c in channels))


def _start(store: Store, thread_id: str, since: int | None) -> tuple[int, int]:
    """(run position, log seq) to start after: ``since`` if given, else the oldest unfinished run (or the
    latest) from its beginning."""
    if since is not None:
        return divmod(since, RUN_SPAN) if since >= RUN_SPAN else (1, 0)
    runs_ = _thread_runs(store, thread_id)
    unfinished = [i for i, r in enumerate(runs_, 1) if r["status"] not in TERMINAL_STATUSES]
    return (unfinished[0] if unfinished else max(len(runs_), 1)), 0


def _fold(mapper: ProtocolMapper, batch: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[tuple[str, Any]]]]:
    """Each event of ``batch`` with what ``mapper`` makes of it, in order."""
    return [(e, mapper.feed(e)) for e in batch]


async def protocol_events(
    store: Store, thread_id: str, body: EventStreamRequest, poll_s: float = 0.05
) -> AsyncIterator[dict[str, Any]]:
    """The thread's protocol events after ``body.since``, following later runs, until the caller stops.

    The current run's events are pushed (``runtime.db.notify``: LISTEN/NOTIFY on PostgreSQL, a Unix datagram
    socket on SQLite): the stream waits for a notification, at most ``SAFETY_POLL_S``; only without a listener
    (in-memory SQLite, a socket that could not be bound) does it poll every ``poll_s``. A new run on the thread
    announces nothing to a watch of the previous one, so the thread's runs are still looked up every ``poll_s``.
    """
    position, after = await db(_start, store, thread_id, body.since)
    at_root = body.namespaces is None or any(ns == [] for ns in body.namespaces)
    mapper: ProtocolMapper | None = None
    folded = 0
    runs_ = await db(_thread_runs, store, thread_id)
    listener = listener_for(store.engine)  # None without a listener: poll every poll_s
    with ExitStack() as watching:
        watch: RunWatch | None = None
        while True:
            if position > len(runs_):
                await asyncio.sleep(poll_s)
                runs_ = await db(_newer_runs, store, thread_id, runs_)
                continue
            run = runs_[position - 1]
            if mapper is None or mapper.run["run_id"] != run["run_id"]:
                mapper, folded = ProtocolMapper(run=run, store=store), 0
                if listener is not None:  # registered before the first read: no wake-up falls in between
                    watching.close()
                    watch = watching.enter_context(listener.watch(run["run_id"]))
            batch = await db(store.events_after, run["run_id"], folded, limit=500)
            # Folded in the worker thread: the mapper reads the run's final state from the store when it ends.
            # Always folded, so a resumed stream's mapper state matches a fresh one's.
            for e, mapped in await db(_fold, mapper, batch):
                folded = e["seq"]
                if e["seq"] <= after or not at_root:
                    continue
                seq = position * RUN_SPAN + e["seq"]
                for i, (method, data) in enumerate(mapped):
                    if _wanted(method, body.channels):
                        yield {
                            "type": "event",
                            "event_id": f"{seq}.{i}",
                            "seq": seq,
                            "method": method,
                            "params": {"namespace": [], "timestamp": int(e["ts"] * 1000), "data": data},
                        }
            if batch:
                continue
            latest = await db(store.get_run, run["run_id"])
            finished = mapper.values.finished is not None or latest is None or latest["status"] in TERMINAL_STATUSES
            if finished:
                runs_ = await db(_newer_runs, store, thread_id, runs_)
                if position < len(runs_):
                    position, after = position + 1, 0
                    continue
            if watch is None or finished:
                await asyncio.sleep(poll_s)  # no listener, or a finished run: only a new run can come next
            else:
                await watch.wait(folded, SAFETY_POLL_S)


@router.post("/{thread_id}/stream/events", response_class=EventSourceResponse)
async def thread_events(
    thread_id: str, body: EventStreamRequest, principal: PrincipalDep, store: StoreDep, request: Request
) -> EventSourceResponse:
    """The thread's protocol events, filtered by ``channels`` and resumed after ``since`` (module docstring)."""
    await db(load_thread, store, principal, thread_id)
    opts = request.app.state.stream

    async def frames() -> AsyncIterator[dict[str, Any]]:
        async for event in protocol_events(store, thread_id, body, poll_s=opts.poll_s):
            yield {
                "id": str(event["seq"]),
                "event": event["method"],
                "data": json.dumps(event, separators=(",", ":"), default=str),
            }

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return EventSourceResponse(frames(), ping=opts.ping_s, send_timeout=opts.send_timeout_s, headers=headers)
