"""Shared value types for principals, policy decisions and approvals.

They are pydantic models because they cross every boundary: HTTP bodies, Temporal payloads (the pydantic
data converter), LangGraph interrupt values and the SQLite store.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Effect = Literal["allow", "deny", "require_approval"]
DecisionAction = Literal["approve", "edit", "reject", "respond"]
DECISION_ACTIONS: tuple[str, ...] = ("approve", "edit", "reject", "respond")
ROLES: tuple[str, ...] = ("viewer", "operator", "approver", "senior_approver", "admin")


class Principal(BaseModel):
    """Who is acting: resolved from an API key, or given on the CLI for local use."""

    id: str = Field(min_length=1, max_length=200)
    tenant: str = Field(default="default", min_length=1, max_length=100)
    roles: list[str] = Field(default_factory=list)


def has_role(principal: Principal, role: str) -> bool:
    """Admins hold every role; a senior approver also holds the approver role."""
    roles = set(principal.roles)
    if "admin" in roles or role in roles:
        return True
    return role == "approver" and "senior_approver" in roles


class PolicyDecision(BaseModel):
    """What the policy engine said about one tool call, and which rule and policy version said it."""

    effect: Effect
    reason: str
    rule_id: str
    policy_version: str
    required_role: str | None = None
    approvals_required: int = 1
    deadline_s: float | None = None
    on_timeout: Literal["escalate", "reject"] = "reject"
    escalate_to: str | None = None
    escalation_deadline_s: float | None = None


class ApprovalRequest(BaseModel):
    """The value a guarded tool node passes to LangGraph's ``interrupt()``: everything an approver needs."""

    approval_id: str
    run_id: str
    thread_id: str
    tenant: str
    assistant_id: str
    tool: str
    tool_call_id: str
    args: dict[str, Any]
    reason: str
    risk: str
    required_role: str
    requester: str
    deadline_s: float
    on_timeout: Literal["escalate", "reject"] = "reject"
    escalate_to: str | None = None
    escalation_deadline_s: float | None = None
    rule_id: str = ""
    policy_version: str = ""
    approvals_required: int = 1
    """Two for the highest risk: distinct approvers, none of them the requester."""


class ApprovalDecision(BaseModel):
    """An operator's decision on one approval request (the payload of the workflow's ``decide`` update)."""

    approval_id: str = Field(min_length=1)
    action: DecisionAction
    principal: Principal
    args: dict[str, Any] | None = None
    comment: str | None = Field(default=None, max_length=4000)
    response: str | None = Field(default=None, max_length=20000)
    proof: str | None = Field(default=None, max_length=4000)
    """Signed by the API for the authenticated principal (``runtime.proofs``); the workflow refuses a
    decision without a valid one that matches this decision's content."""
