"""The rules engine: business rules as data (versioned YAML in ``tools/data/rules/``), evaluated with
``rule-engine`` (a maintained, typed expression language), returning the ids of the rules that fired.

A ruleset declares its facts with types, so a typo or a type error in a rule fails when the ruleset loads,
not in the middle of a run. Two modes:

- ``all``: every rule is evaluated; the outcome is the most severe fired outcome by the ruleset's
  ``outcomes`` order (e.g. incomplete > decline > refer > approve), else ``default_outcome``.
- ``first``: rules are tried in order and the first that matches decides (banding tables).

Every result names the ruleset, its version and a content digest, the fired rules with their reasons and
the policy sections they cite, and any rule that could not be evaluated (``errors``); an evaluation error
never fires a rule, and a ruleset may say which outcome an error forces (``on_error``), so a broken rule
routes to a person instead of approving.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tools._settings import DATA_DIR

RULES_DIR = DATA_DIR / "rules"
_TYPES = ("float", "string", "bool", "list[string]")


class RuleDef(BaseModel):
    """One rule: an id for the audit trail, a rule-engine expression, and what its firing means."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,40}$")
    when: str = Field(min_length=1)
    outcome: str | None = None
    """None = an informational rule: it is recorded when it fires but does not decide anything."""
    reason: str = Field(min_length=1)
    cites: list[str] = Field(default_factory=list)
    """Policy sections the rule implements, as ``doc_id#section_id`` (resolved by ``tools.corpus``)."""


class RulesetDoc(BaseModel):
    ruleset: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    version: str = Field(min_length=1)
    description: str = ""
    mode: Literal["all", "first"] = "all"
    facts: dict[str, str]
    outcomes: list[str] = Field(min_length=1)
    """Most severe first: in ``all`` mode the most severe fired outcome wins."""
    default_outcome: str
    on_error: str | None = None
    """Outcome forced when any rule cannot be evaluated; None = errors are only reported."""
    rules: list[RuleDef] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> RulesetDoc:
        bad_types = {k: v for k, v in self.facts.items() if v not in _TYPES}
        if bad_types:
            raise ValueError(f"ruleset {self.ruleset!r}: unknown fact types {bad_types}; known: {list(_TYPES)}")
        known = set(self.outcomes)
        for value, where in [(self.default_outcome, "default_outcome"), (self.on_error, "on_error")] + [
            (r.outcome, f"rule {r.id}") for r in self.rules
        ]:
            if value is not None and value not in known:
                raise ValueError(f"ruleset {self.ruleset!r}: {where} outcome {value!r}; known: {sorted(known)}")
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"ruleset {self.ruleset!r}: duplicate rule ids {dupes}")
        return self


class FiredRule(BaseModel):
    id: str
    outcome: str | None
    reason: str
    cites: list[str] = Field(default_factory=list)


class RulesResult(BaseModel):
    """What the rules said, in a form that goes into tool results, outcomes and the audit trail as is."""

    ruleset: str
    version: str
    digest: str
    outcome: str
    fired: list[FiredRule]
    errors: list[str] = Field(default_factory=list)

    @property
    def fired_ids(self) -> list[str]:
        return [r.id for r in self.fired]

    @property
    def citations(self) -> list[str]:
        seen: dict[str, None] = {}
        for rule in self.fired:
            for cite in rule.cites:
                seen.setdefault(cite, None)
        return list(seen)

    def reasons(self) -> list[str]:
        return [f"{r.id}: {r.reason}" for r in self.fired]


