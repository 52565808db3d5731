"""Scorers: what a run did (read from the event log and the tool ledger) against what the case expects.

Every check is a pure function of an ``Observation`` (``evals.observation``) and the case, so the same scores
come out of a live run, a resumed eval and a unit test with hand-made events. A check the case leaves out is
not scored (None), and aggregates count only the cases that asked for it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from evals.automation import RiskyAction, automation_metrics
from evals.observation import Observation, ObservedApproval, ObservedCall, observe
from evals.suites import EvalCase, ExpectedCall

__all__ = [
    "CHECKS",
    "METRIC_DIRECTIONS",
    "QUALITY_METRICS",
    "Check",
    "Observation",
    "ObservedApproval",
    "ObservedCall",
    "aggregate",
    "observe",
    "register_args_matcher",
    "score_case",
]

ArgsMatcher = Callable[[dict[str, Any], dict[str, Any]], bool]


# -- value and argument matching -----------------------------------------------------------------------


def values_match(expected: Any, actual: Any, tolerance: float = 0.0) -> bool:
    """Equality that lets numbers differ by ``tolerance`` and compares dicts field by field (recursively)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(expected), float(actual), rel_tol=0.0, abs_tol=tolerance) or expected == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        same_keys = expected.keys() == actual.keys()
        return same_keys and all(values_match(v, actual[k], tolerance) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return False
        return all(values_match(a, b, tolerance) for a, b in zip(expected, actual, strict=True))
    return bool(expected == actual)


def _subset(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return all(k in actual and values_match(v, actual[k]) for k, v in expected.items())


_ARGS_MATCHERS: dict[str, ArgsMatcher] = {
    "exact": lambda exp, act: values_match(exp, act),
    "subset": _subset,
    "ignore": lambda exp, act: True,
}


def register_args_matcher(name: str, fn: ArgsMatcher) -> None:
    """Add a custom argument matcher a suite can name in ``args_match`` (``fn(expected, actual) -> bool``)."""
    if name in ("exact", "subset", "ignore"):
        raise ValueError(f"args matcher {name!r} is built in and cannot be replaced")
    _ARGS_MATCHERS[name] = fn


def known_args_modes() -> set[str]:
    return set(_ARGS_MATCHERS)


def _amount_within_1pct(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    """Example custom matcher: same keys as expected, ``amount`` within 1 %, the rest equal."""
    for k, v in expected.items():
        if k not in actual:
            return False
        if k == "amount":
            if not math.isclose(float(v), float(actual[k]), rel_tol=0.01):
                return False
        elif not values_match(v, actual[k]):
            return False
    return True


register_args_matcher("amount_within_1pct", _amount_within_1pct)


def _args_mode(case_mode: str | dict[str, str], tool: str) -> str:
    if isinstance(case_mode, str):
        return case_mode
    return case_mode.get(tool, case_mode.get("*", "subset"))


def call_matches(expected: ExpectedCall, actual: ObservedCall, args_mode: str | dict[str, str]) -> bool:
    if expected.tool != actual.tool:
        return False
    if expected.status is not None and expected.status != actual.status:
        return False
    if expected.args is None:
        return True
    return _ARGS_MATCHERS[_args_mode(args_mode, actual.tool)](expected.args, actual.args)


# -- checks --------------------------------------------------------------------------------------------


class Check(BaseModel):
    """One scored aspect of a case: passed or not, and in words why not."""

    passed: bool
    detail: str = ""


def _max_matching(n_left: int, n_right: int, ok: Callable[[int, int], bool]) -> list[int | None]:
    """Maximum bipartite matching (augmenting paths); returns for each left item its right partner or None."""
    match_right: list[int | None] = [None] * n_right

    def attempt(i: int, seen: set[int]) -> bool:
        for j in range(n_right):
            if j in seen or not ok(i, j):
                continue
            seen.add(j)
            if match_right[j] is None or attempt(match_right[j], seen):  # type: ignore[arg-type]
                match_right[j] = i
                return True
        return False

    for i in range(n_left):
        attempt(i, set())
    left: list[int | None] = [None] * n_left
    for j, partner in enumerate(match_right):
        if partner is not None:
            left[partner] = j
    return left


def _describe(call: ObservedCall | ExpectedCall) -> str:
    status = f"[{call.status}]" if getattr(call, "status", None) else ""
    return f"{call.tool}{status}"


def trajectory_check(
    expected: list[ExpectedCall], actual: list[ObservedCall], mode: str, args_mode: str | dict[str, str]
) -> Check:
    """strict: same calls in the same order; unordered: same calls, any order; subset: every actual call was
    expected (no extra calls); superset: every expected call happened (extra calls allowed)."""
    if mode == "strict":
        problems = []
        for i in range(max(len(expected), len(actual))):
            e = expected[i] if i < len(expected) else None
            a = actual[i] if i < len(actual) else None
            if e is None or a is None or not call_matches(e, a, args_mode):
                problems.append(
                    f"step {i + 1}: expected {_describe(e) if e else 'nothing'}, got {_describe(a) if a else 'nothing'}"
                )
        return Check(passed=not problems, detail="; ".join(problems[:3]))
    pairs = _max_matching(len(expected), len(actual), lambda i, j: call_matches(expected[i], actual[j], args_mode))
    matched_actual = {j for j in pairs if j is not None}
    missing = [_describe(expected[i]) for i, j in enumerate(pairs) if j is None]
    extra = [_describe(a) for j, a in enumerate(actual) if j not in matched_actual]
    if mode == "unordered":
        ok = not missing and not extra
    elif mode == "subset":
        ok = not extra
    elif mode == "superset":
        ok = not missing
    else:
        raise ValueError(f"unknown trajectory mode {mode!r}; known: strict, unordered, subset, superset")
    parts = []
    if missing and mode in ("unordered", "superset"):
        parts.append(f"missing {missing}")
    if extra and mode in ("unordered", "subset"):
        parts.append(f"unexpected {extra}")
    return Check(passed=ok, detail="; ".join(parts))


def outcome_check(case: EvalCase, obs: Observation) -> Check:
    exp = case.expected
    assert exp.outcome is not None
    actual = obs.outcome or {}
    if exp.outcome_match == "exact":
        ok = values_match(exp.outcome, actual)
        return Check(passed=ok, detail="" if ok else f"expected {exp.outcome}, got {actual}")
    problems = []
    for key, want in exp.outcome.items():
        got = _dig(actual, key)
        tol = exp.tolerance.get(key, 0.0)
        if isinstance(want, dict) and isinstance(got, dict):
            ok = all(values_match(v, _dig(got, k), exp.tolerance.get(f"{key}.{k}", tol)) for k, v in want.items())
        else:
            ok = values_match(want, got, tol)
        if not ok:
            problems.append(f"{key}: expected {want!r}, got {got!r}")
    return Check(passed=not problems, detail="; ".join(problems))


def _dig(data: Any, path: str) -> Any:
    if isinstance(data, dict) and path in data:
        return data[path]
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def approvals_check(case: EvalCase, obs: Observation) -> Check:
    expected = case.expected.approvals or []
    actual = obs.approvals

    def ok(i: int, j: int) -> bool:
        e, a = expected[i], actual[j]
        return (
            e.tool == a.tool
            and (e.required_role is None or e.required_role == a.required_role)
            and (e.approvals_required is None or e.approvals_required == a.approvals_required)
        )

    pairs = _max_matching(len(expected), len(actual), ok)
    used = {j for j in pairs if j is not None}
    missing = [expected[i].tool for i, j in enumerate(pairs) if j is None]
    extra = [f"{a.tool}({a.required_role})" for j, a in enumerate(actual) if j not in used]
    parts = ([f"not asked: {missing}"] if missing else []) + ([f"asked unexpectedly: {extra}"] if extra else [])
    return Check(passed=not parts, detail="; ".join(parts))


def guards_check(case: EvalCase, obs: Observation) -> Check:
    expected = sorted(case.expected.guard_blocks or [])
    actual = sorted(obs.guard_blocks)
    if expected == actual:
        return Check(passed=True)
    return Check(passed=False, detail=f"expected blocks {expected}, got {actual}")


def status_check(case: EvalCase, obs: Observation) -> Check:
    ok = obs.status == case.expected.status
    detail = (
        ""
        if ok
        else f"expected status {case.expected.status}, got {obs.status}" + (f" ({obs.error})" if obs.error else "")
    )
    return Check(passed=ok, detail=detail)


CHECKS = ("status", "outcome", "trajectory", "approvals", "guards")


def score_case(case: EvalCase, obs: Observation) -> dict[str, Check | None]:
    """Every check for one case; None where the case does not ask for it."""
    exp = case.expected
    return {
        "status": status_check(case, obs),
        "outcome": outcome_check(case, obs) if exp.outcome is not None else None,
        "trajectory": (
            trajectory_check(exp.trajectory, obs.calls, exp.trajectory_mode, exp.args_match)
            if exp.trajectory is not None
            else None
        ),
        "approvals": approvals_check(case, obs) if exp.approvals is not None else None,
        "guards": guards_check(case, obs) if exp.guard_blocks is not None else None,
    }


# -- aggregates ----------------------------------------------------------------------------------------

METRIC_DIRECTIONS: dict[str, int] = {
    "pass_rate": 1,
    "completion_rate": 1,
    "outcome_accuracy": 1,
    "trajectory_accuracy": 1,
    "approvals_accuracy": 1,
    "guard_accuracy": 1,
    "latency_mean_s": -1,
    "latency_p50_s": -1,
    "latency_p95_s": -1,
    "run_latency_p50_s": -1,
    "tokens_mean": -1,
    "tokens_total": -1,
    "cost_total": -1,
    "errors": -1,
    "judge.explanation_consistency": 1,
    "straight_through_rate": 1,
    "automated_correct_rate": 1,
    "risky_routed_rate": 1,
    "decision_p50_s": -1,
    "decision_p95_s": -1,
}
"""+1: higher is better, -1: lower is better. The gate checks regressions in this direction."""

QUALITY_METRICS = (
    "pass_rate",
    "completion_rate",
    "outcome_accuracy",
    "trajectory_accuracy",
    "approvals_accuracy",
    "guard_accuracy",
    "automated_correct_rate",
    "risky_routed_rate",
)
"""Deterministic scores: the same versions give the same values (latency and tokens may vary)."""

_CHECK_METRIC = {
    "status": "completion_rate",
    "outcome": "outcome_accuracy",
    "trajectory": "trajectory_accuracy",
    "approvals": "approvals_accuracy",
    "guards": "guard_accuracy",
}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; stable for the small samples an eval suite has."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[rank - 1])


AUTOMATED_DECISIONS = frozenset({"approved", "declined", "paid", "cleared"})
"""Final decisions reached by rules, scores and an approver's confirmation, without handing the case to a
specialist. Hand-offs (``referred`` to an underwriter or adjuster, ``escalated`` / ``review`` to a KYC analyst,
``documents_requested``, ``incomplete``) and anything rejected or failed are not automated."""


def _business_metrics(results: Sequence[dict[str, Any]], metrics: dict[str, float]) -> None:
    """Automation rate and time to decision, as the claims seed case reports them, for any agent."""
    decided = [r for r in results if isinstance(r.get("outcome"), dict) and r["outcome"].get("decision")]
    if not decided:
        return
    automated = [r for r in decided if r["outcome"]["decision"] in AUTOMATED_DECISIONS]
    metrics["automation_rate"] = len(automated) / len(decided)
    times = [float(r["run_latency_s"]) for r in decided if r.get("run_latency_s") is not None]
    if times:
        metrics["time_to_decision_p50_s"] = percentile(times, 50)
        metrics["time_to_decision_p95_s"] = percentile(times, 95)


def aggregate(results: Sequence[dict[str, Any]], risky: Sequence[RiskyAction] | None = None) -> dict[str, float]:
    """Aggregate per-case results (``CaseResult.model_dump()``) into the metrics logged for an eval run.

    ``risky``: the actions that must go to a person (default: the handbooks' ``risky_actions``, see
    ``evals.automation``)."""
    metrics: dict[str, float] = {"cases": float(len(results))}
    if not results:
        return metrics
    metrics["pass_rate"] = sum(1 for r in results if r["passed"]) / len(results)
    for check, name in _CHECK_METRIC.items():
        scored = [r["checks"][check]["passed"] for r in results if r["checks"].get(check) is not None]
        if scored:
            metrics[name] = sum(1 for ok in scored if ok) / len(scored)
    latencies = [float(r["latency_s"]) for r in results]
    metrics["latency_mean_s"] = statistics.fmean(latencies)
    metrics["latency_p50_s"] = percentile(latencies, 50)
    metrics["latency_p95_s"] = percentile(latencies, 95)
    run_lat = [float(r["run_latency_s"]) for r in results if r.get("run_latency_s") is not None]
    if run_lat:
        metrics["run_latency_p50_s"] = percentile(run_lat, 50)
    tokens = [int(r.get("tokens") or 0) for r in results]
    metrics["tokens_total"] = float(sum(tokens))
    metrics["tokens_mean"] = statistics.fmean(tokens)
    costs = [float(r["cost"]) for r in results if r.get("cost") is not None]
    if costs:
        metrics["cost_total"] = sum(costs)
    metrics["errors"] = float(
        sum(
            1
            for r in results
            if r["status"] in ("error", "timeout", "cancelled") and not r["checks"]["status"]["passed"]
        )
    )
    judged = [r["judgement"] for r in results if r.get("judgement") and "consistent" in r["judgement"]]
    if judged:
        # LLM-as-judge (optional): reported beside the deterministic scores, never inside them.
        metrics["judge.explanation_consistency"] = sum(1 for j in judged if j["consistent"]) / len(judged)
        metrics["judge.cases"] = float(len(judged))
    _business_metrics(results, metrics)
    metrics.update(automation_metrics(results, risky))
    for tag in sorted({t for r in results for t in r.get("tags", [])}):
        tagged = [r for r in results if tag in r.get("tags", [])]
        metrics[f"pass_rate.tag.{tag}"] = sum(1 for r in tagged if r["passed"]) / len(tagged)
    return metrics
