"""Starting runs and deciding approvals: the one code path the CLI, the API and the evals share.

Input is validated here, before a workflow exists, so bad input costs nothing and names the field.
Decisions go to the workflow's ``decide`` update; its validator is the authority on roles and separation
of duties, and its refusals come back as typed errors (Forbidden, Conflict, NotFound, UserError).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agents.registry import get_assistant
from guards.detectors import mask_cardholder_value
from guards.types import ApprovalDecision, Principal
from runtime.errors import Conflict, Forbidden, NotFound, UserError
from runtime.proofs import DecisionSigner
from runtime.store import Store
from runtime.workflow import WORKFLOW_NAME, AgentRunInput, AgentRunResult


def new_run_id() -> str:
    return f"run-{uuid.uuid4()}"


def validate_input(assistant_id: str, payload: Any) -> dict[str, Any]:
    """Check the assistant exists and the input matches its schema; errors name the field."""
    try:
        spec = get_assistant(assistant_id)
    except KeyError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    if not isinstance(payload, dict):
        raise UserError(f"input: must be an object, got {type(payload).__name__}")
    from agents.input_fields import EXTRA_MESSAGE, unknown_input_fields

    unknown = unknown_input_fields(spec.name, payload)  # refused, never dropped (agents.input_fields)
    if unknown:
        raise UserError("; ".join(f"input.{path}: {EXTRA_MESSAGE}" for path in unknown))
    model = spec.input_model
    data = payload
    if model is not None:
        try:
            data = model.model_validate(payload).model_dump(mode="json", exclude_none=True)
        except ValidationError as exc:
            problems = "; ".join(f"input.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise UserError(problems) from None
    return guard_input(spec.name, data)


def guard_input(assistant_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Mask cardholder data, then the assistant's input guards; a block names the field (the workflow checks
    again before any node).

    Card numbers and security codes are masked in every field whatever the profile says (PCI DSS 3.3/3.4:
    never stored, never echoed); other personal data in free text is masked per the guard profile.
    """
    from guards.points import run_point

    outcome = run_point("input", mask_cardholder_value(data), assistant_id, free_text=input_free_text(assistant_id))
    if outcome.blocked is not None:
        v = outcome.blocked
        raise UserError(
            f"input.{v.path}: {v.message} (guard {v.validator})"
            if v.path
            else f"input: {v.message} (guard {v.validator})"
        )
    return outcome.value


def input_free_text(assistant_id: str) -> frozenset[str] | None:
    """Free-text leaf paths of the assistant's input schema (None when it declares none: every leaf counts)."""
    from guards.points import free_text_paths

    try:
        schema = get_assistant(assistant_id).input_schema
    except KeyError:
        return None
    return free_text_paths(schema) if schema else None


async def start_run(
    client: Client,
    store: Store,
    task_queue: str,
    assistant_id: str,
    payload: Any,
    requester: Principal,
    thread_id: str | None = None,
    run_id: str | None = None,
    validate: bool = True,
    recorded: bool = False,
    thread_state: dict[str, Any] | None = None,
) -> WorkflowHandle[Any, AgentRunResult]:
    """``recorded``: the caller already wrote the run with ``record_run`` (the API's dispatcher does, in the
    transaction that checks its thread is free), and passes the thread state it returned, if it has it."""
    # Unvalidated input (a stand-in's scripted proposal) still never carries a card number into the store
    # or Temporal's history.
    data = validate_input(assistant_id, payload) if validate else mask_cardholder_value(dict(payload))
    run_id = run_id or new_run_id()
    thread_id = thread_id or f"thread-{uuid.uuid4()}"
    if not recorded:
        # The store is synchronous: its round trips run off the event loop (the API serves other requests).
        thread_state = await asyncio.to_thread(record_run, store, requester, assistant_id, data, thread_id, run_id)
    return await client.start_workflow(
        WORKFLOW_NAME,
        AgentRunInput(
            run_id=run_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            input=data,
            requester=requester.model_dump(),
            tenant=requester.tenant,
            inline_nodes=True,
            thread_state=thread_state,
            records_ride=True,
        ),
        id=run_id,
        task_queue=task_queue,
        result_type=AgentRunResult,
    )


