"""Eval suites: one JSONL file per agent, one case a line, validated when loaded.

A case says what goes in (the run input), what the approver does when the run asks (scripted decisions per
tool), and what must come out (outcome, tool trajectory, approvals asked, guard blocks, final status).
Validation happens before any case runs, and every error names the file, the line and the field, because a
suite is edited by hand and a typo found after twenty minutes of runs is twenty minutes lost.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runtime.errors import UserError

TrajectoryMode = Literal["strict", "unordered", "subset", "superset"]
OutcomeMode = Literal["fields", "exact"]
ArgsMode = str
""""exact", "subset" (expected args are a subset of the actual ones), "ignore", or the name of a custom matcher
registered with ``evals.scorers.register_args_matcher``."""


class SuiteError(UserError):
    """A suite file that cannot be used; the message names the line and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScriptedDecision(_Strict):
    """What the scripted approver does with an approval request for one tool."""

    action: Literal["approve", "edit", "reject", "respond"]
    args: dict[str, Any] | None = None
    """With ``edit``: the arguments the approver substitutes (merged over the proposed ones)."""
    comment: str | None = None
    response: str | None = None

    @model_validator(mode="after")
    def _edit_needs_args(self) -> ScriptedDecision:
        if self.action == "edit" and not self.args:
            raise ValueError("action 'edit' needs 'args'")
        if self.action == "respond" and not self.response:
            raise ValueError("action 'respond' needs 'response'")
        return self


class ExpectedCall(_Strict):
    """One step of the expected tool trajectory."""

    tool: str = Field(min_length=1)
    args: dict[str, Any] | None = None
    """Compared with the proposed arguments per the case's ``args_match``; omitted = any arguments."""
    status: Literal["executed", "denied", "rejected", "responded", "failed", "pending"] | None = None
    """Optional: how the call ended (executed, denied by a guard, rejected by the approver, ...)."""


class ExpectedApproval(_Strict):
    tool: str = Field(min_length=1)
    required_role: str | None = None
    approvals_required: int | None = Field(default=None, ge=1)


class Expected(_Strict):
    """What the run must produce. Every part is optional: a part left out is not scored for the case."""

    status: Literal["success", "error", "timeout", "refused"] = "success"
    """``refused``: the runtime refuses to start the run (its input guards block the input)."""
    outcome: dict[str, Any] | None = None
    outcome_match: OutcomeMode = "fields"
    """``fields``: the listed fields must match (others ignored); ``exact``: the whole outcome must equal."""
    tolerance: dict[str, float] = Field(default_factory=dict)
    """Absolute tolerance per numeric outcome field (dotted path for nested fields), e.g. {"score": 0.01}."""
    trajectory: list[ExpectedCall] | None = None
    trajectory_mode: TrajectoryMode = "strict"
    args_match: ArgsMode | dict[str, ArgsMode] = "subset"
    """One mode for every tool, or a mode per tool name ("*" = the rest)."""
    approvals: list[ExpectedApproval] | None = None
    guard_blocks: list[str] | None = None
    """Tools whose calls the guards or the policy must deny, and ``"input"`` for a blocked run input;
    [] = nothing may be blocked."""

    @field_validator("approvals", mode="before")
    @classmethod
    def _approval_shorthand(cls, v: Any) -> Any:
        return [{"tool": a} if isinstance(a, str) else a for a in v] if isinstance(v, list) else v

    @field_validator("trajectory", mode="before")
    @classmethod
    def _trajectory_shorthand(cls, v: Any) -> Any:
        return [{"tool": a} if isinstance(a, str) else a for a in v] if isinstance(v, list) else v

    @field_validator("args_match")
    @classmethod
    def _known_args_mode(cls, v: ArgsMode | dict[str, ArgsMode]) -> ArgsMode | dict[str, ArgsMode]:
        from evals.scorers import known_args_modes

        known = known_args_modes()
        for mode in [v] if isinstance(v, str) else list(v.values()):
            if mode not in known:
                raise ValueError(f"unknown args_match {mode!r}; known: {sorted(known)}")
        return v


