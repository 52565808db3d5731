"""Follow-up questions about a thread's run, answered from the run's own record (``runtime.ask``).

``POST /threads/{thread_id}/ask`` answers at once; ``POST /threads/{thread_id}/ask/stream`` streams the
model's tokens as they come (``token`` events), then the final ``answer`` (which may withdraw what streamed,
when a claim in it is not in the record), then ``end``. ``GET /threads/{thread_id}/answers`` lists the
thread's answers, so the conversation shows again when the thread is opened. Asking changes no run and no
decision; each answer is kept with the thread and noted in the audit trail (who looked at which record).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from pydantic import Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from guards.types import Principal
from runtime.ask import MAX_QUESTION_CHARS, answer, load_record
from runtime.errors import NotFound
from runtime.settings import Settings
from runtime.store import Store
from server.aio import db
from server.deps import PrincipalDep, SettingsDep, StoreDep
from server.schemas import _Request
from server.views import load_run, load_thread

log = logging.getLogger(__name__)
router = APIRouter(prefix="/threads", tags=["threads"])
_PENDING: set[asyncio.Task[None]] = set()


class AskCreate(_Request):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="A question in plain words.")
    run_id: str | None = Field(default=None, max_length=200, description="The run asked about; None = the latest.")


def _target_run(store: Store, principal: Principal, thread_id: str, run_id: str | None) -> dict[str, Any]:
    load_thread(store, principal, thread_id)
    if run_id is not None:
        return load_run(store, principal, run_id, thread_id)
    runs = store.list_runs(thread_id, limit=1)
    if not runs:
        raise NotFound(f"thread {thread_id!r} has no run to ask about yet")
    return runs[0]


def _model(settings: Settings) -> Any | None:
    """The agents' chat model when answers are to be phrased by it (``STEWARD_ASK_MODEL_PHRASING``)."""
    from agents.context import get_chat_model

    return get_chat_model() if settings.ask_model_phrasing else None


def _keep(store: Store, principal: Principal, result: dict[str, Any]) -> None:
    store.add_answer(result, principal.tenant)
    store.append_audit(
        principal.tenant,
        principal.id,
        "record_question_answered",
        {
            "answer_id": result["answer_id"],
            "question": result["question"],
            "by": result["by"],
            "found": result["found"],
            "citations": [c["ref"] for c in result["citations"]],
            "withdrawn": result["withdrawn"],
        },
        run_id=result["run_id"],
    )


async def _answer(
    store: Store, settings: Settings, principal: Principal, thread_id: str, body: AskCreate, on_token: Any = None
) -> dict[str, Any]:
    run = await db(_target_run, store, principal, thread_id, body.run_id)
    record = await db(load_record, store, run, principal.tenant)
    result = await answer(
        record, body.question.strip(), asked_by=principal.id, model=_model(settings), on_token=on_token
    )
    await db(_keep, store, principal, result)
    return result


@router.post("/{thread_id}/ask", response_model=dict[str, Any])
async def ask(
    thread_id: str, body: AskCreate, principal: PrincipalDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    """Answer a question about the thread's run from its record, with citations."""
    return await _answer(store, settings, principal, thread_id, body)


@router.post("/{thread_id}/ask/stream", response_class=EventSourceResponse)
async def ask_stream(
    thread_id: str, body: AskCreate, principal: PrincipalDep, store: StoreDep, settings: SettingsDep
) -> EventSourceResponse:
    """The same answer, streamed: ``token`` events (the model's, as they come), ``answer``, ``end``."""
    await db(_target_run, store, principal, thread_id, body.run_id)  # a 404 before the stream opens
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def produce() -> None:
        try:
            result = await _answer(
                store, settings, principal, thread_id, body, lambda t: queue.put_nowait(("token", {"text": t}))
            )
            queue.put_nowait(("answer", result))
        except Exception as exc:  # noqa: BLE001 - reported in the stream, which has already started
            log.exception("ask failed")
            queue.put_nowait(("error", {"error": type(exc).__name__, "message": str(exc)[:300]}))
        queue.put_nowait(("end", {}))

    async def events() -> AsyncIterator[ServerSentEvent]:
        task = asyncio.create_task(produce())
        try:
            while True:
                kind, data = await queue.get()
                yield ServerSentEvent(event=kind, data=json.dumps(data, default=str))
                if kind == "end":
                    return
        finally:
            # A client that leaves early does not lose the answer: it is finished and kept with the thread.
            _PENDING.add(task)
            task.add_done_callback(_PENDING.discard)

    return EventSourceResponse(events())


@router.get("/{thread_id}/answers", response_model=list[dict[str, Any]])
async def list_answers(thread_id: str, principal: PrincipalDep, store: StoreDep) -> list[dict[str, Any]]:
    """The thread's answered questions, oldest first."""
    await db(load_thread, store, principal, thread_id)
    return await db(store.list_answers, thread_id, principal.tenant)
