"""The first policy engine: rules as data, first match wins, fail closed, hot reload keeps the last good file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from guards.policy import DEFAULT_POLICY_FILE, PolicyEngine, PolicyInput
from guards.types import Principal, has_role

ALICE = Principal(id="alice", roles=["operator"])


def inp(tool: str = "approve_loan", risk: str = "high", side_effect: bool = True, **args: object) -> PolicyInput:
    return PolicyInput(
        tool=tool, risk=risk, side_effect=side_effect, args=dict(args), tenant="default", requester=ALICE
    )


def test_default_policy_decisions() -> None:
    engine = PolicyEngine()
    assert engine.decide(inp("credit_check", "low", False)).effect == "allow"
    high = engine.decide(inp(amount=1000))
    assert (high.effect, high.required_role, high.on_timeout, high.escalate_to) == (
        "require_approval",
        "approver",
        "escalate",
        "senior_approver",
    )
    huge = engine.decide(inp(amount=300000))
    assert (huge.rule_id, huge.required_role) == ("high-amount-senior", "senior_approver")
    assert engine.decide(inp("notify_customer", "medium", True)).effect == "require_approval"
    assert engine.decide(inp("external_wire_transfer", "high", True)).effect == "deny"
    assert huge.policy_version.startswith("2026-11-25.1+")


def test_no_matching_rule_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {
                "version": "1",
                "rules": [{"id": "only-low", "when": {"risk": ["low"]}, "effect": "allow", "reason": "ok"}],
            }
        )
    )
    decision = PolicyEngine(path).decide(inp())
    assert (decision.effect, decision.rule_id) == ("deny", "<none>")


def test_hot_reload_and_broken_edit_keeps_last_good(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    doc = json.loads(DEFAULT_POLICY_FILE.read_text())
    path.write_text(json.dumps(doc))
    engine = PolicyEngine(path)
    v1 = engine.version
    doc["rules"].insert(0, {"id": "freeze", "when": {}, "effect": "deny", "reason": "freeze"})
    doc["version"] = "2"
    path.write_text(json.dumps(doc))
    os.utime(path, ns=(1, 10**18))
    assert engine.decide(inp("credit_check", "low", False)).rule_id == "freeze"
    assert engine.version != v1
    path.write_text("{not json")
    os.utime(path, ns=(1, 2 * 10**18))
    assert engine.decide(inp("credit_check", "low", False)).rule_id == "freeze"


def test_invalid_rules_are_refused_with_the_rule_named(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {"version": "1", "rules": [{"id": "typo", "when": {"riks": ["high"]}, "effect": "allow", "reason": "x"}]}
        )
    )
    with pytest.raises(ValueError, match="rule 'typo': unknown condition"):
        PolicyEngine(path)
    path.write_text(
        json.dumps({"version": "1", "rules": [{"id": "r", "when": {}, "effect": "require_approval", "reason": "x"}]})
    )
    with pytest.raises(ValueError, match="require_approval needs required_role"):
        PolicyEngine(path)


def test_amount_condition_needs_a_number() -> None:
    engine = PolicyEngine()
    assert engine.decide(inp(amount="not-a-number")).rule_id == "high-risk-approval"


def test_roles() -> None:
    assert has_role(Principal(id="a", roles=["admin"]), "senior_approver")
    assert has_role(Principal(id="a", roles=["senior_approver"]), "approver")
    assert not has_role(Principal(id="a", roles=["approver"]), "senior_approver")
    assert not has_role(Principal(id="a", roles=["viewer"]), "approver")
