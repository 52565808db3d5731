"""The outcome of a run, typed: what was decided, who decided it, on what basis, what was done, who wrote what.

One model for every agent (``Outcome``), so the audit, the console, the evals and a bank's reviewer read the
same fields whichever agent ran. An agent with more to say subclasses it (its own fields land beside these in
the serialised dict, so existing readers of ``outcome["decision"]`` keep working); ``extra`` is for the odd
field that does not deserve a type yet.

It lives in ``guards`` because guards imports nothing of ours: agents, tools, runtime, server and evals can
all use it. The outcome crosses Temporal and the app store as a dict (``Outcome.public()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Delivery(StrEnum):
    """What happened to an action downstream, as far as Steward knows it (the one definition: the adapters in
    ``tools.adapters``, the outbox and the outcome all use it)."""

    SIMULATED = "simulated"
    """Nothing left Steward: the simulated adapter."""
    QUEUED = "queued"
    """In the outbox, not yet acknowledged by the receiver (maybe sent, maybe retried)."""
    DELIVERED = "delivered"
    """The receiver answered 2xx to a send carrying the idempotency key."""
    FAILED = "failed"
    """The receiver refused it for good (a 4xx other than 408/425/429), or the retries were used up."""


ActionStatus = Literal["approved", "executed", "edited", "rejected", "denied", "responded", "failed", "pending"]

RULES = "rules"
MODEL = "model"


def template(name: str) -> str:
    """The author label of text filled in from the named template: ``template:<name>``."""
    return f"template:{name}"


class Basis(BaseModel):
    """What a decision rests on. Agent-specific entries (the sanctions list version, where evidence came
    from) are allowed beside the common ones."""

    model_config = ConfigDict(extra="allow")

    rules: list[str] = Field(default_factory=list, description="Rulesets that evaluated, as name@version.")
    rules_fired: list[str] = Field(default_factory=list)
    score: dict[str, Any] | None = Field(default=None, description="The scoring model's answer, if one was used.")
    policy_rules: list[str] = Field(default_factory=list, description="Policy rule ids that gated the actions.")
    citations: list[str] = Field(default_factory=list, description="Ids of the policy passages cited.")


class ActionOutcome(BaseModel):
    """One action the run proposed against the world, and what became of it.

    ``adapter``/``delivery`` come from the tool's own result (``output["action"]``, written by the adapter
    seam); they stay None when the action never executed (rejected, denied), so nothing here claims a
    delivery that the adapter did not report.
    """

    tool: str
    status: ActionStatus | str
    adapter: str | None = Field(default=None, description="simulated | webhook | ...; None: never executed.")
    delivery: Delivery | None = None
    idempotency_key: str | None = None
    attempts: int = 0
    last_error: str | None = None
    decided_by: str | None = None
    approval_id: str | None = None
    policy_rule: str | None = Field(default=None, description="The policy rule that gated the call.")
    policy_version: str | None = None

    @classmethod
    def from_tool_result(cls, result: dict[str, Any]) -> ActionOutcome:
        """From a guarded tool node's result (``agents.guarded``): its status, who decided, the adapter's report."""
        output = result.get("output")
        action = output.get("action") if isinstance(output, dict) else None
        status = str(result.get("status") or "pending")
        if status == "executed":
            status = "edited" if result.get("edited") else ("approved" if result.get("approval_id") else "executed")
        reported = {k: v for k, v in (action or {}).items() if k in cls.model_fields and k not in ("tool", "status")}
        return cls(
            tool=str(result.get("tool")),
            status=status,
            decided_by=result.get("decided_by"),
            approval_id=result.get("approval_id"),
            policy_rule=result.get("policy_rule") or None,
            policy_version=result.get("policy_version") or None,
            **reported,
        )


class AuthoredText(BaseModel):
    """A text the run produced, with its author: ``model``, ``rules`` or ``template:<name>``."""

    text: str
    by: str
    node: str | None = None
    model: str | None = Field(default=None, description="The model that wrote it (by == 'model').")
    prompt: str | None = Field(default=None, description="name@version of the prompt sent (by == 'model').")


class Outcome(BaseModel):
    """A run's outcome: decision, who decided, on what basis, the actions and the texts with their authors."""

    model_config = ConfigDict(extra="forbid")

    decision: str
    decided_by: str = Field(description="'rules' | 'model' | 'policy' | the principal who decided.")
    basis: Basis = Field(default_factory=Basis)
    actions: list[ActionOutcome] = Field(default_factory=list)
    texts: list[AuthoredText] = Field(default_factory=list)
    prompt_versions: list[str] = Field(
        default_factory=list, description="name@version of every prompt sent to a model in this run."
    )
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _policy_rules_from_actions(self) -> Outcome:
        """``basis.policy_rules`` names every rule that gated an action: derived here, once, from the actions'
        own results, so no agent can leave it empty while its actions were gated by policy."""
        for action in self.actions:
            if action.policy_rule and action.policy_rule not in self.basis.policy_rules:
                self.basis.policy_rules.append(action.policy_rule)
        return self

    def public(self) -> dict[str, Any]:
        """The JSON-ready dict that the run result, the app store and the audit carry."""
        return self.model_dump(mode="json")


def actions_of(results: Iterable[dict[str, Any]], is_action: Callable[[str], bool]) -> list[ActionOutcome]:
    """The actions among a run's tool results (``is_action(tool)``: it acts on the world), in order."""
    return [ActionOutcome.from_tool_result(r) for r in results if is_action(str(r.get("tool")))]


def prompts_of(texts: Iterable[AuthoredText]) -> list[str]:
    """The distinct prompt versions behind the model-written texts, in order of first use."""
    return list(dict.fromkeys(t.prompt for t in texts if t.prompt))
