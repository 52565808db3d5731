"""How agents use the model: read, extract and explain, never decide (DESIGN.md section 4).

Every call has a rule-based answer ready. When no model is configured, the circuit is open, the server
errs, or the answer is empty or not valid against its schema, the agent uses that answer, the run's event log
says so (``model_fallback``), and the outcome records which of the two produced the text.

**Only a model's tokens are tokens.** ``token`` events come from the model server's stream and nothing else.
Text written by rules or a template is appended once, whole, as a ``message`` event carrying its author
(``rules`` or ``template:<name>``), via ``say``; the outcome's ``texts`` say the same.

**Prompts that run.** Every prompt sent to a model is loaded when it is sent (in the node's activity) from
the MLflow prompt registry alias ``champion`` (``load_prompt``), with the packaged text of
``agents/<name>/prompts.py`` as the fallback when no registry is reachable or the prompt is not registered.
The version used (``name@<registry version>`` or ``name@packaged-<hash>``) travels into the outcome's
``prompt_versions`` and from there into the audit trail.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from agents.context import current_emitter, get_chat_model
from guards.outcome import MODEL, AuthoredText

M = TypeVar("M", bound=BaseModel)
Status = Literal["answered", "fallback", "not_configured"]
CHAMPION = "champion"


@dataclass
class ModelUse:
    """What the model did for one step: it goes into the outcome and the audit trail as is."""

    status: Status
    prompt: str
    """``name@version`` of the prompt sent (just ``name`` when no model was configured: nothing was sent)."""
    model: str | None = None
    reason: str | None = None

    @property
    def sent(self) -> str | None:
        """The prompt version that went to a model (even if its answer was then not used), else None."""
        return self.prompt if self.status != "not_configured" else None

    def public(self) -> dict[str, Any]:
        return asdict(self)


# -- prompts -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A prompt as sent: its registry name, text, and the version that names exactly that text."""

    name: str
    text: str
    version: str
    source: Literal["registry", "packaged"]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def packaged_prompt(name: str, text: str) -> Prompt:
    """The text shipped in ``agents/<name>/prompts.py``: versioned by content, so a changed text is a new ref."""
    return Prompt(name, text, f"packaged-{hashlib.sha256(text.encode()).hexdigest()[:10]}", "packaged")


def prompt_ref(name: str, text: str) -> str:
    """``name@packaged-<content hash>`` of a packaged prompt text."""
    return packaged_prompt(name, text).ref


class _PromptRegistry:
    """Where prompts are looked up, with a short per-process cache (a promotion takes effect within ``ttl_s``).

    The URI defaults to the one the tools use (``STEWARD_MLFLOW_TRACKING_URI``, else the embedded SQLite store
    under the Steward home), so a worker and ``steward eval`` read the registry that promotion writes to.
    """

    def __init__(self) -> None:
        self.uri: str | None = None
        self.configured = False
        self.ttl_s = 30.0
        self._cache: dict[str, tuple[float, Prompt]] = {}
        self._lock = threading.Lock()

    def configure(self, uri: str | None, ttl_s: float | None = None) -> None:
        with self._lock:
            self.uri, self.configured = uri, True
            if ttl_s is not None:
                self.ttl_s = ttl_s
            self._cache.clear()

    def resolved_uri(self) -> str | None:
        if self.configured:
            return self.uri
        from tools._settings import mlflow_tracking_uri

        return mlflow_tracking_uri()

    def get(self, name: str, packaged: str) -> Prompt:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        prompt = self._load(name, self.resolved_uri()) or packaged_prompt(name, packaged)
        with self._lock:
            self._cache[name] = (now, prompt)
        return prompt

    @staticmethod
    def _reachable(uri: str) -> bool:
        """Cheap checks first: a missing SQLite file is no registry (and must not be created by a lookup);
        a tracking server that does not answer its health check within a second is not waited for."""
        if uri.startswith("sqlite:///"):
            return Path(uri.removeprefix("sqlite:///")).exists()
        if uri.startswith(("http://", "https://")):
            import httpx

            try:
                return httpx.get(uri.rstrip("/") + "/health", timeout=1.0).status_code < 500
            except httpx.HTTPError:
                return False
        return True

    def _load(self, name: str, uri: str | None) -> Prompt | None:
        if not uri or not self._reachable(uri):
            return None
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        try:
            from mlflow import MlflowClient  # lazy: 2 s to import, and only workers that send prompts need it

            found = MlflowClient(tracking_uri=uri, registry_uri=uri).load_prompt(f"prompts:/{name}@{CHAMPION}")
        except Exception:  # noqa: BLE001 - not registered, no alias, registry unreadable: the packaged text
            return None
        if found is None:
            return None
        return Prompt(name, str(found.template), str(found.version), "registry")


