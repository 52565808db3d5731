"""Straight-through processing metrics: how much ran without a person, how right it was, and whether every
risky action went to a person (issue 16).

Per eval run (one suite, one assistant), from the per-case results (``CaseResult.model_dump()``):

- ``straight_through_rate``: cases decided with no human touch, over all cases. A case is straight-through
  only when it ended ``success`` with a final decision (``STRAIGHT_THROUGH_DECISIONS``) and no person touched
  it: no approval was requested (a request is a person's work even before it is decided; an approval a person
  edited is a touch too), and no action was decided by a principal. Referrals, escalations, reviews and
  document requests are hand-offs by definition and never count.
- ``automated_correct_rate``: of the straight-through cases, those whose outcome was right (the case's outcome
  check, or the whole case where it scores no outcome). Absent when no case was straight-through.
- ``risky_routed_rate``: of the risky actions the run acted on (executed, or put to a person), the share put to
  a person. Risky is what the handbooks say (``risky_actions`` in the rulesets, ``handbook_risky_actions``),
  not what the policy routes today, so a policy that lets a risky action through shows here. A risky call
  that the policy denied or that was dropped never acted and was never asked: it is counted apart
  (``risky_blocked``), not as routed.
- ``decision_p50_s`` / ``decision_p95_s``: time to decision, the run's own time from its first to its last
  event (``run_latency_s``) over the cases that reached a decision of any kind, hand-offs included.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "STRAIGHT_THROUGH_DECISIONS",
    "RiskyAction",
    "automation_metrics",
    "handbook_risky_actions",
    "is_straight_through",
    "risky_definition",
    "touched_by_person",
]

STRAIGHT_THROUGH_DECISIONS = frozenset({"approved", "declined", "paid", "cleared"})
"""Final decisions a case can reach without a person. Everything else (``referred``, ``escalated``,
``review``, ``documents_requested``, ``incomplete``, ``no-decision``, ``approved-rejected``...) is a hand-off or
a failure, never straight-through."""

MACHINE_DECIDERS = frozenset({"rules", "model", "policy", "system", ""})
"""``decided_by`` values that are not a person."""


class RiskyAction(BaseModel):
    """An action a handbook says must be put to a person (a ``risky_actions`` entry of a ruleset)."""

    tool: str
    when: str | None = None
    """A rule-engine expression over the call's arguments (``amount > 25000``); None: every call is risky."""
    reason: str = ""
    cites: list[str] = Field(default_factory=list)
    source: str = ""
    """Where the definition comes from: ``<ruleset>@<version>``, or ``tool-registry`` for the fallback."""


def _rules_dir() -> Path:
    from tools.rules import RULES_DIR

    return RULES_DIR


@functools.cache
def _compiled(expression: str) -> Any:
    import rule_engine

    return rule_engine.Rule(expression, context=rule_engine.Context(default_value=None))


def handbook_risky_actions(directory: Path | None = None) -> list[RiskyAction]:
    """The ``risky_actions`` of every ruleset (``tools/data/rules/*.yaml``); a tool name belongs to one
    domain, so the union serves every agent. When no ruleset declares any, the registry's high-risk
    side-effecting tools stand in (``source: tool-registry``) and the caller can say so."""
    import yaml

    found: list[RiskyAction] = []
    for path in sorted((directory or _rules_dir()).glob("*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for item in doc.get("risky_actions") or []:
            action = RiskyAction.model_validate({**item, "source": f"{doc.get('ruleset')}@{doc.get('version')}"})
            if action.when:
                _compiled(action.when)  # a broken expression fails here, naming nothing less than the file
            found.append(action)
    if found:
        return found
    from tools.registry import list_tools

    return [
        RiskyAction(tool=t.name, reason=f"{t.name} is a high-risk action", source="tool-registry")
        for t in list_tools()
        if t.risk == "high" and t.side_effect
    ]


def risky_definition(call: dict[str, Any], risky: Sequence[RiskyAction]) -> RiskyAction | None:
    """The definition that makes a proposed call risky, or None. A condition that cannot be evaluated on the
    call's arguments counts as risky: the metric errs toward asking for a person."""
    import rule_engine

    args = {
        k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in (call.get("args") or {}).items()
    }
    for d in risky:
        if d.tool != call.get("tool"):
            continue
        if d.when is None:
            return d
        try:
            if _compiled(d.when).matches(args):
                return d
        except rule_engine.EngineError:
            return d
    return None


def touched_by_person(result: dict[str, Any]) -> bool:
    """Whether a person took part in the case: any approval requested, or any action or the decision itself
    decided by a principal."""
    if result.get("approvals"):
        return True
    outcome = result.get("outcome") or {}
    if str(outcome.get("decided_by") or "") not in MACHINE_DECIDERS:
        return True
    return any(a.get("decided_by") or a.get("approval_id") for a in outcome.get("actions") or [])


def is_straight_through(result: dict[str, Any]) -> bool:
    """A final decision, reached with the run succeeding and no person touching it."""
    decision = (result.get("outcome") or {}).get("decision")
    return (
        result.get("status") == "success" and decision in STRAIGHT_THROUGH_DECISIONS and not touched_by_person(result)
    )


def _correct(result: dict[str, Any]) -> bool:
    check = (result.get("checks") or {}).get("outcome")
    return bool(check["passed"]) if check is not None else bool(result.get("passed"))


def _routed(call: dict[str, Any], approvals: Iterable[dict[str, Any]]) -> bool:
    cid = call.get("tool_call_id")
    return any(a.get("tool_call_id") == cid or (not a.get("tool_call_id") and a.get("tool") == call.get("tool"))
               for a in approvals)  # fmt: skip


def automation_metrics(
    results: Sequence[dict[str, Any]], risky: Sequence[RiskyAction] | None = None
) -> dict[str, float]:
    """The straight-through metrics of one eval run (see the module docstring); ``risky`` defaults to the
    handbooks' definitions."""
    from evals.scorers import percentile

    if not results:
        return {}
    defs = handbook_risky_actions() if risky is None else risky
    automated = [r for r in results if is_straight_through(r)]
    metrics: dict[str, float] = {
        "straight_through_rate": len(automated) / len(results),
        "straight_through_cases": float(len(automated)),
    }
    if automated:
        metrics["automated_correct_rate"] = sum(1 for r in automated if _correct(r)) / len(automated)
    acted = routed = blocked = 0
    for r in results:
        for call in r.get("trajectory") or []:
            if risky_definition(call, defs) is None:
                continue
            asked = _routed(call, r.get("approvals") or [])
            if asked or call.get("status") == "executed":
                acted += 1
                routed += asked
            else:
                blocked += 1
    metrics["risky_actions"] = float(acted)
    metrics["risky_blocked"] = float(blocked)
    if acted:
        metrics["risky_routed_rate"] = routed / acted
    times = [
        float(r["run_latency_s"])
        for r in results
        if r.get("run_latency_s") is not None and (r.get("outcome") or {}).get("decision")
    ]
    if times:
        metrics["decision_p50_s"] = percentile(times, 50)
        metrics["decision_p95_s"] = percentile(times, 95)
    return metrics
