"""Guards: the types every layer shares about principals, approvals and policy, and the policy engine.

Nothing here imports the rest of Steward, so agents, tools, runtime and server can all depend on it.
"""

from guards.outcome import ActionOutcome, AuthoredText, Basis, Outcome
from guards.policy import PolicyEngine, PolicyInput, load_policy_engine
from guards.types import (
    DECISION_ACTIONS,
    ApprovalDecision,
    ApprovalRequest,
    PolicyDecision,
    Principal,
    has_role,
)

__all__ = [
    "DECISION_ACTIONS",
    "ActionOutcome",
    "ApprovalDecision",
    "ApprovalRequest",
    "AuthoredText",
    "Basis",
    "Outcome",
    "PolicyDecision",
    "PolicyEngine",
    "PolicyInput",
    "Principal",
    "has_role",
    "load_policy_engine",
]
