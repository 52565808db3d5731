"""Compare two eval runs: metrics side by side and the cases that changed, as text, markdown and a PNG.

A *regression* is a case with a check that passed in run A (the baseline) and fails in run B (the candidate);
an *improvement* the reverse. Cases are matched by id, so a smoke suite compares with the full suite it was
cut from on the cases they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evals.journal import CaseResult
from evals.scorers import CHECKS, METRIC_DIRECTIONS, QUALITY_METRICS, aggregate
from evals.tracking import EvalRunRecord


@dataclass
class CaseChange:
    case_id: str
    a_passed: bool
    b_passed: bool
    regressed: list[str]
    """Checks that passed in A and fail in B."""
    improved: list[str]
    b_failures: dict[str, str]


@dataclass
class MetricRow:
    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def verdict(self) -> str:
        d, direction = self.delta, METRIC_DIRECTIONS.get(self.name.split(".tag.")[0], 0)
        if d is None or direction == 0 or abs(d) < 1e-12:
            return ""
        return "better" if d * direction > 0 else "worse"


@dataclass
class Comparison:
    a: EvalRunRecord
    b: EvalRunRecord
    metrics: list[MetricRow]
    changes: list[CaseChange]
    common_cases: list[str]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[CaseChange]:
        return [c for c in self.changes if c.regressed]

    @property
    def improvements(self) -> list[CaseChange]:
        return [c for c in self.changes if c.improved and not c.regressed]


def _check_state(r: CaseResult) -> dict[str, bool]:
    return {k: c.passed for k, c in r.checks.items() if c is not None}


def compare(a: EvalRunRecord, b: EvalRunRecord, common_only: bool = False) -> Comparison:
    """Side by side. With ``common_only`` the metrics are recomputed on the cases both runs have."""
    a_cases, b_cases = {r.case_id: r for r in a.cases}, {r.case_id: r for r in b.cases}
    common = [cid for cid in b_cases if cid in a_cases]
    changes = []
    for cid in common:
        ra, rb = a_cases[cid], b_cases[cid]
        sa, sb = _check_state(ra), _check_state(rb)
        changes.append(
            CaseChange(
                case_id=cid,
                a_passed=ra.passed,
                b_passed=rb.passed,
                regressed=[k for k in CHECKS if sa.get(k) is True and sb.get(k) is False],
                improved=[k for k in CHECKS if sa.get(k) is False and sb.get(k) is True],
                b_failures=rb.failed_checks(),
            )
        )
    if common_only:
        ma = aggregate([a_cases[c].model_dump() for c in common])
        mb = aggregate([b_cases[c].model_dump() for c in common])
    else:
        ma, mb = a.metrics, b.metrics
    names = [m for m in METRIC_DIRECTIONS if m in ma or m in mb]
    names += sorted(k for k in set(ma) | set(mb) if k not in METRIC_DIRECTIONS and k != "cases")
    rows = [MetricRow(n, ma.get(n), mb.get(n)) for n in names]
    return Comparison(
        a=a,
        b=b,
        metrics=rows,
        changes=changes,
        common_cases=common,
        only_a=[c for c in a_cases if c not in b_cases],
        only_b=[c for c in b_cases if c not in a_cases],
    )


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"


def why_regressed(change: CaseChange, width: int = 160) -> str:
    """Each regressed check with B's reason, clipped so a table of cases stays readable."""

    def clip(text: str) -> str:
        return text if len(text) <= width else text[: width - 3] + "..."

    return "; ".join(f"{k}: {clip(change.b_failures.get(k, 'failed'))}" for k in change.regressed)


def render_text(cmp: Comparison) -> str:
    a, b = cmp.a, cmp.b
    width = max(24, *(len(r.name) for r in cmp.metrics)) if cmp.metrics else 24
    lines = [
        f"A: {a.label}  run {a.run_id}  ({a.eval_run_id}, suite {a.suite})",
        f"B: {b.label}  run {b.run_id}  ({b.eval_run_id}, suite {b.suite})",
        "",
        f"{'metric':<{width}} {'A':>12} {'B':>12} {'delta':>9}",
    ]
    for r in cmp.metrics:
        delta = "-" if r.delta is None else f"{r.delta:+.3f}"
        lines.append(f"{r.name:<{width}} {_fmt(r.a):>12} {_fmt(r.b):>12} {delta:>9}  {r.verdict}")
    lines.append("")
    if cmp.regressions:
        lines.append(f"{len(cmp.regressions)} case(s) regressed (A passed the check, B fails it):")
        for c in cmp.regressions:
            lines.append(f"  - {c.case_id}: {why_regressed(c)}")
    else:
        lines.append("no case regressed")
    if cmp.improvements:
        lines.append(f"{len(cmp.improvements)} case(s) improved: {', '.join(c.case_id for c in cmp.improvements)}")
    if cmp.only_a or cmp.only_b:
        lines.append(f"only in A: {cmp.only_a or '-'}; only in B: {cmp.only_b or '-'}")
    return "\n".join(lines)