_REGISTRY = _PromptRegistry()


def configure_prompt_registry(uri: str | None, ttl_s: float | None = None) -> None:
    """Point prompt lookups at ``uri`` (None: packaged texts only) and forget cached prompts."""
    _REGISTRY.configure(uri, ttl_s)


def reset_prompt_registry() -> None:
    """Back to the default lookup (the tools' MLflow URI) with an empty cache."""
    _REGISTRY.configure(None)
    _REGISTRY.configured = False


async def load_prompt(name: str, packaged: str) -> Prompt:
    """The ``champion`` version of prompt ``name`` from the registry, else the ``packaged`` text.

    Call it from activity code (a node), never from workflow code: it reads a database or a server.
    """
    return await asyncio.to_thread(_REGISTRY.get, name, packaged)


# -- texts -------------------------------------------------------------------------------------------------


async def say(text: str, by: str) -> AuthoredText:
    """Append a text written by rules or a template to the run's log: one ``message`` event with its author.

    It is never split into tokens: only a model's output streams as tokens. ``STEWARD_STANDIN_DELAY_S``
    holds the node afterwards (tests that crash a worker mid-node need a node that takes time).
    """
    from temporalio import activity

    emitter = current_emitter()
    if emitter:
        emitter.emit("message", {"text": text, "by": by})
    delay = float(os.environ.get("STEWARD_STANDIN_DELAY_S", "0") or 0)
    steps = 10
    for i in range(steps if delay else 0):
        await asyncio.sleep(delay / steps)
        if activity.in_activity():
            activity.heartbeat(i)
    return AuthoredText(text=text, by=by, node=emitter.node if emitter else None)


def _model_name(model: Any) -> str:
    return str(getattr(model, "model", None) or getattr(model, "model_name", None) or type(model).__name__)


def _fallback_event(prompt: str, model: str, reason: str) -> None:
    emitter = current_emitter()
    if emitter:
        emitter.emit("model_fallback", {"prompt": prompt, "model": model, "reason": reason[:300]})


async def _guarded_call(model: Any, messages: list[dict[str, str]], prompt: str) -> Any:
    """One streamed call, the model's tokens into the event log; the runtime's fallback helper counts failures."""
    emitter = current_emitter()
    name = _model_name(model)

    from temporalio import activity

    beat = activity.in_activity()

    def on_token(piece: str) -> None:
        if emitter:
            emitter.emit("token", {"text": piece, "by": MODEL, "model": name, "prompt": prompt})
        if beat:  # a long generation is progress, not a hung worker
            activity.heartbeat()

    try:  # the runtime's helpers, when the runtime is what configured the model (it always is outside tests)
        from runtime.llm.chat_model import astream_message, call_or_fallback
    except ImportError:  # pragma: no cover - a model injected without Steward's runtime
        return await model.ainvoke(messages)

    def unavailable(exc: Exception) -> Any:
        raise exc

    message, _ = await call_or_fallback(astream_message(model, messages, on_token), unavailable, model=name)
    return message


