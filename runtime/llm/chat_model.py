"""The agents' chat model: langchain-core ``BaseChatModel`` over the OpenAI chat-completions wire protocol.

It talks to Steward's model server by default, and to any OpenAI-compatible server (llama.cpp's
``llama-server``, vLLM) by changing ``base_url``. Every call passes the endpoint's circuit breaker: transport
errors, timeouts and 5xx count as failures; when the circuit is open, or retries run out, the call raises
``ModelUnavailable`` and the agent takes its rule-based path (see ``call_or_fallback``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import ToolCallChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from runtime.errors import ModelUnavailable, UserError
from runtime.llm.breaker import CircuitBreaker, breaker_for
from runtime.llm.metrics import REGISTRY

T = TypeVar("T")


class _Retryable(Exception):
    """A failure the breaker counts: transport error, timeout, 5xx."""


class StewardChatModel(BaseChatModel):
    """Chat model for an OpenAI-compatible endpoint, with retries and a per-model circuit breaker."""

    base_url: str = "http://127.0.0.1:8081/v1"
    model: str = "gemma3-270m"
    api_key: str | None = None
    temperature: float | None = 0.0
    max_tokens: int | None = None
    timeout_s: float = 60.0
    """Per request; a model call that takes longer counts as a failure (the breaker sees it)."""
    max_retries: int = 1
    """Extra attempts after a retryable failure; Temporal retries the whole activity on top of this."""
    failure_threshold: int = 3
    cooldown_s: float = 30.0
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields sent with every request (e.g. ``seed``, ``response_format``)."""

    _breaker: CircuitBreaker | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Any, model: str | None = None, **kwargs: Any) -> StewardChatModel:
        """The model agents use, configured from ``Settings`` (``STEWARD_LLM_*``)."""
        return cls(
            base_url=settings.resolved_llm_base_url,
            model=model or settings.llm_default_model,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            timeout_s=settings.llm_timeout_s,
            failure_threshold=settings.llm_breaker_failures,
            cooldown_s=settings.llm_breaker_cooldown_s,
            **kwargs,
        )

    @property
    def _llm_type(self) -> str:
        return "steward-openai-compatible"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model}

    @property
    def breaker(self) -> CircuitBreaker:
        if self._breaker is None:
            self._breaker = breaker_for(
                f"{self.base_url}|{self.model}", self.model, self.failure_threshold, self.cooldown_s
            )
        return self._breaker

    # -- tools ----------------------------------------------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools``; ``tool_choice`` may be auto/none/required/any/True or a tool's name."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            if tool_choice is True or tool_choice == "any":
                tool_choice = "required"
            elif isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
                tool_choice = {"type": "function", "function": {"name": tool_choice}}
            kwargs["tool_choice"] = tool_choice
        return super().bind(tools=formatted, **kwargs)

    # -- wire -----------------------------------------------------------------------------------------
    def _body(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": convert_to_openai_messages(messages),
            "stream": stream,
            **self.model_kwargs,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if stop:
            body["stop"] = stop
        if stream:
            body["stream_options"] = {"include_usage": True}
        body.update({k: v for k, v in kwargs.items() if v is not None})
        return body

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s))

    @property
    def _url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @staticmethod
    def _check(status: int, text: str) -> None:
        if status >= 500:
            raise _Retryable(f"HTTP {status}: {text[:300]}")
        if status >= 400:
            try:
                detail = json.loads(text).get("detail", text)
            except (ValueError, AttributeError):
                detail = text
            raise UserError(f"model server refused the request (HTTP {status}): {detail}")

    def _attempts(self) -> Iterator[int]:
        """Attempt numbers, each admitted by the breaker (which raises once the circuit is open)."""
        for attempt in range(self.max_retries + 1):
            self.breaker.before_call()
            yield attempt

    def _failed(self, exc: BaseException, attempt: int) -> None:
        self.breaker.record_failure(f"{type(exc).__name__}: {exc}")
        REGISTRY.inc("steward_llm_errors_total", model=self.model, kind="client_" + type(exc).__name__)
        if attempt >= self.max_retries:
            raise ModelUnavailable(
                f"model {self.model!r} at {self.base_url} failed after {attempt + 1} attempt(s): "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    # -- non-streaming --------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        body = self._body(messages, stop, False, **kwargs)
        for attempt in self._attempts():
            try:
                with httpx.Client(timeout=self._timeout()) as client:
                    r = client.post(self._url, json=body, headers=self._headers())
                self._check(r.status_code, r.text)
                result = _to_result(r.json())
            except (httpx.HTTPError, _Retryable) as exc:
                self._failed(exc, attempt)
                time.sleep(min(0.2 * 2**attempt, 2.0))
                continue
            except UserError:
                self.breaker.record_success()  # the server answered: it is up
                raise
            self.breaker.record_success()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        body = self._body(messages, stop, False, **kwargs)
        for attempt in self._attempts():
            try:
                async with httpx.AsyncClient(timeout=self._timeout()) as client:
                    r = await client.post(self._url, json=body, headers=self._headers())
                self._check(r.status_code, r.text)
                result = _to_result(r.json())
            except (httpx.HTTPError, _Retryable) as exc:
                self._failed(exc, attempt)
                await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
                continue
            except UserError:
                self.breaker.record_success()
                raise
            self.breaker.record_success()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    # -- streaming ------------------------------------------------------------------------------------
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        body = self._body(messages, stop, True, **kwargs)
        for attempt in self._attempts():
            started = False
            try:
                with (
                    httpx.Client(timeout=self._timeout()) as client,
                    client.stream("POST", self._url, json=body, headers=self._headers()) as r,
                ):
                    if r.status_code >= 400:
                        self._check(r.status_code, r.read().decode(errors="replace"))
                    for data in _sse_lines(r.iter_lines()):
                        chunk = _to_chunk(data)
                        if chunk is None:
                            continue
                        started = True
                        if run_manager and chunk.text:
                            run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
            except (httpx.HTTPError, _Retryable) as exc:
                if started:  # tokens already went out: a retry would repeat them
                    self.breaker.record_failure(f"{type(exc).__name__}: {exc}")
                    raise ModelUnavailable(f"model {self.model!r} stream broke: {exc}") from exc
                self._failed(exc, attempt)
                time.sleep(min(0.2 * 2**attempt, 2.0))
                continue
            except UserError:
                self.breaker.record_success()
                raise
            self.breaker.record_success()
            return

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        body = self._body(messages, stop, True, **kwargs)
        for attempt in self._attempts():
            started = False
            try:
                async with (
                    httpx.AsyncClient(timeout=self._timeout()) as client,
                    client.stream("POST", self._url, json=body, headers=self._headers()) as r,
                ):
                    if r.status_code >= 400:
                        self._check(r.status_code, (await r.aread()).decode(errors="replace"))
                    async for data in _asse_lines(r.aiter_lines()):
                        chunk = _to_chunk(data)
                        if chunk is None:
                            continue
                        started = True
                        if run_manager and chunk.text:
                            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
            except (httpx.HTTPError, _Retryable) as exc:
                if started:
                    self.breaker.record_failure(f"{type(exc).__name__}: {exc}")
                    raise ModelUnavailable(f"model {self.model!r} stream broke: {exc}") from exc
                self._failed(exc, attempt)
                await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
                continue
            except UserError:
                self.breaker.record_success()
                raise
            self.breaker.record_success()
            return


# -- wire <-> langchain -------------------------------------------------------------------------------
def _usage(raw: dict[str, Any] | None) -> UsageMetadata | None:
    if not raw:
        return None
    return UsageMetadata(
        input_tokens=int(raw.get("prompt_tokens", 0)),
        output_tokens=int(raw.get("completion_tokens", 0)),
        total_tokens=int(raw.get("total_tokens", 0)),
    )


def _to_result(data: dict[str, Any]) -> ChatResult:
    choice = data["choices"][0]
    msg = choice.get("message") or {}
    tool_calls, invalid = [], []
    for c in msg.get("tool_calls") or []:
        fn = c.get("function", {})
        try:
            args = json.loads(fn.get("arguments") or "{}")
            tool_calls.append({"name": fn.get("name", ""), "args": args, "id": c.get("id"), "type": "tool_call"})
        except json.JSONDecodeError as exc:
            invalid.append(
                {
                    "name": fn.get("name"),
                    "args": fn.get("arguments"),
                    "id": c.get("id"),
                    "error": str(exc),
                    "type": "invalid_tool_call",
                }
            )
    meta = {
        "model_name": data.get("model"),
        "finish_reason": choice.get("finish_reason"),
        "steward": data.get("steward"),
    }
    message = AIMessage(
        content=msg.get("content") or "",
        tool_calls=tool_calls,
        invalid_tool_calls=invalid,
        usage_metadata=_usage(data.get("usage")),
        response_metadata=meta,
        id=data.get("id"),
    )
    return ChatResult(
        generations=[ChatGeneration(message=message, generation_info=meta)],
        llm_output={"model_name": data.get("model"), "token_usage": data.get("usage")},
    )


def _to_chunk(data: dict[str, Any]) -> ChatGenerationChunk | None:
    if "error" in data:
        raise _Retryable(f"stream error: {data['error']}")
    usage = _usage(data.get("usage"))
    choices = data.get("choices") or []
    if not choices:
        if usage is None:
            return None
        return ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=usage, response_metadata={"steward": data.get("steward")})
        )
    choice = choices[0]
    delta = choice.get("delta") or {}
    tool_chunks = [
        ToolCallChunk(
            name=(c.get("function") or {}).get("name"),
            args=(c.get("function") or {}).get("arguments"),
            id=c.get("id"),
            index=c.get("index", i),
            type="tool_call_chunk",
        )
        for i, c in enumerate(delta.get("tool_calls") or [])
    ]
    info = (
        {"finish_reason": choice["finish_reason"], "model_name": data.get("model")}
        if choice.get("finish_reason")
        else {}
    )
    msg = AIMessageChunk(
        content=delta.get("content") or "",
        tool_call_chunks=tool_chunks,
        usage_metadata=usage,
        response_metadata=info,
        id=data.get("id"),
    )
    return ChatGenerationChunk(message=msg, generation_info=info or None)


