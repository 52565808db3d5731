"""Schema -> grammar -> max_tokens sizing, tool-call schemas and request planning (no model needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from runtime.errors import UserError
from runtime.llm.catalog import ModelSpec
from runtime.llm.engine import ContextOverflow, ModelEngine
from runtime.llm.protocol import ChatCompletionCreate
from runtime.llm.schema import SchemaError, harden_schema, max_output_tokens, to_gbnf, tool_call_schema
from runtime.llm.service import DEFAULT_MAX_TOKENS, Plan, Unsupported, parse_output, plan_request

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}},
        "age": {"type": "integer"},
        "score": {"type": "number"},
        "kind": {"enum": ["a", "bb"]},
        "ok": {"type": "boolean"},
    },
    "required": ["name", "tags", "age", "score", "kind", "ok"],
}


def test_hardening_bounds_every_string_and_array() -> None:
    h = harden_schema(PERSON, max_string=50, max_items=3)
    assert h["properties"]["name"]["maxLength"] == 50
    assert h["properties"]["tags"]["maxItems"] == 3
    assert h["properties"]["tags"]["items"]["maxLength"] == 8  # a tighter bound is kept
    assert "maxLength" not in h["properties"]["kind"]
    assert "maxLength" not in PERSON["properties"]["name"]  # the caller's schema is not mutated


def _worst_case(schema: dict[str, Any]) -> Any:
    """The longest JSON value the schema allows: every char needs a 6-byte escape, every bound is used."""
    if "enum" in schema:
        return max(schema["enum"], key=lambda v: len(json.dumps(v)))
    t = schema.get("type")
    if t == "string":
        return "\x00" * schema["maxLength"]
    if t == "array":
        return [_worst_case(schema["items"])] * schema["maxItems"]
    if t == "integer":
        return -(10**16 - 1)
    if t == "number":
        return -1234567890123456.1234567890123456
    if t == "boolean":
        return False
    return {k: _worst_case(v) for k, v in schema["properties"].items()}


def test_max_output_tokens_bounds_the_longest_output() -> None:
    h = harden_schema(PERSON, max_string=20, max_items=4)
    worst = _worst_case(h)
    text = json.dumps(worst, separators=(", ", ": "))
    bound = max_output_tokens(h)
    assert len(text.encode()) <= bound  # a token is at least one byte
    assert bound < 2000  # and the bound is not absurd


def test_unbounded_shapes_report_unbounded() -> None:
    assert max_output_tokens({"type": "string"}) >= 1 << 30
    assert max_output_tokens({"type": "object"}) >= 1 << 30
    assert max_output_tokens({"type": "object", "properties": {}}) == 3


TOOLS = [
    {
        "name": "credit_check",
        "description": "",
        "parameters": {
            "type": "object",
            "properties": {"applicant_id": {"type": "string"}},
            "required": ["applicant_id"],
        },
    },
    {"name": "decline_loan", "description": "", "parameters": {"type": "object", "properties": {}}},
]


def test_tool_call_schema_has_one_branch_per_tool_plus_text_when_auto() -> None:
    s = tool_call_schema(TOOLS, allow_text=True)
    names = [b["properties"].get("name", {}).get("const") for b in s["anyOf"]]
    assert names == ["credit_check", "decline_loan", None]
    args = s["anyOf"][0]["properties"]["arguments"]
    assert args["properties"]["applicant_id"]["maxLength"] > 0
    assert max_output_tokens(s) < 1 << 20
    assert "credit_check" in to_gbnf(s)


def test_a_schema_the_converter_rejects_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="frobnicate"):
        to_gbnf({"type": "frobnicate"})


class FakeEngine(ModelEngine):
    """Whitespace tokenizer, no model: enough to test planning."""

    def __init__(self, n_ctx: int = 64, grammar: bool = True) -> None:
        super().__init__(ModelSpec(name="fake"))
        self._ctx, self._grammar = n_ctx, grammar

    def load(self) -> None: ...

    def render(self, messages: list[dict[str, str]]) -> str:
        return " ".join(m["content"] for m in messages)

    def tokenize(self, text: str) -> list[int]:
        return [1] * len(text.split())

    @property
    def n_ctx(self) -> int:
        return self._ctx

    @property
    def supports_grammar(self) -> bool:
        return self._grammar

    def _serve(self) -> None: ...


def _body(**kw: Any) -> ChatCompletionCreate:
    return ChatCompletionCreate.model_validate(
        {"model": "fake", "messages": [{"role": "user", "content": "a b"}], **kw}
    )


def test_text_requests_default_and_cap_max_tokens_by_context() -> None:
    assert plan_request(FakeEngine(n_ctx=4096), _body()).params.max_tokens == DEFAULT_MAX_TOKENS
    assert plan_request(FakeEngine(n_ctx=10), _body(max_tokens=100)).params.max_tokens == 8
    with pytest.raises(ContextOverflow, match="context length is 2"):
        plan_request(FakeEngine(n_ctx=2), _body())


def test_constrained_output_gets_the_schema_bound_not_a_smaller_client_limit() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string", "maxLength": 10}}, "required": ["x"]}
    body = _body(max_tokens=3, response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}})
    plan = plan_request(FakeEngine(n_ctx=4096), body)
    assert plan.mode == "json" and plan.params.grammar
    assert plan.params.max_tokens == max_output_tokens(harden_schema(schema)) > 3


def test_tool_choice_variants() -> None:
    tools = [{"type": "function", "function": t} for t in TOOLS]
    eng = FakeEngine(n_ctx=4096)
    assert plan_request(eng, _body(tools=tools)).tool_names == {"credit_check", "decline_loan"}
    assert plan_request(eng, _body(tools=tools, tool_choice="none")).mode == "text"
    named = plan_request(
        eng, _body(tools=tools, tool_choice={"type": "function", "function": {"name": "decline_loan"}})
    )
    assert "credit_check" not in named.params.grammar  # only the named tool can be produced
    with pytest.raises(UserError, match="'nope', which is not in tools"):
        plan_request(eng, _body(tools=tools, tool_choice={"type": "function", "function": {"name": "nope"}}))
    with pytest.raises(Unsupported, match="constrained decoding"):
        plan_request(FakeEngine(n_ctx=4096, grammar=False), _body(tools=tools))


def test_malformed_tool_parameters_fail_validation() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="type 'object'"):
        _body(tools=[{"type": "function", "function": {"name": "x", "parameters": {"type": "array"}}}])


def test_parse_output_turns_json_into_a_tool_call_or_text() -> None:
    plan = Plan([], None, "tools", {"credit_check"})  # type: ignore[arg-type]
    msg, finish = parse_output(plan, '{"name": "credit_check", "arguments": {"applicant_id": "A1"}}', "stop")
    assert finish == "tool_calls"
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"applicant_id": "A1"}
    msg, finish = parse_output(plan, '{"response": "no tool needed"}', "stop")
    assert (msg["content"], finish) == ("no tool needed", "stop")
    msg, _ = parse_output(plan, '{"name": "other", "arguments": {}}', "stop")
    assert "tool_calls" not in msg


def test_importing_runtime_llm_loads_no_heavy_library() -> None:
    code = (
        "import sys, runtime.llm, runtime.llm.catalog, runtime.llm.server; "
        "print([m for m in ('llama_cpp', 'torch', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_parallel_tool_calls_become_a_bounded_array_of_calls() -> None:
    s = tool_call_schema(TOOLS, allow_text=False, max_calls=3)
    calls = s["properties"]["calls"]
    assert calls["minItems"] == 1 and calls["maxItems"] == 3
    assert max_output_tokens(s) < 1 << 20
    tools = [{"type": "function", "function": t} for t in TOOLS]
    plan = plan_request(FakeEngine(n_ctx=4096), _body(tools=tools, parallel_tool_calls=True))
    assert "calls" in plan.params.grammar  # type: ignore[operator]
    text = json.dumps(
        {
            "calls": [
                {"name": "credit_check", "arguments": {"applicant_id": "A"}},
                {"name": "decline_loan", "arguments": {}},
            ]
        }
    )
    msg, finish = parse_output(plan, text, "stop")
    assert finish == "tool_calls" and [c["function"]["name"] for c in msg["tool_calls"]] == [
        "credit_check",
        "decline_loan",
    ]
    assert len({c["id"] for c in msg["tool_calls"]}) == 2
