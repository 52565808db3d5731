"""Run streams: the per-run event log (written by the worker) read as Agent Server stream modes, over SSE.

Every stream reads ``Store.events_after(run_id, seq)``; nothing is kept in the API process, so a stream can
be rejoined on any API process, also after a restart. When to read again: when the process's listener hears
that the run got a new event, and at the latest after ``SAFETY_POLL_S`` (1 s), so a missed notification delays
an event but never loses it (``runtime/db/notify.py``). The listener is a LISTEN connection on PostgreSQL (the
append notifies in its own transaction, whichever replica or worker wrote it) and a Unix datagram socket next
to the database file on SQLite (the writing process, worker or API, sends to it after its commit). Only where
no listener could be had (an in-memory SQLite database, a socket path too long for ``AF_UNIX``) does a stream
read every ``poll_s`` (50 ms).

**Ids and rejoin.** One log event (sequence ``N``) becomes zero or more SSE frames, depending on the modes
asked for. The last frame of event ``N`` carries ``id: N``; when an event yields several frames, the earlier
ones carry ``id: N.1``, ``N.2``... A client that reconnects with ``Last-Event-ID: N`` continues after event
``N``; with ``N.k`` it gets the rest of event ``N`` from frame ``k+1``. Frames are a pure function of the log
(the mapper's state is rebuilt by folding events ``1..N`` silently), so nothing is lost or sent twice. The
``metadata`` frame is sent only on a fresh connection (no ``Last-Event-ID``); ``error`` and ``end`` close the
stream and carry no id.

**End of stream.** After ``run_finished``; or, as the Agent Server does, when the run waits for people
(pending approvals = interrupts) and nothing else is happening. ``follow=true`` (Steward's console) keeps the
stream open across approvals until the run finishes.

**Mapping of event types to stream modes**

| log event | values | updates | messages / messages-tuple | events | custom |
|---|---|---|---|---|---|
| run_started | the run input | - | - | on_chain_start (assistant) | yes |
| node_started | - | - | starts a message for the node | on_chain_start (node) | yes |
| token (model output only) | - | - | messages/partial (accumulated) / [chunk, metadata] | on_chat_model_stream | yes |
| message (rules, template) | - | - | messages/complete / [whole "ai" message, its ``by``] | on_custom_event | yes |
| node_finished | - | ``{node: {"update_keys": [...]}}`` | messages/complete | on_chain_end (node) | yes |
| tool_started / tool_finished | - | - | - | on_tool_start / on_tool_end | yes |
| approval_requested | input + ``__interrupt__`` | ``{"__interrupt__": [...]}`` | - | on_custom_event | yes |
| run_finished | the thread's final state (success) | - | - | on_chain_end (assistant) | yes |
| anything else (policy_decision, approval_decided, node_failed...) | - | - | - | on_custom_event | yes |

``custom`` frames are ``{"type", "seq", "ts", "data"}``: the whole log, which the console renders as the run
timeline. ``updates`` name the state keys a node wrote, not their values: values stay in Temporal's history
(kept small on purpose, DESIGN.md section 2); the final ``values`` frame carries the full state. A failed run
ends with an ``error`` frame ``{"error", "message"}``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from contextlib import aclosing, nullcontext
from dataclasses import dataclass, field
from typing import Any

from runtime.db.notify import RunWatch, listener_for
from runtime.errors import UserError
from runtime.store import TERMINAL_STATUSES, Store
from server.aio import db
from server.views import human_interrupt

STREAM_MODES: tuple[str, ...] = ("values", "updates", "messages", "messages-tuple", "custom", "events")
DEFAULT_MODES: tuple[str, ...] = ("values",)
_LAST_EVENT_ID = re.compile(r"^(\d{1,12})(?:\.(\d{1,6}))?$")
SAFETY_POLL_S = 1.0
"""The longest a stream waits for a notification before it reads the log anyway."""
STATUS_EVERY_S = 1.0
"""How often a waiting stream checks the run's status (a run ended from outside writes no event)."""


