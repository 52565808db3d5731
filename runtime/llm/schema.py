"""JSON schemas for constrained decoding: tool calls, structured output, and how many tokens they can take.

A grammar guarantees the *shape* of every token, not that the output ends: a model that rambles inside an
unbounded string runs into ``max_tokens`` and leaves truncated JSON. So every string gets a ``maxLength``,
every array a ``maxItems``, and ``max_tokens`` is sized from the schema's worst case.
"""

from __future__ import annotations

import copy
import json
from typing import Any

DEFAULT_MAX_STRING = 256
DEFAULT_MAX_ITEMS = 16
# Bytes one schema char can take in the output: a JSON escape such as \u00e9 is 6. A token is >= 1 byte.
_BYTES_PER_CHAR = 6
# The converter's number rule: sign, 16 integral digits, '.', 16 decimals, exponent; plus one space.
_NUMBER_BYTES = 1 + 16 + 1 + 16 + 1 + 1 + 16 + 1
_UNBOUNDED = 1 << 30


class SchemaError(ValueError):
    """A schema that cannot become a grammar (the server answers 422)."""


def harden_schema(
    schema: dict[str, Any], max_string: int = DEFAULT_MAX_STRING, max_items: int = DEFAULT_MAX_ITEMS
) -> dict[str, Any]:
    """A copy of ``schema`` where every string and array is bounded, so the output must end."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        types = out.get("type")
        types = types if isinstance(types, list) else [types]
        bounded = "enum" in out or "const" in out or "format" in out or "pattern" in out
        if "string" in types and not bounded:
            out["maxLength"] = min(int(out.get("maxLength", max_string)), max_string)
        if "array" in types:
            out["maxItems"] = min(int(out.get("maxItems", max_items)), max_items)
        return out

    return walk(copy.deepcopy(schema))


def max_output_tokens(schema: dict[str, Any]) -> int:
    """Upper bound of tokens a grammar from ``schema`` can emit (a token is at least one byte).

    Returns a very large number for shapes with no bound (free-form objects); callers cap it by context.
    """
    defs = schema.get("$defs") or schema.get("definitions") or {}

    def size(node: Any, depth: int = 0) -> int:
        if depth > 32 or not isinstance(node, dict):
            return _UNBOUNDED
        if "$ref" in node:
            ref = str(node["$ref"]).rsplit("/", 1)[-1]
            return size(defs.get(ref, {}), depth + 1)
        if "const" in node:
            return len(json.dumps(node["const"])) + 1
        if "enum" in node:
            return max(len(json.dumps(v)) for v in node["enum"]) + 1
        for key in ("anyOf", "oneOf"):
            if key in node:
                return max(size(n, depth + 1) for n in node[key])
        if "allOf" in node:
            return sum(size(n, depth + 1) for n in node["allOf"])
        t = node.get("type")
        if isinstance(t, list):
            return max(size({**node, "type": x}, depth + 1) for x in t)
        if t == "string":
            if "maxLength" not in node:
                return _UNBOUNDED
            return 2 + _BYTES_PER_CHAR * int(node["maxLength"]) + 1
        if t in ("number", "integer"):
            return _NUMBER_BYTES
        if t == "boolean":
            return 6
        if t == "null":
            return 5
        if t == "array":
            if "maxItems" not in node:
                return _UNBOUNDED
            item = size(node.get("items", {}), depth + 1)
            return 3 + int(node["maxItems"]) * (item + 2)
        if t == "object" or "properties" in node:
            if "properties" not in node or node.get("additionalProperties") not in (None, False):
                return _UNBOUNDED
            props = node["properties"] or {}
            return 3 + sum(len(json.dumps(k)) + 3 + size(v, depth + 1) for k, v in props.items())
        return _UNBOUNDED

    return min(size(schema), _UNBOUNDED)


def tool_call_schema(
    tools: list[dict[str, Any]], allow_text: bool, max_text: int = 512, max_calls: int = 1
) -> dict[str, Any]:
    """Schema of one reply: a call ``{"name": <tool>, "arguments": {...}}`` of a provided tool, or text.

    ``tools`` are OpenAI function definitions (``{"name", "description", "parameters"}``). Each tool gets
    its own branch so the arguments must match *that* tool's parameters. With ``max_calls > 1`` a reply is
    ``{"calls": [<call>, ...]}`` with 1..max_calls calls (parallel tool calls).
    """
    calls: list[dict[str, Any]] = []
    for fn in tools:
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not params.get("properties"):
            params = {"type": "object", "properties": {}}
        calls.append(
            {
                "type": "object",
                "properties": {"name": {"const": fn["name"]}, "arguments": harden_schema(params)},
                "required": ["name", "arguments"],
            }
        )
    branches = list(calls)
    if max_calls > 1:
        item = calls[0] if len(calls) == 1 else {"anyOf": calls}
        many = {"type": "array", "items": item, "minItems": 1, "maxItems": max_calls}
        branches = [{"type": "object", "properties": {"calls": many}, "required": ["calls"]}]
    if allow_text:
        branches.append(
            {
                "type": "object",
                "properties": {"response": {"type": "string", "maxLength": max_text}},
                "required": ["response"],
            }
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def to_gbnf(schema: dict[str, Any]) -> str:
    """GBNF grammar text for ``schema`` (llama.cpp's converter); raises SchemaError if it cannot."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises assertion/key/value errors on bad schemas
        raise SchemaError(f"schema cannot be turned into a grammar: {type(exc).__name__}: {exc}") from exc
