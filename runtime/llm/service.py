"""Turning a chat-completions request into a constrained generation, and its output back into a reply.

Tools become one JSON schema (a call of a *provided* tool, or text when ``tool_choice`` is ``auto``), the
schema becomes a grammar, and the grammar's worst case sizes ``max_tokens``: the model cannot name a tool
that was not offered nor stop mid-JSON while context remains.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.errors import UserError
from runtime.llm import prompting
from runtime.llm.engine import ContextOverflow, GenerationParams, ModelEngine
from runtime.llm.protocol import ChatCompletionCreate, NamedToolChoice
from runtime.llm.schema import harden_schema, max_output_tokens, to_gbnf, tool_call_schema

DEFAULT_MAX_TOKENS = 512
"""Unconstrained replies stop here unless the client asks for more: small base models ramble."""


MAX_PARALLEL_CALLS = 4
"""Calls one reply may carry with ``parallel_tool_calls``."""


class Unsupported(UserError):
    """The model's backend cannot do what the request needs (HTTP 400)."""


@dataclass
class Plan:
    prompt_tokens: list[int]
    params: GenerationParams
    mode: Literal["text", "json", "tools"] = "text"
    tool_names: set[str] = field(default_factory=set)


def plan_request(engine: ModelEngine, body: ChatCompletionCreate) -> Plan:
    """Prompt tokens and generation parameters for ``body``; raises on what cannot be served."""
    tools = [t.function.model_dump() for t in body.tools or []] if body.tool_choice != "none" else []
    schema: dict[str, Any] | None = None
    extra_system: str | None = None
    mode: Literal["text", "json", "tools"] = "text"
    if tools:
        choice = body.tool_choice or "auto"
        offered = tools
        if isinstance(choice, NamedToolChoice):
            wanted = choice.function.get("name")
            offered = [t for t in tools if t["name"] == wanted]
            if not offered:
                raise UserError(f"tool_choice names {wanted!r}, which is not in tools: {[t['name'] for t in tools]}")
        allow_text = choice == "auto"
        max_calls = MAX_PARALLEL_CALLS if body.parallel_tool_calls and len(offered) > 1 else 1
        schema = tool_call_schema(offered, allow_text=allow_text, max_calls=max_calls)
        extra_system = prompting.tools_instruction(offered, allow_text, max_calls)
        mode = "tools"
    elif body.response_format is not None and body.response_format.type != "text":
        rf = body.response_format
        raw = rf.json_schema.schema_ if rf.json_schema is not None else rf.schema_
        schema = harden_schema(raw if raw else {"type": "object"})
        extra_system = prompting.json_instruction(schema) if raw else "Reply only with a JSON object."
        mode = "json"
    grammar = None
    if schema is not None:
        if not engine.supports_grammar:
            raise Unsupported(
                f"model {engine.spec.name!r} ({engine.spec.backend}) has no constrained decoding; tools and "
                "response_format need a llama_cpp model"
            )
        grammar = to_gbnf(schema)
    messages = prompting.flatten_messages([m.model_dump() for m in body.messages], extra_system)
    tokens = engine.tokenize(engine.render(messages))
    room = engine.n_ctx - len(tokens)
    if room <= 0:
        raise ContextOverflow(
            f"prompt is {len(tokens)} tokens; model {engine.spec.name!r} context length is {engine.n_ctx}"
        )
    requested = body.max_completion_tokens or body.max_tokens
    if schema is not None:
        # Never cut constrained output mid-JSON: raise the limit to the schema's worst case.
        max_tokens = min(room, max(requested or 0, max_output_tokens(schema)))
    else:
        max_tokens = min(room, requested or DEFAULT_MAX_TOKENS)
    params = GenerationParams(
        max_tokens=max_tokens,
        temperature=body.temperature or 0.0,
        top_p=body.top_p,
        seed=body.seed,
        stop=body.stops,
        grammar=grammar,
    )
    return Plan(tokens, params, mode, {t["name"] for t in tools})


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _call(obj: Any, names: set[str]) -> dict[str, Any] | None:
    if isinstance(obj, dict) and obj.get("name") in names:
        return {
            "id": new_id("call"),
            "type": "function",
            "function": {"name": obj["name"], "arguments": json.dumps(obj.get("arguments") or {})},
        }
    return None


def parse_output(plan: Plan, text: str, finish_reason: str) -> tuple[dict[str, Any], str]:
    """The assistant message for ``text``: tool calls when the model produced them, else content."""
    if plan.mode == "tools":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return {"role": "assistant", "content": text}, finish_reason
        raw = obj.get("calls") if isinstance(obj, dict) and "calls" in obj else [obj]
        calls = [c for c in (_call(o, plan.tool_names) for o in raw or []) if c is not None]
        if calls:
            return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
        if isinstance(obj, dict) and "response" in obj:
            return {"role": "assistant", "content": str(obj["response"])}, finish_reason
    return {"role": "assistant", "content": text}, finish_reason


def completion_body(
    model: str, cid: str, message: dict[str, Any], finish_reason: str, usage: dict[str, Any], timings: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage,
        "steward": timings,
    }


def chunk_body(model: str, cid: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
