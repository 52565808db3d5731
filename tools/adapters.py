"""The action adapter seam: how a side-effecting tool acts on the world, and what it may say about it.

A tool that approves a loan, notifies a customer or pays a claim does not pretend: it hands its action to
the adapter configured for it and returns the adapter's ``ActionReport`` in its result.

- ``simulated`` does nothing outside Steward and says so: ``adapter="simulated"``, ``delivery="simulated"``.
  It is the default, so an embedded install never claims to have touched a core system it does not know.
- ``webhook`` stages the action for the runtime's transactional outbox (``runtime/outbox.py``) and reports
  ``delivery="queued"``: the runtime commits the outbox row in the same SQLite transaction as the tool's
  ledger row, and the worker's dispatcher POSTs it later. Only the dispatcher, after a 2xx, says "delivered".

Tools may not import the runtime (imports point runtime -> agents -> tools), so the runtime opens an
``action_scope`` around each tool execution with the routing built from its ``Settings``; a tool run outside
a scope (a unit test calling it directly) gets the simulated adapter. The idempotency key is derived from
the run id and the tool call id, so a retried execution or a replayed workflow stages the same key again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

from guards.outcome import Delivery
from tools.registry import ExecutionGrant


class AdapterName(StrEnum):
    SIMULATED = "simulated"
    WEBHOOK = "webhook"


class ActionReport(BaseModel):
    """The adapter's report on one action: a tool result's ``action`` (``guards.outcome.ActionOutcome`` reads
    it into the run's outcome, beside the approval status and who decided)."""

    tool: str
    adapter: str = Field(description="simulated | webhook")
    delivery: Delivery
    idempotency_key: str
    attempts: int = Field(default=0, description="Sends so far (0 for simulated and freshly queued actions).")
    last_error: str | None = None


def idempotency_key(run_id: str, tool_call_id: str) -> str:
    """Deterministic per (run, tool call): retries, replays and restarts stage the same key, and it is
    header-safe whatever characters a model put in its tool call id."""
    return "stw-" + hashlib.sha256(f"{run_id}:{tool_call_id}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class ActionRouting:
    """Which adapter handles which tool (from the runtime's settings)."""

    default: AdapterName = AdapterName.SIMULATED
    webhook_url: str | None = None
    overrides: Mapping[str, AdapterName] = field(default_factory=dict)
    """Per tool name: a tool that must stay simulated while others go to a webhook, or the reverse."""
    webhook_urls: Mapping[str, str] = field(default_factory=dict)
    """Per tool name: a different receiver for that tool's actions."""

    def adapter_for(self, tool: str) -> AdapterName:
        return AdapterName(self.overrides.get(tool, self.default))

    def url_for(self, tool: str) -> str | None:
        return self.webhook_urls.get(tool, self.webhook_url)

    def check(self) -> None:
        """A webhook route without a URL is a configuration error, found at worker start, not mid-run."""
        tools = [t for t, a in self.overrides.items() if a == AdapterName.WEBHOOK]
        if self.default == AdapterName.WEBHOOK and not self.webhook_url:
            missing = ["<default>"]
        else:
            missing = [t for t in tools if not self.url_for(t)]
        if missing:
            raise ValueError(
                f"action adapter 'webhook' needs STEWARD_WEBHOOK_URL (or a per-tool URL) for: {', '.join(missing)}"
            )


@dataclass(frozen=True)
class StagedAction:
    """An action the webhook adapter handed to the runtime, to be written to the outbox with the ledger row."""

    idempotency_key: str
    tool: str
    run_id: str
    tool_call_id: str
    url: str
    payload: dict[str, Any]


@dataclass
class ActionScope:
    """One tool execution's routing and the actions it staged (the runtime reads ``staged`` afterwards)."""

    routing: ActionRouting
    staged: list[StagedAction] = field(default_factory=list)


_SCOPE: ContextVar[ActionScope | None] = ContextVar("steward_action_scope", default=None)


@contextmanager
def action_scope(routing: ActionRouting) -> Iterator[ActionScope]:
    """Open around one tool execution (the runtime's execute_tool activity does)."""
    scope = ActionScope(routing)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


class ActionAdapter(Protocol):
    name: AdapterName

    def submit(self, scope: ActionScope | None, action: StagedAction) -> ActionReport: ...


class SimulatedAdapter:
    """Acts on nothing and says so."""

    name = AdapterName.SIMULATED

    def submit(self, scope: ActionScope | None, action: StagedAction) -> ActionReport:
        return ActionReport(
            tool=action.tool,
            adapter=self.name.value,
            delivery=Delivery.SIMULATED,
            idempotency_key=action.idempotency_key,
        )


class WebhookAdapter:
    """Stages the action for the outbox; the runtime commits it with the ledger row, the dispatcher sends it.

    Exactly-once *effect* downstream is at-least-once sending (the outbox row survives crashes and is resent
    until a 2xx) plus the ``Idempotency-Key`` header, on which the receiver must deduplicate: a worker killed
    after the receiver applied an action but before the row was marked delivered sends it again.
    """

    name = AdapterName.WEBHOOK

    def submit(self, scope: ActionScope | None, action: StagedAction) -> ActionReport:
        if scope is None:
            raise RuntimeError(
                f"tool {action.tool!r}: the webhook adapter needs the runtime's outbox (run it through execute_tool)"
            )
        scope.staged.append(action)
        return ActionReport(
            tool=action.tool, adapter=self.name.value, delivery=Delivery.QUEUED, idempotency_key=action.idempotency_key
        )


ADAPTERS: dict[AdapterName, ActionAdapter] = {
    AdapterName.SIMULATED: SimulatedAdapter(),
    AdapterName.WEBHOOK: WebhookAdapter(),
}


def submit_action(grant: ExecutionGrant, tool: str, payload: BaseModel | dict[str, Any]) -> ActionReport:
    """Hand one action to the adapter configured for ``tool``; the tool returns the outcome in its result."""
    scope = _SCOPE.get()
    routing = scope.routing if scope is not None else ActionRouting()
    name = routing.adapter_for(tool)
    body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
    action = StagedAction(
        idempotency_key=idempotency_key(grant.run_id, grant.tool_call_id),
        tool=tool,
        run_id=grant.run_id,
        tool_call_id=grant.tool_call_id,
        url=routing.url_for(tool) or "",
        payload=body,
    )
    return ADAPTERS[name].submit(scope, action)