@dataclass(frozen=True)
class Frame:
    event: str
    data: Any
    id: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Where a stream resumes: after event ``after``, skipping ``skip`` frames of event ``after + 1``."""

    after: int = 0
    skip: int = 0


def parse_last_event_id(value: str | None) -> Cursor | None:
    """``N``: event N was delivered; ``N.k``: frames 1..k of event N were. Anything else is a UserError."""
    if value is None or value.strip() == "":
        return None
    m = _LAST_EVENT_ID.match(value.strip())
    if not m:
        raise UserError(f"Last-Event-ID: {value[:40]!r} is not an event id of this API (expected N or N.k)")
    seq, part = int(m.group(1)), m.group(2)
    if part is None:
        return Cursor(after=seq)
    return Cursor(after=max(seq - 1, 0), skip=int(part))


def check_cursor(store: Store, run_id: str, cursor: Cursor | None) -> None:
    """Refuse an id ahead of the log: honouring it would silently skip events that have not happened yet."""
    if cursor is None:
        return
    last = store.last_event_seq(run_id)
    if cursor.after + (1 if cursor.skip else 0) > last:
        raise UserError(
            f"Last-Event-ID: event {cursor.after + (1 if cursor.skip else 0)} does not exist in "
            f"run {run_id!r} (last event: {last})"
        )


def normalize_modes(modes: str | Iterable[str] | None) -> tuple[str, ...]:
    """The requested modes, deduplicated; none asked for means ``values``.

    Empty strings count as "not given": langgraph-sdk's ``join_stream`` sends ``?stream_mode=`` when the
    caller leaves ``stream_mode`` at its default (httpx encodes ``None`` as an empty value).
    """
    if modes is None:
        return DEFAULT_MODES
    items = [modes] if isinstance(modes, str) else list(modes)
    items = [m for m in items if m != ""]
    if not items:
        return DEFAULT_MODES
    bad = [m for m in items if m not in STREAM_MODES]
    if bad:
        raise UserError(f"stream_mode: {bad[0]!r} is not supported; supported: {list(STREAM_MODES)}")
    return tuple(dict.fromkeys(items))


@dataclass
class _Message:
    id: str
    node: str
    content: str = ""


@dataclass
class StreamMapper:
    """Folds the run's log into frames for the requested modes (see the module docstring)."""

    run: dict[str, Any]
    modes: tuple[str, ...]
    final_state: Callable[[], dict[str, Any]]
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, _Message] = field(default_factory=dict)
    finished: dict[str, Any] | None = None

    def _values_with_interrupts(self) -> dict[str, Any]:
        return {**self.run["input"], "__interrupt__": list(self.pending.values())}

    def feed(self, e: dict[str, Any], emit: bool = True) -> list[tuple[str, Any]]:
        t, d, seq = e["type"], e["data"], e["seq"]
        run_id, modes = self.run["run_id"], self.modes
        frames: list[tuple[str, Any]] = []
        node = d.get("node") if isinstance(d, dict) else None
        meta = {"run_id": run_id, "langgraph_node": node, "steward_seq": seq}

        def event(kind: str, name: str, data: dict[str, Any]) -> None:
            if "events" in modes:
                frames.append(
                    (
                        "events",
                        {
                            "event": kind,
                            "name": name,
                            "run_id": run_id,
                            "tags": [],
                            "metadata": meta,
                            "data": data,
                        },
                    )
                )

        if t == "run_started":
            if "values" in modes:
                frames.append(("values", dict(self.run["input"])))
            event("on_chain_start", self.run["assistant_id"], {"input": self.run["input"]})
        elif t == "node_started":
            self.messages[node or ""] = _Message(id=f"msg-{run_id}-{seq}", node=node or "")
            event("on_chain_start", node or "", {})
        elif t == "token":
            msg = self.messages.setdefault(node or "", _Message(id=f"msg-{run_id}-{seq}", node=node or ""))
            first = msg.content == ""
            msg.content += d.get("text", "")
            if "messages" in modes:
                if first:
                    frames.append(("messages/metadata", {msg.id: {"metadata": meta}}))
                frames.append(("messages/partial", [{"type": "ai", "id": msg.id, "content": msg.content}]))
            if "messages-tuple" in modes:
                frames.append(
                    (
                        "messages",
                        [{"type": "AIMessageChunk", "id": msg.id, "content": d.get("text", "")}, meta],
                    )
                )
            event(
                "on_chat_model_stream",
                node or "",
                {"chunk": {"type": "AIMessageChunk", "id": msg.id, "content": d.get("text", "")}},
            )
        elif t == "message":
            # Written by rules or a template: one complete message (type "ai", never an AIMessageChunk), its
            # author in response_metadata, so no client mistakes it for model output.
            whole = {
                "type": "ai",
                "id": f"msg-{run_id}-{seq}",
                "content": d.get("text", ""),
                "response_metadata": {"by": d.get("by")},
            }
            if "messages" in modes:
                frames.append(("messages/metadata", {whole["id"]: {"metadata": {**meta, "by": d.get("by")}}}))
                frames.append(("messages/complete", [whole]))
            if "messages-tuple" in modes:
                frames.append(("messages", [whole, {**meta, "by": d.get("by")}]))
            event("on_custom_event", t, d)
        elif t == "node_finished":
            ended: _Message | None = self.messages.pop(node or "", None)
            if ended is not None and ended.content and "messages" in modes:
                frames.append(("messages/complete", [{"type": "ai", "id": ended.id, "content": ended.content}]))
            if "updates" in modes:
                frames.append(("updates", {node: {"update_keys": d.get("update_keys", [])}}))
            event("on_chain_end", node or "", {"output": {"update_keys": d.get("update_keys", [])}})
        elif t == "tool_started":
            event("on_tool_start", d.get("tool", ""), {"input": d.get("args")})
        elif t == "tool_finished":
            event("on_tool_end", d.get("tool", ""), {"output": d.get("result")})
        elif t == "approval_requested":
            interrupt = {"id": d["approval_id"], "value": human_interrupt(d)}
            self.pending[d["approval_id"]] = interrupt
            if "values" in modes:
                frames.append(("values", self._values_with_interrupts()))
            if "updates" in modes:
                frames.append(("updates", {"__interrupt__": [interrupt]}))
            event("on_custom_event", t, d)
        elif t == "interrupt":
            # The graph's own interrupt(value) (runtime.interrupts): shown as LangGraph shows it, value verbatim.
            interrupt = {"id": d["interrupt_id"], "value": d.get("value")}
            self.pending[d["interrupt_id"]] = interrupt
            if "values" in modes:
                frames.append(("values", self._values_with_interrupts()))
            if "updates" in modes:
                frames.append(("updates", {"__interrupt__": [interrupt]}))
            event("on_custom_event", t, d)
        elif t == "interrupt_answered":
            self.pending.pop(d.get("interrupt_id", ""), None)
            event("on_custom_event", t, d)
        elif t == "approval_escalated":
            if d.get("approval_id") in self.pending:
                self.pending[d["approval_id"]] = {"id": d["approval_id"], "value": human_interrupt(d)}
            event("on_custom_event", t, d)
        elif t == "approval_decided":
            self.pending.pop(d.get("approval_id", ""), None)
            event("on_custom_event", t, d)
        elif t == "run_finished":
            self.finished = d
            self.pending.clear()
            if "values" in modes and d.get("status") == "success" and emit:
                frames.append(("values", self.final_state()))
            event("on_chain_end", self.run["assistant_id"], {"output": d.get("outcome")})
        else:
            event("on_custom_event", t, d)
        if "custom" in modes:
            frames.append(("custom", {"type": t, "seq": seq, "ts": e["ts"], "data": d}))
        return frames

    def closing(self) -> list[Frame]:
        """The frames that close the stream after ``run_finished``."""
        d = self.finished or {}
        out: list[Frame] = []
        if d.get("status") == "error":
            out.append(Frame("error", {"error": "RunFailed", "message": d.get("error") or "run failed"}))
        out.append(Frame("end", {"run_id": self.run["run_id"], "status": d.get("status"), "reason": "finished"}))
        return out


