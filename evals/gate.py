"""The release gate: a candidate eval run passes only above its thresholds and without regressing on the
``champion`` (the registry alias of the version in service).

Against the champion, metrics are recomputed on the cases both runs have, so a CI smoke run is judged fairly
against a champion promoted on the full suite. By default a single regressed case fails the gate: a release
that fixes two cases and breaks a third should say so before it ships, not after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from evals.compare import Comparison, compare, why_regressed
from evals.scorers import METRIC_DIRECTIONS, QUALITY_METRICS
from evals.tracking import EvalRunRecord
from runtime.errors import UserError

_THRESHOLD = re.compile(r"^([A-Za-z0-9_.:-]+)=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    """``>=`` (from --min) or ``<=`` (from --max)."""
    limit: float


def parse_thresholds(mins: list[str] | None = None, maxs: list[str] | None = None) -> list[Threshold]:
    """``outcome_accuracy=0.9`` items; errors name the option and the item."""
    out = []
    for flag, op, items in (("--min", ">=", mins or []), ("--max", "<=", maxs or [])):
        for item in items:
            m = _THRESHOLD.match(item.strip())
            if not m:
                raise UserError(f"{flag} {item!r}: expected METRIC=NUMBER, e.g. outcome_accuracy=0.9")
            out.append(Threshold(m.group(1), op, float(m.group(2))))
    return out


@dataclass
class GateResult:
    candidate: EvalRunRecord
    champion: EvalRunRecord | None
    passed: bool
    failures: list[str]
    checks: list[tuple[str, str, float, float | None, bool]]
    """(metric, op, limit, value, ok) per threshold."""
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def regressed_cases(self) -> list[str]:
        return [c.case_id for c in self.comparison.regressions] if self.comparison else []

    def as_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "candidate": {"run_id": self.candidate.run_id, "version": self.candidate.label},
            "champion": {"run_id": self.champion.run_id, "version": self.champion.label} if self.champion else None,
            "failures": self.failures,
            "thresholds": [
                {"metric": m, "op": op, "limit": lim, "value": v, "ok": ok} for m, op, lim, v, ok in self.checks
            ],
            "regressed_cases": self.regressed_cases,
            "notes": self.notes,
        }


def evaluate_gate(
    candidate: EvalRunRecord,
    thresholds: list[Threshold],
    champion: EvalRunRecord | None = None,
    tolerance: float = 0.0,
    allowed_case_regressions: int = 0,
    latency_tolerance: float | None = None,
) -> GateResult:
    """Judge a candidate. ``tolerance``: how far (absolute) a quality score may drop below the champion's;
    ``latency_tolerance``: how much slower (relative, 0.5 = 50 %) its p95 latency may be (None: not checked)."""
    failures: list[str] = []
    checks: list[tuple[str, str, float, float | None, bool]] = []
    notes: list[str] = []
    if not candidate.cases and candidate.status != "FINISHED":
        failures.append(f"candidate run {candidate.run_id} did not finish (status {candidate.status})")
    if candidate.tags.get("steward.complete") == "false":
        failures.append(f"candidate eval {candidate.eval_run_id} was interrupted: resume it before gating")
    for t in thresholds:
        value = candidate.metrics.get(t.metric)
        if value is None:
            known = sorted(k for k in candidate.metrics if ".tag." not in k)
            failures.append(f"{t.metric}: not a metric of this run; known: {known}")
            checks.append((t.metric, t.op, t.limit, None, False))
            continue
        ok = value >= t.limit if t.op == ">=" else value <= t.limit
        checks.append((t.metric, t.op, t.limit, value, ok))
        if not ok:
            failures.append(f"{t.metric} = {value:.4f}, needs {t.op} {t.limit:g}")
    cmp = None
    if champion is None:
        notes.append("no champion yet: thresholds only")
    elif champion.run_id == candidate.run_id:
        notes.append("the candidate is the champion's own eval run")
    else:
        cmp = compare(champion, candidate, common_only=True)
        if not cmp.common_cases:
            notes.append(f"no case in common with the champion's run (suite {champion.suite}): no regression check")
        else:
            for row in cmp.metrics:
                if row.name not in QUALITY_METRICS or row.a is None or row.b is None:
                    continue
                if (row.b - row.a) * METRIC_DIRECTIONS[row.name] < -tolerance - 1e-12:
                    failures.append(
                        f"{row.name} regressed against champion {champion.label}: {row.a:.4f} -> {row.b:.4f}"
                        f" (tolerance {tolerance:g})"
                    )
            if latency_tolerance is not None:
                p95 = next((r for r in cmp.metrics if r.name == "latency_p95_s"), None)
                if p95 and p95.a and p95.b and p95.b > p95.a * (1 + latency_tolerance):
                    failures.append(
                        f"latency_p95_s regressed: {p95.a:.3f}s -> {p95.b:.3f}s (allowed +{latency_tolerance:.0%})"
                    )
            if len(cmp.regressions) > allowed_case_regressions:
                failures.append(
                    f"{len(cmp.regressions)} case(s) regressed against champion {champion.label}: "
                    + ", ".join(f"{c.case_id} ({'+'.join(c.regressed)})" for c in cmp.regressions)
                )
    return GateResult(candidate, champion, not failures, failures, checks, cmp, notes)


def render_gate(result: GateResult) -> str:
    c = result.candidate
    lines = [f"gate for {c.label} (run {c.run_id}, eval {c.eval_run_id}, suite {c.suite})"]
    if result.champion:
        lines.append(f"champion: {result.champion.label} (run {result.champion.run_id})")
    for metric, op, limit, value, ok in result.checks:
        shown = "missing" if value is None else f"{value:.4f}"
        lines.append(f"  {'ok  ' if ok else 'FAIL'} {metric} {op} {limit:g}: {shown}")
    if result.comparison is not None:
        regs = result.comparison.regressions
        lines.append(f"  {'ok  ' if not regs else 'FAIL'} regressed cases vs champion: {len(regs)}")
        for ch in regs:
            lines.append(f"       - {ch.case_id}: {why_regressed(ch)}")
    lines += [f"  note: {n}" for n in result.notes]
    lines.append("GATE PASSED" if result.passed else "GATE FAILED: " + " | ".join(result.failures))
    return "\n".join(lines)
