"""LLM-as-judge: OPTIONAL, and marked as such. The local model grades whether each case's explanation agrees
with the decision the run reached.

It is kept apart from the deterministic scores on purpose: small local models are weak judges (DESIGN.md
section 4), so a judgement never decides a case's pass/fail or the gate's quality metrics. Its metrics are
named ``judge.*``, the MLflow run records ``judge_model``, and each case's judgement is stored beside its
checks with the model that gave it. Requests use temperature 0 and a fixed seed, and the answer is
constrained to a JSON schema, so a backend that honours the seed repeats itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from evals.journal import CaseResult
from runtime.errors import UserError

JUDGE_PROMPT_VERSION = "evals.judge.explanation@1"
_SCHEMA = {
    "type": "object",
    "properties": {
        "consistent": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 160},
    },
    "required": ["consistent", "reason"],
}


class JudgeUnavailable(UserError):
    """The judge's model server cannot be used; raised before any case runs."""


class LLMJudge:
    """Grades explanations through any OpenAI-compatible ``/chat/completions`` (the Steward model server)."""

    def __init__(self, base_url: str, model: str, timeout_s: float = 60.0, concurrency: int = 1) -> None:
        """``concurrency`` 1 by default: a server that batches requests may decode a batch slightly differently
        from a lone request, and one at a time keeps greedy decoding repeatable."""
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.concurrency = concurrency

    def check(self) -> None:
        import httpx

        try:
            r = httpx.get(f"{self.base_url}/models", timeout=5.0)
            served = {m.get("id") for m in r.json().get("data", [])}
        except (httpx.HTTPError, ValueError) as exc:
            raise JudgeUnavailable(f"judge model server {self.base_url} is unreachable: {exc}") from None
        if self.model not in served:
            raise JudgeUnavailable(
                f"judge model {self.model!r} is not served by {self.base_url}; served: {sorted(served)}"
            )

    def _prompt(self, result: CaseResult) -> str | None:
        outcome = result.outcome or {}
        explanation = outcome.get("explanation")
        if not isinstance(explanation, str) or not explanation.strip():
            return None
        return (
            "You check a loan triage explanation against the decision the system recorded.\n"
            f"Decision: {outcome.get('decision')} (decided by {outcome.get('decided_by')}).\n"
            f"Explanation: {explanation.strip()[:1500]}\n"
            "Does the explanation agree with the decision (no contradiction, no other decision claimed)? "
            'Answer as JSON: {"consistent": true|false, "reason": "..."}'
        )

    async def grade(self, client: Any, result: CaseResult) -> dict[str, Any] | None:
        prompt = self._prompt(result)
        if prompt is None:
            return None
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "seed": 0,
            "max_tokens": 96,
            "response_format": {"type": "json_schema", "json_schema": {"name": "judgement", "schema": _SCHEMA}},
        }
        try:
            r = await client.post(f"{self.base_url}/chat/completions", json=body, timeout=self.timeout_s)
            r.raise_for_status()
            answer = json.loads(r.json()["choices"][0]["message"]["content"])
            consistent = bool(answer["consistent"])
            reason = str(answer.get("reason", ""))[:160]
        except Exception as exc:  # noqa: BLE001 - a failed judgement is recorded, never fatal to the eval
            return {**self._stamp(), "error": f"{type(exc).__name__}: {exc}"}
        return {**self._stamp(), "consistent": consistent, "reason": reason}

    def _stamp(self) -> dict[str, str]:
        return {"judge": "llm", "model": self.model, "prompt_version": JUDGE_PROMPT_VERSION}

    async def grade_all(self, results: Sequence[CaseResult]) -> dict[str, dict[str, Any]]:
        import httpx

        sem = asyncio.Semaphore(self.concurrency)
        out: dict[str, dict[str, Any]] = {}
        async with httpx.AsyncClient() as client:

            async def one(r: CaseResult) -> None:
                async with sem:
                    judgement = await self.grade(client, r)
                if judgement is not None:
                    out[r.case_id] = judgement

            await asyncio.gather(*(one(r) for r in results))
        return out
