"""Guard points: run input, LLM output, tool arguments, tool output; configured per assistant.

A profile (``guards/profiles/<assistant>.yaml``, else ``default.yaml``) lists, for each point, validators
with guardrails' on-fail actions: ``exception`` (block: the caller turns it into a clear error or a denied
call), ``fix`` (use the validator's fix, e.g. redaction), ``filter`` (drop the offending value), ``reask``
(ask the model again; where no model is in the loop it blocks), ``noop`` (record only).

Validators are guardrails ``Validator`` objects, called through ``Validator.validate`` by this small
executor rather than through ``Guard.validate``: measured here, a ``Guard`` costs about 4 ms per call and a
direct validator call about 6 us, and a tool call passes several points. Every verdict is returned so the
caller writes it to the event log and the audit trail: a guard never passes silently.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

PROFILES_DIR = Path(__file__).parent / "profiles"
Point = Literal["input", "llm_output", "tool_args", "tool_output"]
POINTS: tuple[str, ...] = ("input", "llm_output", "tool_args", "tool_output")
ACTIONS = ("exception", "fix", "filter", "reask", "noop")
WHOLE_VALUE_VALIDATORS = frozenset({"amount_limit", "json_schema"})
"""Validators that judge a whole object; the others check each string inside it."""


class ValidatorConfig(BaseModel):
    validator: str
    on_fail: str = "exception"
    params: dict[str, Any] = Field(default_factory=dict)
    tools: list[str] | None = None
    """Only for these tools (tool_args / tool_output points); None = every tool."""
    except_tools: list[str] = Field(default_factory=list)
    """Every tool but these (a referral moves no money, so an amount ceiling must not stop it)."""
    fields: Literal["all", "free_text"] = "all"
    """``free_text``: only string fields the input schema leaves open (no enum, const, format or pattern), so
    structured fields that need an identifier (an IBAN field, an e-mail field) keep it."""


class GuardProfile(BaseModel):
    name: str = "default"
    version: str = ""
    """Filled when loaded: the declared ``version`` (if any) plus a digest of the file, so every guard outcome
    records exactly which profile judged it (an edit without a version bump is still visible)."""
    input: list[ValidatorConfig] = Field(default_factory=list)
    llm_output: list[ValidatorConfig] = Field(default_factory=list)
    tool_args: list[ValidatorConfig] = Field(default_factory=list)
    tool_output: list[ValidatorConfig] = Field(default_factory=list)


@dataclass
class Verdict:
    point: str
    validator: str
    on_fail: str
    passed: bool
    message: str = ""
    path: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "point": self.point,
            "validator": self.validator,
            "on_fail": self.on_fail,
            "passed": self.passed,
            "message": self.message,
            "path": self.path,
        }


@dataclass
class GuardOutcome:
    value: Any
    verdicts: list[Verdict] = field(default_factory=list)
    blocked: Verdict | None = None
    reask: bool = False
    profile: str = ""
    profile_version: str = ""
    """The guard profile (name and version) whose validators decided this outcome."""

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]


class GuardError(ValueError):
    """A guard with on_fail=exception refused the value; the message names the point, path and reason."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        where = f" at {verdict.path}" if verdict.path else ""
        super().__init__(f"{verdict.point} guard {verdict.validator!r}{where}: {verdict.message}")


_PROJECT_PROFILES: dict[str, Path] = {}
"""Assistant -> profile file its project declares (``use_profiles``); guards import nothing of ours, so the
project's choice is handed in by whoever loads the project (``agents.registry.use_project``)."""


def use_profiles(files: dict[str, Path]) -> None:
    """Serve these assistants with these profile files from now on (the project's ``guard_profile``)."""
    _PROJECT_PROFILES.clear()
    _PROJECT_PROFILES.update(files)
    load_profile.cache_clear()


def profile_file(value: str, root: Path | None = None) -> Path | None:
    """A declared profile: a YAML file relative to ``root`` (the project's folder), else a built-in name."""
    if root is not None and (root / value).is_file():
        return (root / value).resolve()
    builtin = PROFILES_DIR / f"{value}.yaml"
    return builtin if builtin.is_file() else None


@functools.cache
def load_profile(assistant_id: str) -> GuardProfile:
    """The profile the assistant's project declares, else ``profiles/<assistant>.yaml``, else the default."""
    path = _PROJECT_PROFILES.get(assistant_id) or PROFILES_DIR / f"{assistant_id}.yaml"
    if not path.exists():
        path = PROFILES_DIR / "default.yaml"
    text = path.read_text()
    profile = GuardProfile.model_validate(yaml.safe_load(text) or {})
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    profile.version = f"{profile.version}+{digest}" if profile.version else digest
    for point in POINTS:
        for cfg in getattr(profile, point):
            if cfg.on_fail not in ACTIONS:
                raise ValueError(f"{path}: {point}.{cfg.validator}: on_fail {cfg.on_fail!r}; known: {list(ACTIONS)}")
    return profile


