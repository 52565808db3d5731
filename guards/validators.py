"""Steward's validators, registered with guardrails-ai (``@register_validator``; nothing from the hub).

guardrails is imported lazily (about 3 s) and its hub telemetry is switched off before any validator is
built: a validator's constructor starts a trace exporter when the rc setting ``enable_metrics`` is on.
"""

from __future__ import annotations

import functools
from typing import Any

from guards.detectors import PII_KINDS, find_injection, find_pii, find_secrets, find_urls_outside, redact


@functools.cache
def validator_classes() -> dict[str, type[Any]]:
    """Import guardrails once, turn its telemetry off, register our validators, return them by short name."""
    from guardrails.settings import settings

    settings.rc.enable_metrics = False
    settings.rc.use_remote_inferencing = False
    from guardrails.validators import ErrorSpan, FailResult, PassResult, Validator, register_validator

    def _fail(message: str, value: str, findings: list[Any], fixed: str) -> Any:
        return FailResult(
            error_message=message,
            fix_value=fixed,
            error_spans=[ErrorSpan(start=f.start, end=f.end, reason=f.kind) for f in findings],
        )

    @register_validator(name="steward/pii", data_type="string")
    class PII(Validator):  # type: ignore[misc]
        """E-mail, phone, IBAN (mod-97), card (Luhn), national ids; the fix redacts each span by kind."""

        def __init__(self, kinds: list[str] | None = None, on_fail: Any = None, **kw: Any) -> None:
            super().__init__(on_fail=on_fail, kinds=kinds, **kw)
            self.kinds = tuple(kinds or PII_KINDS)

        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            findings = find_pii(str(value), self.kinds)
            if not findings:
                return PassResult()
            kinds = sorted({f.kind for f in findings})
            return _fail(f"PII found: {', '.join(kinds)}", value, findings, redact(str(value), findings))

    @register_validator(name="steward/secrets", data_type="string")
    class Secrets(Validator):  # type: ignore[misc]
        """API keys, tokens, private keys, assigned passwords."""

        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            findings = find_secrets(str(value))
            if not findings:
                return PassResult()
            kinds = sorted({f.kind for f in findings})
            return _fail(f"secret found: {', '.join(kinds)}", value, findings, redact(str(value), findings, "secret"))

    @register_validator(name="steward/prompt_injection", data_type="string")
    class PromptInjection(Validator):  # type: ignore[misc]
        """Instruction-like markers in text that should only be data (user fields, retrieved or scraped text)."""

        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            findings = find_injection(str(value))
            if not findings:
                return PassResult()
            return _fail(
                f"possible prompt injection: {findings[0].text!r}",
                value,
                findings,
                redact(str(value), findings, "removed: possible prompt injection"),
            )

    @register_validator(name="steward/allowed_domains", data_type="string")
    class AllowedDomains(Validator):  # type: ignore[misc]
        """Every URL must point into the allow-list (exfiltration through links, unlawful scraping)."""

        def __init__(self, domains: list[str] | None = None, on_fail: Any = None, **kw: Any) -> None:
            super().__init__(on_fail=on_fail, domains=domains, **kw)
            self.domains = [d.lower() for d in domains or []]

        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            findings = find_urls_outside(str(value), self.domains)
            if not findings:
                return PassResult()
            return _fail(
                f"URL outside the allowed domains: {findings[0].text}", value, findings, redact(str(value), findings)
            )

    @register_validator(name="steward/amount_limit", data_type="object")
    class AmountLimit(Validator):  # type: ignore[misc]
        """A business limit on a numeric argument (e.g. amount <= ceiling); no fix: limits are not guessed."""

        def __init__(self, field: str = "amount", max: float = float("inf"), on_fail: Any = None, **kw: Any) -> None:
            super().__init__(on_fail=on_fail, field=field, max=max, **kw)
            self.field, self.max = field, float(max)

        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            if not isinstance(value, dict) or self.field not in value:
                return PassResult()
            try:
                amount = float(value[self.field])
            except (TypeError, ValueError):
                return FailResult(error_message=f"{self.field}: not a number")
            if amount > self.max:
                return FailResult(error_message=f"{self.field} {amount:g} exceeds the limit {self.max:g}")
            return PassResult()

    @register_validator(name="steward/json_schema", data_type="object")
    class JsonSchema(Validator):  # type: ignore[misc]
        """Output must match a JSON schema (structured LLM output, tool results)."""

        def __init__(self, schema: dict[str, Any] | None = None, on_fail: Any = None, **kw: Any) -> None:
            super().__init__(on_fail=on_fail, schema=schema, **kw)
            self.schema = schema or {}

        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            import jsonschema

            errors = sorted(jsonschema.Draft202012Validator(self.schema).iter_errors(value), key=str)
            if not errors:
                return PassResult()
            e = errors[0]
            path = ".".join(str(p) for p in e.absolute_path) or "<root>"
            return FailResult(error_message=f"{path}: {e.message}")

    return {
        "pii": PII,
        "secrets": Secrets,
        "prompt_injection": PromptInjection,
        "allowed_domains": AllowedDomains,
        "amount_limit": AmountLimit,
        "json_schema": JsonSchema,
    }