def render_markdown(cmp: Comparison, plot_name: str | None = None) -> str:
    a, b = cmp.a, cmp.b
    out = [
        f"# Eval comparison: {a.label} vs {b.label}",
        "",
        f"- **A** `{a.label}`: MLflow run `{a.run_id}`, eval run `{a.eval_run_id}`, suite `{a.suite}`",
        f"- **B** `{b.label}`: MLflow run `{b.run_id}`, eval run `{b.eval_run_id}`, suite `{b.suite}`",
        f"- cases compared: {len(cmp.common_cases)}; regressions: **{len(cmp.regressions)}**; "
        f"improvements: {len(cmp.improvements)}",
        "",
        "| metric | A | B | delta | |",
        "|---|---:|---:|---:|---|",
    ]
    for r in cmp.metrics:
        delta = "-" if r.delta is None else f"{r.delta:+.3f}"
        out.append(f"| {r.name} | {_fmt(r.a)} | {_fmt(r.b)} | {delta} | {r.verdict} |")
    out += ["", "## Regressed cases", ""]
    if cmp.regressions:
        out += ["| case | checks that regressed | why B fails |", "|---|---|---|"]
        for c in cmp.regressions:
            why = why_regressed(c, width=300).replace("|", "\\|")
            out.append(f"| {c.case_id} | {', '.join(c.regressed)} | {why} |")
    else:
        out.append("None.")
    if cmp.improvements:
        out += ["", "## Improved cases", ""] + [f"- {c.case_id}: {', '.join(c.improved)}" for c in cmp.improvements]
    if plot_name:
        out += ["", f"![comparison]({plot_name})"]
    return "\n".join(out) + "\n"


def plot(cmp: Comparison, path: Path) -> Path:
    """Quality metrics as paired bars, and a per-case pass/fail strip for A and B with regressions in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quality = [r for r in cmp.metrics if r.name in QUALITY_METRICS]
    cases = cmp.common_cases
    a_map = {c.case_id: c for c in cmp.changes}
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(13, max(4.0, 0.28 * len(cases) + 1.5)), gridspec_kw={"width_ratios": [3, 2]}
    )
    xs = range(len(quality))
    ax1.bar([x - 0.2 for x in xs], [r.a or 0 for r in quality], width=0.4, label=f"A {cmp.a.label}", color="#7f8c8d")
    ax1.bar([x + 0.2 for x in xs], [r.b or 0 for r in quality], width=0.4, label=f"B {cmp.b.label}", color="#2980b9")
    ax1.set_xticks(list(xs), [r.name for r in quality], rotation=30, ha="right")
    ax1.set_ylim(0, 1.05)
    ax1.set_title("quality metrics")
    ax1.legend(loc="lower left")
    for i, cid in enumerate(cases):
        ch = a_map[cid]
        for j, ok in enumerate((ch.a_passed, ch.b_passed)):
            color = "#27ae60" if ok else ("#c0392b" if j == 1 and ch.regressed else "#e67e22")
            ax2.add_patch(plt.Rectangle((j, i), 0.9, 0.8, color=color))
    ax2.set_xlim(0, 2)
    ax2.set_ylim(len(cases), 0)
    ax2.set_xticks([0.45, 1.45], ["A", "B"])
    ax2.set_yticks([i + 0.4 for i in range(len(cases))], cases, fontsize=7)
    ax2.set_title("cases: green pass, orange fail, red regressed")
    fig.suptitle(f"{cmp.a.label} vs {cmp.b.label}: {len(cmp.regressions)} regressed, {len(cmp.improvements)} improved")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(cmp: Comparison, out_dir: Path) -> tuple[Path, Path]:
    """``comparison.md`` and ``comparison.png`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot(cmp, out_dir / "comparison.png")
    md = out_dir / "comparison.md"
    md.write_text(render_markdown(cmp, png.name), encoding="utf-8")
    return md, png
