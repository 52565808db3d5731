"""The mutation check: does every threshold in a ruleset matter to the agent's handbook suite?

For every numeric threshold of every rule (a number compared with ``<``, ``<=``, ``>`` or ``>=`` in a rule's
``when``), two mutants are made: the threshold moved one step up and one step down. Each mutant ruleset is
served to the agent in place of the real one (a copy of ``tools/data/rules`` with one number changed; the real
files are never touched), and the agent's handbook suite runs through the real runtime with no model (the
rules, the scores and the policy decide; the model would only explain). A mutant is *killed* when at least
one case that passes with the real ruleset fails with the mutant; a *survivor* is a threshold the suite
cannot tell from its neighbour: a case at and beside it is missing, or the rule does not matter.

The step, per threshold: one unit in the last digit the threshold is written with (``740`` -> 1, ``0.45`` ->
0.01, ``0.1`` -> 0.1, ``14`` days -> 1 day, ``500000`` EUR -> 1 EUR), so a suite kills both mutants only
with cases at the threshold and one step beyond it: exactly the "below, at and above" the handbook's limits
call for. A ruleset may state a fact's resolution instead (``mutation_steps: {loan_to_income: 0.1}``) where
the literal's digits understate it (a ratio written ``3``). Equality tests (``== 0``) are not thresholds.

Cases run in waves of ``concurrency`` and a mutant stops at its first kill; cases where the mutated rule
fired with the real ruleset run first when the mutant makes the rule fire less often. Each mutant also
checks that the agent actually loaded the mutated file, so a ruleset read once at import cannot pass as
"survived".
"""

from __future__ import annotations

import asyncio
import copy
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evals.environment import EvalTarget
    from evals.journal import CaseResult
    from evals.suites import EvalCase

_ROOT = Path(__file__).resolve().parents[1]
SUITES = _ROOT / "evals" / "suites"

HANDBOOK_SUITES: dict[str, tuple[str, str]] = {
    "credit_band": ("loan_triage", "loan_triage_handbook.jsonl"),
    "lending": ("loan_triage", "loan_triage_handbook.jsonl"),
    "kyc_match": ("kyc_review", "kyc_handbook.jsonl"),
    "kyc_case": ("kyc_review", "kyc_handbook.jsonl"),
    "claims": ("claims", "claims_handbook.jsonl"),
}
"""Ruleset -> (the assistant that applies it, its handbook suite under ``evals/suites``)."""

_OPS = ("<=", ">=", "<", ">")
_STRING = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'")
_NUMBER = re.compile(r"(?<![\w.$])-?\d+(?:\.\d+)?(?![\w.])")
_LEFT = re.compile(r"([A-Za-z_][\w]*)(?:\.\$?\w+)*\s*(<=|>=|<|>)\s*$")
_RIGHT = re.compile(r"^\s*(<=|>=|<|>)\s*([A-Za-z_][\w]*)")
_AFTER_OP = re.compile(r"(<=|>=|<|>)\s*$")


@dataclass(frozen=True)
class Threshold:
    """A number one rule compares a fact with."""

    ruleset: str
    rule_id: str
    fact: str | None
    op: str
    literal: str
    start: int
    end: int
    """Where the literal sits in the rule's ``when`` text."""
    fact_on_left: bool = True

    @property
    def label(self) -> str:
        expr = f"{self.fact} {self.op} {self.literal}" if self.fact_on_left else f"{self.literal} {self.op} {self.fact}"
        return f"{self.ruleset}/{self.rule_id}: {expr}"

    def step(self, steps: Mapping[str, float] | None = None) -> Decimal:
        """The documented step: the ruleset's ``mutation_steps`` for the fact, else one unit in the literal's
        last digit."""
        if steps and self.fact is not None and self.fact in steps:
            return Decimal(str(steps[self.fact]))
        exponent = Decimal(self.literal).as_tuple().exponent
        return Decimal(1).scaleb(int(exponent)) if isinstance(exponent, int) else Decimal(1)

    def moved(self, direction: int, steps: Mapping[str, float] | None = None) -> str:
        value = Decimal(self.literal) + direction * self.step(steps)
        return format(value.normalize() if value == value.to_integral() else value, "f")

    def loosens(self, direction: int) -> bool:
        """Whether moving by ``direction`` makes the comparison true for more values (the rule fires more)."""
        upper = self.op in ("<", "<=")  # fact < t: a larger t admits more
        return (direction > 0) == (upper if self.fact_on_left else not upper)