async def explain(
    name: str, packaged: str, facts: str, fallback: str, fallback_by: str, max_tokens: int = 160
) -> tuple[AuthoredText, ModelUse]:
    """The model's explanation of facts the rules already decided on, or the ``fallback`` text (by
    ``fallback_by``: ``rules`` or ``template:<name>``), appended whole as a message.

    The instructions are prompt ``name`` as the registry's champion has it (else ``packaged``). Small local
    models drop system messages, so the instructions go into the one user turn.
    """
    model = get_chat_model()
    if model is None:
        return await say(fallback, fallback_by), ModelUse("not_configured", name)
    prompt = await load_prompt(name, packaged)
    model_name = _model_name(model)
    try:
        bound = model.bind(max_tokens=max_tokens)
        message = await _guarded_call(bound, [{"role": "user", "content": f"{prompt.text}\n\n{facts}"}], prompt.ref)
        text = str(message.content or "").strip()
        if not text:
            raise ValueError("the model returned no text")
        emitter = current_emitter()
        written = AuthoredText(
            text=text, by=MODEL, node=emitter.node if emitter else None, model=model_name, prompt=prompt.ref
        )
        return written, ModelUse("answered", prompt.ref, model_name)
    except Exception as exc:  # any failure of a reader/explainer falls back; it never decides anything
        reason = f"{type(exc).__name__}: {exc}"
        _fallback_event(prompt.ref, model_name, reason)
        return await say(fallback, fallback_by), ModelUse("fallback", prompt.ref, model_name, reason[:300])


async def extract(
    name: str,
    packaged: str,
    schema: dict[str, Any],
    parse: Callable[[dict[str, Any]], M],
    user: Callable[[str], str],
    max_tokens: int = 200,
    partial: bool = False,
) -> tuple[M | None, ModelUse]:
    """Fields from text: the model's answer constrained to the JSON ``schema``, then ``parse``d; None when the
    model cannot give them (no model, circuit open, server error, output that does not parse).

    ``partial``: an answer cut off at ``max_tokens`` keeps the pairs it finished (the last one, possibly cut
    mid-value, is dropped), for callers that check every value anyway (intake grounds each one).

    ``user(instructions)`` builds the user turn around prompt ``name`` (champion, else ``packaged``).
    """
    model = get_chat_model()
    if model is None:
        return None, ModelUse("not_configured", name)
    prompt = await load_prompt(name, packaged)
    model_name = _model_name(model)
    response_format = {"type": "json_schema", "json_schema": {"name": "extraction", "schema": schema}}
    try:
        bound = model.bind(max_tokens=max_tokens, response_format=response_format)
        message = await _guarded_call(bound, [{"role": "user", "content": user(prompt.text)}], prompt.ref)
        cut: str | None = None
        try:
            data = json.loads(str(message.content))
        except ValueError:
            if not partial:
                raise
            data = _finished_pairs(str(message.content))
            cut = f"answer cut off at {max_tokens} tokens: {len(data)} finished fields kept"
        if not isinstance(data, dict):
            raise ValueError("the model's answer is not a JSON object")
        return parse(data), ModelUse("answered", prompt.ref, model_name, cut)
    except (ValidationError, ValueError) as exc:
        reason = f"invalid model output: {exc}"
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
    _fallback_event(prompt.ref, model_name, reason)
    return None, ModelUse("fallback", prompt.ref, model_name, reason[:300])


def _finished_pairs(text: str) -> dict[str, Any]:
    """The key/value pairs of a JSON object cut off mid-way, without the last one (it may be cut mid-value)."""
    from langchain_core.utils.json import parse_partial_json

    try:
        data = parse_partial_json(text)
    except ValueError as exc:
        raise ValueError(f"the model's answer does not parse: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise ValueError("the model's answer is not a JSON object")
    data.pop(list(data)[-1])
    return data


def acts_on_world(tool: str) -> bool:
    """Whether a registered tool has side effects (its calls are the outcome's ``actions``); unknown: no."""
    from tools.registry import get_tool

    try:
        return bool(get_tool(tool).side_effect)
    except (KeyError, LookupError):
        return False
