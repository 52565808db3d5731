"""A first policy engine: ordered rules as data (JSON), first match wins, hot-reloaded when the file changes.

The guard issue replaces the condition language with a standard one; the contract stays: a tool call in,
a ``PolicyDecision`` out that names the rule and the policy version, so every decision can be audited.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from guards.types import PolicyDecision, Principal

DEFAULT_POLICY_FILE = Path(__file__).parent / "policies" / "default.json"
_CONDITIONS = {"tools", "risk", "side_effect", "tenants", "arg_gt", "arg_gte", "roles_any"}


class PolicyInput(BaseModel):
    """Everything a rule may look at for one proposed tool call."""

    tool: str
    risk: str
    side_effect: bool
    args: dict[str, Any]
    tenant: str
    requester: Principal
    assistant_id: str = ""


class PolicyRule(BaseModel):
    """One rule; ``when`` holds conditions that must all hold (an empty ``when`` always matches)."""

    id: str = Field(min_length=1)
    when: dict[str, Any] = Field(default_factory=dict)
    effect: str
    reason: str
    required_role: str | None = None
    deadline_s: float | None = None
    on_timeout: str = "reject"
    escalate_to: str | None = None
    escalation_deadline_s: float | None = None

    def model_post_init(self, _context: Any) -> None:
        unknown = set(self.when) - _CONDITIONS
        if unknown:
            raise ValueError(f"rule {self.id!r}: unknown condition(s) {sorted(unknown)}; known: {sorted(_CONDITIONS)}")
        if self.effect not in ("allow", "deny", "require_approval"):
            raise ValueError(f"rule {self.id!r}: effect {self.effect!r}; known: allow, deny, require_approval")
        if self.effect == "require_approval" and not self.required_role:
            raise ValueError(f"rule {self.id!r}: require_approval needs required_role")


class PolicyDocument(BaseModel):
    version: str
    description: str = ""
    rules: list[PolicyRule]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _matches(rule: PolicyRule, inp: PolicyInput) -> bool:
    when = rule.when
    if "tools" in when and inp.tool not in when["tools"]:
        return False
    if "risk" in when and inp.risk not in when["risk"]:
        return False
    if "side_effect" in when and bool(when["side_effect"]) != inp.side_effect:
        return False
    if "tenants" in when and inp.tenant not in when["tenants"]:
        return False
    if "roles_any" in when and not set(when["roles_any"]) & set(inp.requester.roles):
        return False
    for key, strict in (("arg_gt", True), ("arg_gte", False)):
        for arg, limit in (when.get(key) or {}).items():
            value = _number(inp.args.get(arg))
            if value is None:
                return False
            if (value <= limit) if strict else (value < limit):
                return False
    return True


class PolicyEngine:
    """Evaluates rules from a JSON file; re-reads the file when its content changes (hot reload)."""

    def __init__(self, path: Path | str = DEFAULT_POLICY_FILE) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._mtime_ns = -1
        self._doc: PolicyDocument | None = None
        self._digest = ""
        self._load()

    def _load(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"policy file {str(self.path)!r} does not exist") from exc
        if stat.st_mtime_ns == self._mtime_ns and self._doc is not None:
            return
        raw = self.path.read_bytes()
        try:
            doc = PolicyDocument.model_validate(json.loads(raw))
        except (json.JSONDecodeError, ValidationError, ValueError) as exc:
            if self._doc is not None:
                # A broken edit must not take the running engine down: keep the last good policy.
                return
            raise ValueError(f"policy file {str(self.path)!r} is invalid: {exc}") from exc
        self._doc = doc
        self._mtime_ns = stat.st_mtime_ns
        self._digest = hashlib.sha256(raw).hexdigest()[:12]

    @property
    def version(self) -> str:
        """The declared version plus a content digest, so an edit without a version bump is still visible."""
        assert self._doc is not None
        return f"{self._doc.version}+{self._digest}"

    def decide(self, inp: PolicyInput) -> PolicyDecision:
        with self._lock:
            self._load()
            doc = self._doc
        assert doc is not None
        for rule in doc.rules:
            if _matches(rule, inp):
                return PolicyDecision(
                    effect=rule.effect,  # type: ignore[arg-type]
                    reason=rule.reason,
                    rule_id=rule.id,
                    policy_version=self.version,
                    required_role=rule.required_role,
                    deadline_s=rule.deadline_s,
                    on_timeout="escalate" if rule.on_timeout == "escalate" else "reject",
                    escalate_to=rule.escalate_to,
                    escalation_deadline_s=rule.escalation_deadline_s,
                )
        # No rule matched: fail closed.
        return PolicyDecision(
            effect="deny", reason="no policy rule matched", rule_id="<none>", policy_version=self.version
        )


def load_policy_engine(path: Path | str | None = None) -> PolicyEngine:
    return PolicyEngine(path or DEFAULT_POLICY_FILE)