def thresholds(doc: Mapping[str, Any]) -> list[Threshold]:
    """The numeric thresholds of a ruleset document (its YAML, parsed), rule by rule, in order."""
    found: list[Threshold] = []
    for rule in doc.get("rules") or []:
        text = str(rule.get("when") or "")
        masked = _STRING.sub(lambda m: " " * len(m.group()), text)  # numbers inside strings/regexes are not
        for m in _NUMBER.finditer(masked):
            left, right = _LEFT.search(masked[: m.start()]), _RIGHT.search(masked[m.end() :])
            if left:
                found.append(
                    Threshold(str(doc.get("ruleset")), str(rule["id"]), left.group(1), left.group(2), m.group(),
                              m.start(), m.end())
                )  # fmt: skip
            elif right:
                found.append(
                    Threshold(str(doc.get("ruleset")), str(rule["id"]), right.group(2), right.group(1), m.group(),
                              m.start(), m.end(), fact_on_left=False)
                )  # fmt: skip
            elif after := _AFTER_OP.search(masked[: m.start()]):  # a computed left side: (a / b) > 0.4
                found.append(
                    Threshold(str(doc.get("ruleset")), str(rule["id"]), None, after.group(1), m.group(), m.start(),
                              m.end())
                )  # fmt: skip
    return found


def mutated(doc: Mapping[str, Any], threshold: Threshold, literal: str) -> dict[str, Any]:
    """A copy of the ruleset document with one threshold replaced by ``literal``."""
    out = copy.deepcopy(dict(doc))
    for rule in out["rules"]:
        if rule["id"] == threshold.rule_id:
            text = str(rule["when"])
            assert text[threshold.start : threshold.end] == threshold.literal, (text, threshold)
            rule["when"] = text[: threshold.start] + literal + text[threshold.end :]
    out["version"] = f"{doc.get('version')}-mutant"
    return out


# -- reports -------------------------------------------------------------------------------------------------
@dataclass
class Mutant:
    threshold: str
    rule_id: str
    original: str
    mutated: str
    direction: str
    step: str
    killed_by: str | None = None
    """The first case that passed with the real ruleset and failed with this one."""
    detail: str = ""
    cases_run: int = 0
    loaded: bool = True
    """False: the agent never read the mutated file (a ruleset cached at import): not a real survivor."""

    @property
    def survived(self) -> bool:
        return self.killed_by is None and self.loaded


@dataclass
class RulesetReport:
    ruleset: str
    assistant: str
    suite: str
    cases: int
    baseline_failed: list[str]
    """Cases that fail with the real ruleset: they cannot kill a mutant, and are named here."""
    mutants: list[Mutant] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def survivors(self) -> list[Mutant]:
        return [m for m in self.mutants if m.survived]

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k != "mutants"},
            "thresholds": len({m.threshold for m in self.mutants}),
            "mutants": len(self.mutants),
            "killed": sum(1 for m in self.mutants if m.killed_by),
            "survivors": [asdict(m) for m in self.survivors],
            "not_loaded": [m.threshold for m in self.mutants if not m.loaded],
            "killed_by": {f"{m.threshold} -> {m.mutated}": m.killed_by for m in self.mutants if m.killed_by},
        }


# -- serving a mutant ----------------------------------------------------------------------------------------
@contextmanager
def serving_rules(directory: Path) -> Iterator[None]:
    """Point ``tools.rules`` at ``directory`` for this process (the in-process worker's agents and tools)."""
    import tools.rules as rules

    before = rules.RULES_DIR
    rules.RULES_DIR = directory
    try:
        yield
    finally:
        rules.RULES_DIR = before


def _was_loaded(path: Path) -> bool:
    import tools.rules as rules

    return path.resolve() in {p.resolve() for p in rules._CACHE}  # the loader's own record of what it read


def _write_rules(source: Path, target: Path, name: str, doc: Mapping[str, Any]) -> Path:
    import yaml

    target.mkdir(parents=True)
    for f in source.glob("*.yaml"):
        shutil.copy(f, target / f.name)
    path = target / f"{name}.yaml"
    path.write_text(yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True))
    return path


# -- running -------------------------------------------------------------------------------------------------
Progress = Callable[[str], None]


async def _run_cases(
    runner: Any, cases: list[EvalCase], concurrency: int, stop: Callable[[CaseResult], bool]
) -> tuple[list[CaseResult], CaseResult | None]:
    """Cases in waves of ``concurrency``; stops after the first wave holding a case that ``stop`` accepts."""
    done: list[CaseResult] = []
    for i in range(0, len(cases), max(1, concurrency)):
        wave = await asyncio.gather(*(runner.run_case(c) for c in cases[i : i + concurrency]))
        done.extend(wave)
        hit = next((r for r in wave if stop(r)), None)
        if hit is not None:
            return done, hit
    return done, None


