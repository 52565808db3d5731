"""A node's own ``interrupt(value)``: a durable question, answered with ``Command(resume=...)``.

Approvals are one kind of interrupt (the guarded tool node raises them, and ``decide`` answers them with the
policy's checks). Any other interrupt a graph raises is the author's question to whoever drives the thread:
the workflow records it in the event log (``interrupt``), the run reads as ``interrupted``, and it waits
durably for the ``answer`` update, whose values reach the node verbatim, exactly as under LangGraph. The
event log is where the API finds open questions (``interrupt`` events without an ``interrupt_answered``), so
any API replica can show and resume them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INTERRUPT_EVENT = "interrupt"
ANSWERED_EVENT = "interrupt_answered"
ANSWER_UPDATE = "answer"


@dataclass
class AnswerInterruptsInput:
    """The ``answer`` update: interrupt id -> the resume value for that node, and who answered."""

    answers: dict[str, Any]
    principal: dict[str, Any]


def open_questions(store: Any, run_id: str) -> list[dict[str, Any]]:
    """Unanswered user interrupts of a run, oldest first: ``{"id", "value"}`` (LangGraph's ``Interrupt``)."""
    asked: dict[str, Any] = {}
    for e in store.events_of_types(run_id, (INTERRUPT_EVENT, ANSWERED_EVENT)):
        iid = e["data"].get("interrupt_id")
        if e["type"] == INTERRUPT_EVENT:
            asked[iid] = e["data"].get("value")
        else:
            asked.pop(iid, None)
    return [{"id": k, "value": v} for k, v in asked.items()]


def answers_for(resume: Any, open_ids: list[str]) -> dict[str, Any]:
    """``command.resume`` -> interrupt id -> value, as LangGraph reads it.

    A map whose keys are all open interrupt ids gives each its entry; any other value goes verbatim to the one
    open interrupt. With several open, a bare value is ambiguous (LangGraph refuses it too), so it is refused
    naming the ids.
    """
    from runtime.errors import UserError

    if isinstance(resume, dict) and resume and all(k in open_ids for k in resume):
        return dict(resume)
    if len(open_ids) == 1:
        return {open_ids[0]: resume}
    raise UserError(
        f"command.resume: {len(open_ids)} interrupts are open; send a map of interrupt id to value (open: {open_ids})"
    )


async def answer(client: Any, run_id: str, answers: dict[str, Any], principal: dict[str, Any]) -> dict[str, Any]:
    """Send answers to the run that waits for them; the workflow's validator refusals come back typed."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError

    from runtime.errors import Conflict, Forbidden, NotFound, UserError

    types: dict[str, type[UserError]] = {"Forbidden": Forbidden, "Conflict": Conflict, "NotFound": NotFound}
    handle = client.get_workflow_handle(run_id)
    try:
        result: dict[str, Any] = await handle.execute_update(
            ANSWER_UPDATE, AnswerInterruptsInput(answers=answers, principal=principal), result_type=dict
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise types.get(cause.type or "", UserError)(cause.message) from None
        raise
    return result
