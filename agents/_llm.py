"""How agents use the model: read, extract and explain, never decide (DESIGN.md section 4).

Every call has a rule-based answer ready. When no model is configured, the circuit is open, the server
errs, or the answer is empty or not valid against its schema, the agent uses that answer, the run's event log
says so (``model_fallback``), and the outcome records which of the two produced the text.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from agents.context import current_emitter, get_chat_model

M = TypeVar("M", bound=BaseModel)
Status = Literal["answered", "fallback", "not_configured"]


@dataclass
class ModelUse:
    """What the model did for one step: it goes into the outcome and the audit trail as is."""

    status: Status
    prompt: str
    model: str | None = None
    reason: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


async def stream_text(text: str) -> None:
    """Stream a rule-based text as tokens, so a reader sees the same shape of events either way.

    ``STEWARD_STANDIN_DELAY_S`` slows it (tests that crash a worker mid-node need a node that takes time).
    """
    from temporalio import activity

    delay = float(os.environ.get("STEWARD_STANDIN_DELAY_S", "0") or 0)
    emitter = current_emitter()
    words = text.split(" ")
    for i, word in enumerate(words):
        if emitter:
            emitter.emit("token", {"text": word + (" " if i < len(words) - 1 else "")})
        if delay:
            await asyncio.sleep(delay / len(words))
            if activity.in_activity():
                activity.heartbeat(i)


def prompt_ref(name: str, text: str) -> str:
    """``name@<content hash>``: the version changes exactly when the text does, so an outcome names the prompt
    text that produced it (the eval promotion registers the same texts in the MLflow prompt registry)."""
    import hashlib

    return f"{name}@{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _model_name(model: Any) -> str:
    return str(getattr(model, "model", None) or getattr(model, "model_name", None) or type(model).__name__)


def _fallback_event(prompt: str, model: str, reason: str) -> None:
    emitter = current_emitter()
    if emitter:
        emitter.emit("model_fallback", {"prompt": prompt, "model": model, "reason": reason[:300]})


async def _guarded_call(model: Any, messages: list[dict[str, str]], prompt: str) -> Any:
    """One streamed call, tokens into the event log; the runtime's fallback helper counts failures."""
    emitter = current_emitter()

    from temporalio import activity

    beat = activity.in_activity()

    def on_token(piece: str) -> None:
        if emitter:
            emitter.emit("token", {"text": piece})
        if beat:  # a long generation is progress, not a hung worker
            activity.heartbeat()

    try:  # the runtime's helpers, when the runtime is what configured the model (it always is outside tests)
        from runtime.llm.chat_model import astream_message, call_or_fallback
    except ImportError:  # pragma: no cover - a model injected without Steward's runtime
        return await model.ainvoke(messages)

    def unavailable(exc: Exception) -> Any:
        raise exc

    message, _ = await call_or_fallback(
        astream_message(model, messages, on_token), unavailable, model=_model_name(model)
    )
    return message


async def explain(
    prompt: str, instructions: str, facts: str, fallback: str, max_tokens: int = 160
) -> tuple[str, ModelUse]:
    """The model's explanation of facts the rules already decided on, or the rule-based ``fallback`` text.

    Small local models drop system messages, so the instructions go into the one user turn.
    """
    model = get_chat_model()
    if model is None:
        await stream_text(fallback)
        return fallback, ModelUse("not_configured", prompt)
    name = _model_name(model)
    try:
        bound = model.bind(max_tokens=max_tokens)
        message = await _guarded_call(bound, [{"role": "user", "content": f"{instructions}\n\n{facts}"}], prompt)
        text = str(message.content or "").strip()
        if not text:
            raise ValueError("the model returned no text")
        return text, ModelUse("answered", prompt, name)
    except Exception as exc:  # any failure of a reader/explainer falls back; it never decides anything
        reason = f"{type(exc).__name__}: {exc}"
        _fallback_event(prompt, name, reason)
        await stream_text(fallback)
        return fallback, ModelUse("fallback", prompt, name, reason[:300])


async def extract(
    prompt: str, schema: dict[str, Any], parse: Callable[[dict[str, Any]], M], user: str, max_tokens: int = 200
) -> tuple[M | None, ModelUse]:
    """Fields from text: the model's answer constrained to the JSON ``schema``, then ``parse``d; None when the
    model cannot give them (no model, circuit open, server error, output that does not parse)."""
    model = get_chat_model()
    if model is None:
        return None, ModelUse("not_configured", prompt)
    name = _model_name(model)
    response_format = {"type": "json_schema", "json_schema": {"name": "extraction", "schema": schema}}
    try:
        bound = model.bind(max_tokens=max_tokens, response_format=response_format)
        message = await _guarded_call(bound, [{"role": "user", "content": user}], prompt)
        data = json.loads(str(message.content))
        if not isinstance(data, dict):
            raise ValueError("the model's answer is not a JSON object")
        return parse(data), ModelUse("answered", prompt, name)
    except (ValidationError, ValueError) as exc:
        reason = f"invalid model output: {exc}"
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
    _fallback_event(prompt, name, reason)
    return None, ModelUse("fallback", prompt, name, reason[:300])