def record_run(
    store: Store, requester: Principal, assistant_id: str, data: dict[str, Any], thread_id: str, run_id: str
) -> dict[str, Any]:
    """The run's row (and its thread's, if new) and its ``run_started`` event, in one transaction, refusing a
    thread of another tenant as not found.

    ``run_started`` is written here, as the run is handed to Temporal, rather than only by the workflow's first
    step (``begin_run`` writes the same event under the same key, which the log keeps once): a stream shows
    the run's input as soon as the run exists, not after a workflow task and a local activity. A run whose
    start then fails is marked ``error`` by its starter.

    Returns the thread's saved state, read here, which the run starts from (``AgentRunInput.thread_state``).
    """
    thread = store.get_thread(thread_id)
    if thread is not None and thread["tenant"] != requester.tenant:
        raise NotFound(f"thread {thread_id!r} not found")
    with store.batch():
        store.create_run(run_id, thread_id, assistant_id, requester.tenant, requester.id, data)
        store.append_events(run_id, [run_started_event(assistant_id, thread_id, requester.id)])
    return dict(thread["state"] or {}) if thread is not None else {}


def run_started_event(assistant_id: str, thread_id: str, requester: str | None) -> tuple[str, str, dict[str, Any]]:
    """The ``run_started`` event (key ``begin``: one per run, whoever writes it first)."""
    return ("begin", "run_started", {"assistant_id": assistant_id, "thread_id": thread_id, "requester": requester})


_ERROR_TYPES: dict[str, type[UserError]] = {
    "Forbidden": Forbidden,
    "Conflict": Conflict,
    "NotFound": NotFound,
    "ValidationError": UserError,
    "Unauthorized": Forbidden,
}


def principal_for_key(store: Store, secret: str | None) -> Principal:
    """The principal an API key stands for (only its hash is looked up); the API's and scripted approvers'
    one way to an identity."""
    row = store.lookup_api_key(secret) if secret and len(secret) <= 200 else None
    if row is None:
        raise Forbidden("invalid or revoked API key (create one with: steward keys create)")
    return Principal(id=row["principal"], tenant=row["tenant"], roles=list(row["roles"]))


async def decide_with_key(
    client: Client,
    store: Store,
    api_key: str,
    approval_id: str,
    action: str,
    *,
    args: dict[str, Any] | None = None,
    comment: str | None = None,
    response: str | None = None,
    signer: DecisionSigner | None = None,
) -> dict[str, Any]:
    """Decide as the holder of ``api_key``, in process (evals, benchmarks, tests): the key is authenticated
    against the store exactly as the API does, then the decision is signed and sent like the API's."""
    from runtime.settings import get_settings

    try:
        decision = ApprovalDecision.model_validate(
            {
                "approval_id": approval_id,
                "action": action,
                "principal": principal_for_key(store, api_key),
                "args": args,
                "comment": comment,
                "response": response,
            }
        )
    except ValidationError as exc:
        raise UserError("; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())) from None
    return await decide(client, store, decision, signer or DecisionSigner.from_settings(get_settings()))


@dataclass
class KeyedApprovers:
    """Scripted approvers (evals, the red-team harness, benchmarks, tests) that decide like everyone else:
    each principal is issued an API key in the store once, as ``steward keys create`` would, and every
    decision is made with that key through ``decide_with_key``; nothing here can skip the proof."""

    client: Client
    store: Store
    signer: DecisionSigner | None = None
    _keys: dict[tuple[str, str, tuple[str, ...]], str] = field(default_factory=dict)

    def key_for(self, principal: Principal) -> str:
        ident = (principal.id, principal.tenant, tuple(sorted(principal.roles)))
        if ident not in self._keys:
            _, self._keys[ident] = self.store.create_api_key(principal.id, principal.tenant, list(principal.roles))
        return self._keys[ident]

    async def decide(self, decision: ApprovalDecision) -> dict[str, Any]:
        """Decide with the API key of ``decision.principal`` (issued on first use)."""
        return await decide_with_key(
            self.client,
            self.store,
            self.key_for(decision.principal),
            decision.approval_id,
            decision.action,
            args=decision.args,
            comment=decision.comment,
            response=decision.response,
            signer=self.signer,
        )


async def decide(client: Client, store: Store, decision: ApprovalDecision, signer: DecisionSigner) -> dict[str, Any]:
    """Send an authenticated principal's decision to the run that waits for it; typed errors for every refusal.

    ``decision.principal`` must come from an authenticated API key (the API's dependency or
    ``principal_for_key``): the proof minted here vouches for it, and the workflow accepts nothing else.
    """
    approval = await asyncio.to_thread(store.get_approval, decision.approval_id)
    if approval is None or approval["tenant"] != decision.principal.tenant:
        raise NotFound(f"approval {decision.approval_id!r} not found")
    if approval["status"] not in ("pending",):
        raise Conflict(f"approval {decision.approval_id!r} is not pending: it is {approval['status']}")
    handle = client.get_workflow_handle(approval["run_id"])
    try:
        return await handle.execute_update("decide", signer.sign(decision), result_type=dict)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise _ERROR_TYPES.get(cause.type or "", UserError)(cause.message) from None
        raise UserError(str(cause or exc)) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"approval {decision.approval_id!r}: its run is no longer running") from None
        raise