def _sse_lines(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        yield json.loads(payload)


async def _asse_lines(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    async for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        yield json.loads(payload)


# -- agent helpers ------------------------------------------------------------------------------------
async def astream_message(
    model: Runnable[LanguageModelInput, Any],
    messages: LanguageModelInput,
    on_token: Callable[[str], None] | None = None,
) -> AIMessage:
    """Stream a reply, handing each text piece to ``on_token`` (e.g. the run's event log), and return the
    whole message (tool calls included)."""
    total: AIMessageChunk | None = None
    async for chunk in model.astream(messages):
        if on_token and isinstance(chunk.content, str) and chunk.content:
            on_token(chunk.content)
        total = chunk if total is None else total + chunk
    if total is None:
        return AIMessage(content="")
    return AIMessage(
        content=total.content,
        tool_calls=total.tool_calls,
        invalid_tool_calls=total.invalid_tool_calls,
        usage_metadata=total.usage_metadata,
        response_metadata=total.response_metadata,
        id=total.id,
    )


async def call_or_fallback(
    call: Awaitable[T],
    fallback: Callable[[ModelUnavailable], T | Awaitable[T]],
    model: str = "unknown",
    on_fallback: Callable[[ModelUnavailable], None] | None = None,
) -> tuple[T, bool]:
    """``(result, used_fallback)``: the model's answer, or the rule-based one when the model is unavailable.

    ``on_fallback`` is where the agent records it (an event in the run's log); the metric
    ``steward_llm_fallbacks_total`` counts it either way.
    """
    try:
        return await call, False
    except ModelUnavailable as exc:
        REGISTRY.inc("steward_llm_fallbacks_total", model=model)
        if on_fallback is not None:
            on_fallback(exc)
        result = fallback(exc)
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        return result, True  # type: ignore[return-value]