@functools.cache
def _validator(name: str, params_key: str) -> Any:
    import json

    from guards.validators import validator_classes

    classes = validator_classes()
    if name not in classes:
        raise KeyError(f"validator {name!r} not found; known: {sorted(classes)}")
    # Our executor applies the action; the validator itself only reports (noop).
    return classes[name](on_fail="noop", **json.loads(params_key))


def _check(cfg: ValidatorConfig, value: Any) -> tuple[bool, str, Any]:
    v = _validator(cfg.validator, _params_key(cfg))
    result = v.validate(value, {})
    if result.outcome == "pass":
        return True, "", value
    fix = getattr(result, "fix_value", None)
    return False, result.error_message or "failed", fix


def string_leaves(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, text) of every string inside a JSON-like value; paths read like ``a.b[0].c``."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in string_leaves(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in string_leaves(v, f"{path}[{i}]")]
    return []


def _set_path(value: Any, path: str, new: Any) -> Any:
    """Return a copy of value with the string leaf at path replaced (None drops it: the filter action)."""
    import re

    parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
    if not parts:
        return new

    def rec(node: Any, i: int) -> Any:
        key: Any = parts[i]
        if isinstance(node, list):
            key = int(key)
            copy_list = list(node)
            copy_list[key] = new if i == len(parts) - 1 else rec(node[key], i + 1)
            return [x for x in copy_list if x is not None] if new is None and i == len(parts) - 1 else copy_list
        copy = dict(node)
        if i == len(parts) - 1:
            if new is None:
                copy.pop(key, None)
            else:
                copy[key] = new
        else:
            copy[key] = rec(node[key], i + 1)
        return copy

    return rec(value, 0)


def free_text_paths(schema: dict[str, Any]) -> frozenset[str]:
    """Leaf paths (``a.b[].c``, list indices as ``[]``) of the free-text strings a JSON schema allows."""
    defs = schema.get("$defs", {})
    out: set[str] = set()

    def walk(node: dict[str, Any], path: str, depth: int) -> None:
        if depth > 20:
            return
        if "$ref" in node:
            node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        for sub in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
            walk(sub, path, depth + 1)
        kind = node.get("type")
        if kind == "string" and not {"enum", "const", "format", "pattern"} & node.keys():
            out.add(path)
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.{name}" if path else name, depth + 1)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]", depth + 1)

    walk(schema, "", 0)
    return frozenset(out)


def _schema_path(path: str) -> str:
    import re

    return re.sub(r"\[\d+\]", "[]", path)


def run_point(
    point: str,
    value: Any,
    assistant_id: str = "default",
    tool: str | None = None,
    free_text: frozenset[str] | None = None,
) -> GuardOutcome:
    """Apply a point's validators to a value (strings are checked leaf by leaf, objects whole).

    ``free_text``: the value's free-text leaf paths (``free_text_paths`` of its schema); validators configured
    with ``fields: free_text`` check only those. None (schema unknown) checks every leaf: masking too much is
    the safe error.
    """
    profile = load_profile(assistant_id)
    outcome = GuardOutcome(value=value, profile=profile.name, profile_version=profile.version)
    for cfg in getattr(profile, point):
        if (cfg.tools is not None and tool not in cfg.tools) or tool in cfg.except_tools:
            continue
        whole = cfg.validator in WHOLE_VALUE_VALIDATORS
        targets = [("", outcome.value)] if whole else string_leaves(outcome.value)
        if cfg.fields == "free_text" and free_text is not None and not whole:
            targets = [(p, leaf) for p, leaf in targets if _schema_path(p) in free_text]
        for path, leaf in targets:
            passed, message, fixed = _check(cfg, leaf)
            verdict = Verdict(point, cfg.validator, cfg.on_fail, passed, message, path)
            outcome.verdicts.append(verdict)
            if passed:
                continue
            if cfg.on_fail == "exception":
                outcome.blocked = verdict
                return outcome
            if cfg.on_fail == "reask":
                outcome.reask = True
                outcome.blocked = verdict
                return outcome
            if cfg.on_fail == "fix" and fixed is not None and not whole:
                outcome.value = _set_path(outcome.value, path, fixed)
            elif cfg.on_fail == "filter" and not whole:
                outcome.value = _set_path(outcome.value, path, None)
            elif cfg.on_fail in ("fix", "filter") and whole:
                outcome.blocked = verdict
                return outcome
    return outcome


def _params_key(cfg: ValidatorConfig) -> str:
    import json

    return json.dumps(cfg.params, sort_keys=True)