class Ruleset:
    """A loaded, compiled ruleset. Build with ``load_ruleset``; evaluation is thread-safe and pure."""

    def __init__(self, doc: RulesetDoc, digest: str) -> None:
        import rule_engine

        self.doc = doc
        self.digest = digest
        types = {
            "float": rule_engine.DataType.FLOAT,
            "string": rule_engine.DataType.STRING,
            "bool": rule_engine.DataType.BOOLEAN,
            "list[string]": rule_engine.DataType.ARRAY(rule_engine.DataType.STRING),
        }
        context = rule_engine.Context(
            type_resolver=rule_engine.type_resolver_from_dict({k: types[v] for k, v in doc.facts.items()}),
            default_value=None,
        )
        self._compiled: list[tuple[RuleDef, Any]] = []
        for rule in doc.rules:
            try:
                self._compiled.append((rule, rule_engine.Rule(rule.when, context=context)))
            except rule_engine.EngineError as exc:
                raise ValueError(
                    f"ruleset {doc.ruleset!r} rule {rule.id!r}: {type(exc).__name__}: {exc} in {rule.when!r}"
                ) from exc

    @property
    def name(self) -> str:
        return self.doc.ruleset

    @property
    def version(self) -> str:
        return f"{self.doc.version}+{self.digest}"

    def evaluate(self, facts: dict[str, Any]) -> RulesResult:
        """Evaluate against ``facts``; unknown keys are refused so a caller's typo cannot silently pass."""
        import rule_engine

        unknown = set(facts) - set(self.doc.facts)
        if unknown:
            raise ValueError(f"ruleset {self.name!r}: unknown facts {sorted(unknown)}; known: {sorted(self.doc.facts)}")
        thing = {k: _coerce(facts.get(k), t) for k, t in self.doc.facts.items()}
        fired: list[FiredRule] = []
        errors: list[str] = []
        for rule, compiled in self._compiled:
            try:
                hit = bool(compiled.matches(thing))
            except rule_engine.EngineError as exc:
                errors.append(f"{rule.id}: {type(exc).__name__}: {exc}")
                continue
            if hit:
                fired.append(FiredRule(id=rule.id, outcome=rule.outcome, reason=rule.reason, cites=rule.cites))
                if self.doc.mode == "first":
                    break
        outcome = self._outcome(fired)
        if errors and self.doc.on_error:
            outcome = self.doc.on_error
        return RulesResult(
            ruleset=self.name, version=self.version, digest=self.digest, outcome=outcome, fired=fired, errors=errors
        )

    def _outcome(self, fired: list[FiredRule]) -> str:
        decided = [r.outcome for r in fired if r.outcome is not None]
        if not decided:
            return self.doc.default_outcome
        if self.doc.mode == "first":
            return decided[0]
        return min(decided, key=self.doc.outcomes.index)


def _coerce(value: Any, type_name: str) -> Any:
    """Ints become floats (rule-engine's FLOAT); None stays None, so rules must say what a gap means."""
    if value is None:
        return None
    if type_name == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if type_name == "list[string]":
        return tuple(str(v) for v in value)
    return value


_CACHE: dict[Path, tuple[int, Ruleset]] = {}
_LOCK = threading.Lock()


def load_ruleset(name: str, directory: Path | None = None) -> Ruleset:
    """Load ``<directory>/<name>.yaml`` (default ``tools/data/rules``), re-reading it when the file changes."""
    import yaml

    path = (directory or RULES_DIR) / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (directory or RULES_DIR).glob("*.yaml"))
        raise KeyError(f"ruleset {name!r} not found; known: {known}")
    mtime = path.stat().st_mtime_ns
    with _LOCK:
        cached = _CACHE.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
    raw = path.read_bytes()
    doc = RulesetDoc.model_validate(yaml.safe_load(raw))
    if doc.ruleset != name:
        raise ValueError(f"ruleset file {path.name!r} declares ruleset {doc.ruleset!r}")
    ruleset = Ruleset(doc, hashlib.sha256(raw).hexdigest()[:12])
    with _LOCK:
        _CACHE[path] = (mtime, ruleset)
    return ruleset


def evaluate(name: str, facts: dict[str, Any]) -> RulesResult:
    """Shortcut: load (cached) and evaluate the named ruleset."""
    return load_ruleset(name).evaluate(facts)
