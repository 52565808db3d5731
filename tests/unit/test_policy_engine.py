"""The CEL policy engine: first match wins, fail closed, consent and confidence, hot reload that keeps the
last good policy, and load errors that name the line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from guards.policy import DEFAULT_POLICY_FILE, PolicyEngine, PolicyError, PolicyInput
from guards.types import Principal, has_role

ALICE = Principal(id="alice", roles=["operator"])


def inp(
    tool: str = "approve_loan",
    risk: str = "high",
    side_effect: bool = True,
    consent: dict | None = None,
    confidence: float = 1.0,
    **args: object,
) -> PolicyInput:
    return PolicyInput(
        tool=tool,
        risk=risk,
        side_effect=side_effect,
        args=dict(args),
        tenant="default",
        requester=ALICE,
        consent=consent or {},
        model_confidence=confidence,
    )


def test_default_policy_decisions() -> None:
    engine = PolicyEngine()
    assert engine.decide(inp("credit_check", "low", False)).effect == "allow"
    high = engine.decide(inp(amount=1000))
    assert (high.effect, high.required_role, high.on_timeout, high.escalate_to, high.approvals_required) == (
        "require_approval",
        "approver",
        "escalate",
        "senior_approver",
        1,
    )
    huge = engine.decide(inp(amount=300000))
    assert (huge.rule_id, huge.required_role, huge.approvals_required) == (
        "high-amount-two-seniors",
        "senior_approver",
        2,
    )
    assert engine.decide(inp(amount=6_000_000)).rule_id == "deny-over-ceiling"
    assert engine.decide(inp("notify_customer", "medium", True)).effect == "require_approval"
    assert engine.decide(inp("external_wire_transfer", "high", True)).effect == "deny"
    assert huge.policy_version.startswith("2026-11-25.2+")


def test_data_without_consent_for_the_purpose_is_refused() -> None:
    engine = PolicyEngine()
    refused = engine.decide(inp("credit_check", "low", False, consent={"credit_assessment": False}))
    assert (refused.effect, refused.rule_id) == ("deny", "deny-without-consent")
    allowed = engine.decide(inp("credit_check", "low", False, consent={"credit_assessment": True, "marketing": False}))
    assert allowed.effect == "allow"


def test_low_model_confidence_needs_review() -> None:
    decision = PolicyEngine().decide(inp("refer_to_underwriter", "low", True, confidence=0.3))
    assert (decision.effect, decision.rule_id) == ("require_approval", "low-confidence-review")
    assert PolicyEngine().decide(inp("refer_to_underwriter", "low", True, confidence=0.9)).effect == "allow"


def _write(path: Path, rules: list[dict], version: str = "1") -> None:
    path.write_text(yaml.safe_dump({"version": version, "rules": rules}, sort_keys=False))


def test_no_matching_rule_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    _write(path, [{"id": "only-low", "when": "tool.risk == 'low'", "effect": "allow", "reason": "ok"}])
    decision = PolicyEngine(path).decide(inp())
    assert (decision.effect, decision.rule_id) == ("deny", "<none>")


def test_a_rule_that_fails_to_evaluate_denies(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    _write(path, [{"id": "needs-amount", "when": "args.amount > 10.0", "effect": "allow", "reason": "x"}])
    decision = PolicyEngine(path).decide(inp())
    assert decision.effect == "deny" and "needs-amount" in decision.reason


def test_hot_reload_and_a_broken_edit_keeps_the_last_good_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    doc = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    engine = PolicyEngine(path)
    v1 = engine.version
    doc["rules"].insert(0, {"id": "freeze", "when": "true", "effect": "deny", "reason": "freeze"})
    doc["version"] = "2"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.utime(path, ns=(1, 10**18))
    assert engine.decide(inp("credit_check", "low", False)).rule_id == "freeze"
    assert engine.version != v1 and engine.version.startswith("2+")
    text = path.read_text().replace("when: 'true'", "when: tool.risk ==")
    path.write_text(text)
    os.utime(path, ns=(1, 2 * 10**18))
    assert engine.decide(inp("credit_check", "low", False)).rule_id == "freeze"
    assert engine.last_error and "invalid CEL" in engine.last_error and "keeping version 2+" in engine.last_error


def test_syntax_errors_are_refused_with_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: '1'\nrules:\n  - id: a\n    when: tool.risk == \n    effect: allow\n    reason: x\n")
    with pytest.raises(PolicyError, match=r"p.yaml:4: rule 'a': invalid CEL"):
        PolicyEngine(path)
    path.write_text("version: '1'\nrules:\n  - id: a\n    when: [unclosed\n")
    with pytest.raises(PolicyError, match=r"p.yaml:\d+: YAML syntax error"):
        PolicyEngine(path)
    _write(path, [{"id": "r", "when": "true", "effect": "require_approval", "reason": "x"}])
    with pytest.raises(PolicyError, match="rule 'r': require_approval needs required_role"):
        PolicyEngine(path)
    _write(path, [{"id": "r", "when": "true", "effect": "maybe", "reason": "x"}])
    with pytest.raises(PolicyError, match="effect 'maybe'"):
        PolicyEngine(path)


def test_roles() -> None:
    assert has_role(Principal(id="a", roles=["admin"]), "senior_approver")
    assert has_role(Principal(id="a", roles=["senior_approver"]), "approver")
    assert not has_role(Principal(id="a", roles=["approver"]), "senior_approver")
    assert not has_role(Principal(id="a", roles=["viewer"]), "approver")