async def check_ruleset(
    target: EvalTarget,
    home: Path,
    ruleset: str,
    assistant: str | None = None,
    suite_path: Path | None = None,
    rules_dir: Path | None = None,
    concurrency: int = 4,
    progress: Progress | None = None,
) -> RulesetReport:
    """Every threshold of ``ruleset`` moved one step each way, each mutant against the handbook suite."""
    import yaml

    from evals.runner import EvalRunner, prepare_journal
    from evals.suites import load_suite
    from evals.variants import resolve_assistant
    from tools.rules import RULES_DIR

    source = rules_dir or RULES_DIR
    if assistant is None or suite_path is None:
        if ruleset not in HANDBOOK_SUITES:
            from runtime.errors import UserError

            raise UserError(f"ruleset {ruleset!r} has no handbook suite; known: {sorted(HANDBOOK_SUITES)}")
        assistant = assistant or HANDBOOK_SUITES[ruleset][0]
        suite_path = suite_path or SUITES / HANDBOOK_SUITES[ruleset][1]
    say = progress or (lambda _: None)
    t0 = time.perf_counter()
    doc = yaml.safe_load((source / f"{ruleset}.yaml").read_text())
    steps = doc.get("mutation_steps") or {}
    suite = load_suite(suite_path)
    version = resolve_assistant(assistant)
    runner = EvalRunner(
        target.client, target.store, target.task_queue, version, suite, prepare_journal(home, suite, version)
    )
    with serving_rules(source):
        baseline, _ = await _run_cases(runner, list(suite.cases), concurrency, lambda r: False)
    passing = {r.case_id for r in baseline if r.passed}
    fired = {r.case_id: set(((r.outcome or {}).get("basis") or {}).get("rules_fired") or []) for r in baseline}
    report = RulesetReport(
        ruleset, assistant, str(suite_path), len(suite.cases), sorted(r.case_id for r in baseline if not r.passed)
    )
    say(f"{ruleset}: baseline {len(passing)}/{len(baseline)} cases pass")
    candidates = [c for c in suite.cases if c.id in passing]
    scratch = Path(tempfile.mkdtemp(prefix=f"steward-mutants-{ruleset}-", dir=home))
    try:
        for i, (th, direction) in enumerate((t, d) for t in thresholds(doc) for d in (1, -1)):
            literal = th.moved(direction, steps)
            path = _write_rules(source, scratch / f"m{i}", ruleset, mutated(doc, th, literal))
            first = [c for c in candidates if th.rule_id in fired.get(c.id, set())]
            order = candidates if th.loosens(direction) else first + [c for c in candidates if c not in first]
            with serving_rules(path.parent):
                ran, hit = await _run_cases(runner, order, concurrency, lambda r: not r.passed)
            mutant = Mutant(th.label, th.rule_id, th.literal, literal, "up" if direction > 0 else "down",
                            str(th.step(steps)), cases_run=len(ran), loaded=_was_loaded(path))  # fmt: skip
            if hit is not None:
                mutant.killed_by = hit.case_id
                mutant.detail = "; ".join(f"{k}: {v}" for k, v in hit.failed_checks().items())[:300]
            report.mutants.append(mutant)
            state = f"killed by {hit.case_id}" if hit else ("SURVIVED" if mutant.loaded else "NOT LOADED")
            say(f"  {th.label} -> {literal}: {state} ({len(ran)} cases)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.seconds = round(time.perf_counter() - t0, 1)
    return report


def render(reports: list[RulesetReport]) -> str:
    lines = []
    for r in reports:
        d = r.as_dict()
        lines.append(
            f"{r.ruleset} ({r.assistant}, {Path(r.suite).name}, {r.cases} cases): {d['thresholds']} thresholds, "
            f"{d['mutants']} mutants, {d['killed']} killed, {len(r.survivors)} survived, {r.seconds:g}s"
        )
        if r.baseline_failed:
            lines.append(f"  failing with the real ruleset (cannot kill): {', '.join(r.baseline_failed)}")
        for m in r.survivors:
            lines.append(f"  SURVIVOR {m.threshold} -> {m.mutated} (step {m.step} {m.direction})")
        for m in r.mutants:
            if not m.loaded:
                lines.append(f"  NOT LOADED {m.threshold}: the agent never read the mutated ruleset")
    return "\n".join(lines)