class EvalCase(_Strict):
    id: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str = ""
    cites: list[str] = Field(default_factory=list)
    """Handbook sections or regulations the expected outcome rests on (``doc_id#section``), for a reviewer."""
    tags: list[str] = Field(default_factory=list)
    input: dict[str, Any]
    decisions: dict[str, ScriptedDecision] = Field(default_factory=dict)
    """Tool name -> what the approver does when that tool asks for approval."""
    default_decision: ScriptedDecision = Field(default_factory=lambda: ScriptedDecision(action="reject"))
    """For an approval the case did not script: reject, the safe default (and the approvals score shows it)."""
    expected: Expected
    time_limit_s: float | None = Field(default=None, gt=0)
    """Overrides the runner's per-case time limit."""

    @field_validator("decisions", mode="before")
    @classmethod
    def _decision_shorthand(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"action": d} if isinstance(d, str) else d for k, d in v.items()}
        return v

    @field_validator("default_decision", mode="before")
    @classmethod
    def _default_shorthand(cls, v: Any) -> Any:
        return {"action": v} if isinstance(v, str) else v

    def decision_for(self, tool: str) -> ScriptedDecision:
        return self.decisions.get(tool, self.default_decision)


class Suite(BaseModel):
    name: str
    path: Path
    sha256: str
    cases: list[EvalCase]
    lines: dict[str, int] = Field(default_factory=dict)
    """Case id -> line number in the file, for errors found after parsing."""

    def case(self, case_id: str) -> EvalCase:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise KeyError(f"case {case_id!r} not in suite {self.name!r}; known: {[c.id for c in self.cases]}")

    def tags(self) -> list[str]:
        return sorted({t for c in self.cases for t in c.tags})

    def masked_text(self) -> str:
        """The suite file as it may be kept beside results (the MLflow run's ``eval/suite.jsonl``): card numbers
        truncated and codes removed, other personal data (IBAN, national id, phone, e-mail) replaced by its kind,
        in every string of every line. A suite may plant such data on purpose (red-team and leak cases); the
        runtime masks it at intake, and a copy of the file must not bring it back."""
        return "\n".join(_masked_line(line) for line in self.path.read_text(encoding="utf-8").splitlines()) + "\n"


def _masked_line(line: str) -> str:
    from guards.detectors import mask_cardholder_value

    try:
        value = json.loads(line)
    except ValueError:
        return _mask_pii(mask_cardholder_value(line))  # a comment line
    return json.dumps(_mask_leaves(mask_cardholder_value(value)), ensure_ascii=False)


def _mask_leaves(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_pii(value)
    if isinstance(value, dict):
        return {_mask_pii(k): _mask_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v) for v in value]
    return value


def _mask_pii(text: str) -> str:
    from guards.detectors import find_pii, redact

    return redact(text, find_pii(text, ("iban", "national_id", "phone", "email")))


def _loc(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(line)"


def parse_suite(text: str, source: str = "<suite>", name: str | None = None) -> Suite:
    """Parse JSONL text into a suite. Blank lines and lines starting with ``//`` or ``#`` are comments."""
    cases: list[EvalCase] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "//")):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{source} line {lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(data, dict):
            raise SuiteError(f"{source} line {lineno}: a case must be a JSON object, got {type(data).__name__}")
        try:
            case = EvalCase.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{_loc(e)}: {e['msg']}" for e in exc.errors())
            raise SuiteError(f"{source} line {lineno}: {problems}") from None
        if case.id in seen:
            raise SuiteError(f"{source} line {lineno}: id: {case.id!r} repeats the case on line {seen[case.id]}")
        seen[case.id] = lineno
        cases.append(case)
    if not cases:
        raise SuiteError(f"{source}: the suite has no cases")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Suite(name=name or Path(source).stem, path=Path(source), sha256=digest, cases=cases, lines=seen)


def load_suite(path: Path | str) -> Suite:
    p = Path(path)
    if not p.is_file():
        bundled = Path(__file__).parent / "suites" / p.name
        hint = f"; a bundled suite of that name is {bundled}" if bundled.is_file() and bundled != p else ""
        raise SuiteError(f"suite {str(p)!r} does not exist{hint}")
    return parse_suite(p.read_text(encoding="utf-8"), source=str(p), name=p.stem)


def validate_inputs(suite: Suite, assistant_name: str) -> None:
    """Check every case's input with the runtime's own validation (schema, then input guards) before any case
    runs. A case that expects its input to be refused must be refused, and only such a case may be."""
    from runtime.runs import validate_input

    for case in suite.cases:
        line = suite.lines.get(case.id, 0)
        try:
            validate_input(assistant_name, case.input)
        except UserError as exc:
            if case.expected.status != "refused":
                raise SuiteError(f"{suite.path} line {line} (case {case.id!r}): {exc}") from None