def final_state_of(store: Store, run: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """The run's final values: the thread state it saved (or just its outcome, if a later run moved on)."""

    def read() -> dict[str, Any]:
        thread = store.get_thread(run["thread_id"])
        if thread is not None and thread.get("last_run_id") == run["run_id"]:
            return dict(thread["state"])
        fresh = store.get_run(run["run_id"]) or run
        return {"outcome": fresh.get("output")}

    return read


async def run_frames(
    store: Store,
    run: dict[str, Any],
    modes: tuple[str, ...],
    cursor: Cursor | None = None,
    *,
    follow: bool = False,
    send_metadata: bool | None = None,
    poll_s: float = 0.05,
    status_every_s: float | None = None,
    safety_poll_s: float | None = None,
) -> AsyncIterator[Frame]:
    """Frames of one run from ``cursor`` on; see the module docstring for ids, modes and the end of stream.

    ``poll_s``: the read interval where there is no listener (``listener_for`` gave None); ``safety_poll_s``
    (default ``SAFETY_POLL_S``): the longest wait for a notification; ``status_every_s`` (default
    ``STATUS_EVERY_S``): how often the run's status is checked while nothing arrives.
    """
    status_every_s = STATUS_EVERY_S if status_every_s is None else status_every_s
    listener = listener_for(store.engine)  # None without a listener (in-memory SQLite, unbindable socket): poll
    with listener.watch(run["run_id"]) if listener is not None else nullcontext() as watch:
        wait_s = poll_s if watch is None else (SAFETY_POLL_S if safety_poll_s is None else safety_poll_s)
        frames = _run_frames(store, run, modes, cursor, follow, send_metadata, status_every_s, watch, wait_s)
        async with aclosing(frames):
            async for frame in frames:
                yield frame


async def _run_frames(
    store: Store,
    run: dict[str, Any],
    modes: tuple[str, ...],
    cursor: Cursor | None,
    follow: bool,
    send_metadata: bool | None,
    status_every_s: float,
    watch: RunWatch | None,
    wait_s: float,
) -> AsyncGenerator[Frame, None]:
    """``run_frames`` once the waiting is decided: ``watch`` (a listener's) or, without one, a sleep of ``wait_s``."""
    run_id = run["run_id"]
    cursor = cursor or Cursor()
    mapper = StreamMapper(run=run, modes=modes, final_state=final_state_of(store, run))
    seq = 0
    while seq < cursor.after:
        batch = await db(store.events_after, run_id, seq, limit=1000)
        if not batch:
            break
        for e in batch:
            if e["seq"] > cursor.after:
                break
            mapper.feed(e, emit=False)  # emit=False: never reads the store
            seq = e["seq"]
        else:
            continue
        break
    seq = max(seq, cursor.after)
    fresh = (cursor.after == 0 and cursor.skip == 0) if send_metadata is None else send_metadata
    if fresh:
        yield Frame("metadata", {"run_id": run_id, "thread_id": run["thread_id"], "attempt": 1})
    if mapper.finished is not None:
        for f in mapper.closing():
            yield f
        return
    skip_seq = seq + 1 if cursor.skip else None
    loop = asyncio.get_running_loop()
    next_status_check = loop.time() + status_every_s
    while True:
        batch = await db(store.events_after, run_id, seq, limit=500)
        for e in batch:
            # The end of a successful run reads the thread's final state from the store: off the loop too.
            frames = await db(mapper.feed, e) if e["type"] == "run_finished" else mapper.feed(e)
            seq = e["seq"]
            n = len(frames)
            for i, (name, data) in enumerate(frames, 1):
                if seq == skip_seq and i <= cursor.skip:
                    continue
                yield Frame(name, data, str(seq) if i == n else f"{seq}.{i}")
            if mapper.finished is not None:
                for f in mapper.closing():
                    yield f
                return
        if batch:
            continue
        if mapper.pending and not follow:
            yield Frame(
                "end",
                {
                    "run_id": run_id,
                    "status": "interrupted",
                    "reason": "interrupted",
                    "interrupts": list(mapper.pending),
                },
            )
            return
        if loop.time() >= next_status_check:
            # A run can end without a run_finished event (terminated from outside Temporal's UI): don't hang.
            next_status_check = loop.time() + status_every_s
            latest = await db(store.get_run, run_id)
            if latest is None or latest["status"] in TERMINAL_STATUSES:
                if not await db(store.events_after, run_id, seq, limit=1):
                    status = latest["status"] if latest else "error"
                    yield Frame("end", {"run_id": run_id, "status": status, "reason": "finished"})
                    return
                continue
        if watch is None:
            await asyncio.sleep(wait_s)
        else:
            # Wake for the status check too: a run ended from outside writes no event, so none is notified.
            await watch.wait(seq, max(0.0, min(wait_s, next_status_check - loop.time())))


async def final_values(
    store: Store, run: dict[str, Any], cursor: Cursor | None = None, poll_s: float = 0.05
) -> dict[str, Any]:
    """What ``/runs/wait`` and ``/join`` return: the last ``values`` frame, or ``{"__error__": ...}``.

    Waits as ``run_frames`` does: on the run's watch (``poll_s`` only where there is no listener)."""
    values: dict[str, Any] = {}
    async for f in run_frames(store, run, ("values",), cursor, send_metadata=False, poll_s=poll_s):
        if f.event == "values":
            values = f.data
        elif f.event == "error":
            return {"__error__": f.data}
    return values


def encode(frame: Frame) -> dict[str, Any]:
    """A frame as sse-starlette's event dict (compact JSON data)."""
    out: dict[str, Any] = {
        "event": frame.event,
        "data": json.dumps(frame.data, separators=(",", ":"), default=str),
    }
    if frame.id is not None:
        out["id"] = frame.id
    return out
