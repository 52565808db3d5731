"""Unknown input fields are refused, never dropped: the fields an assistant's declared input schema does not
know, at any depth (issue 16's bad-input case: a related party sent with ``pep: true`` was cleared because
the flag was silently dropped).

An assistant that declares its input (``steward.assistants.<name>.input_schema``: a pydantic model or a JSON
schema) has closed objects: a key no ``properties`` entry names is an error naming its path, unless that
object says ``additionalProperties`` (``true`` or a schema) or declares no properties at all (an open map such
as ``consent``). Why a walk over the JSON schema rather than ``extra="forbid"`` on each model: it closes a
user's models and plain JSON schemas alike without rebuilding their classes, and a model that chose
``extra="allow"`` says so in its schema and stays open. A graph whose input is derived (no declaration) is
unaffected, and a top-level ``messages`` (a request in plain words, for intake) is always accepted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["unknown_fields", "unknown_input_fields"]

EXTRA_MESSAGE = "Extra inputs are not permitted"
"""pydantic's wording for the same error, so every unknown field reads alike whichever check found it."""


def _resolve(node: Any, defs: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        node = defs.get(str(node["$ref"]).rsplit("/", 1)[-1], {})
    return node if isinstance(node, dict) else {}


def _branches(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a value may match (``anyOf``/``oneOf``, e.g. ``Party | None``), or the node itself."""
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        return [b for o in options for b in _branches(_resolve(o, defs), defs)]
    if node.get("allOf") and len(node["allOf"]) == 1:
        return _branches(_resolve(node["allOf"][0], defs), defs)
    return [node]


def _walk(node: dict[str, Any], value: Any, path: tuple[str, ...], defs: dict[str, Any]) -> list[str]:
    branches = _branches(_resolve(node, defs), defs)
    if isinstance(value, dict):
        objects = [b for b in branches if b.get("type") == "object" or "properties" in b]
        if not objects:
            return []
        # The branch that knows the value best: a wrong type elsewhere is the validator's to report.
        return min((_walk_object(b, value, path, defs) for b in objects), key=len)
    if isinstance(value, list):
        arrays = [b for b in branches if b.get("type") == "array" and isinstance(b.get("items"), dict)]
        if not arrays:
            return []
        return min(
            ([p for i, v in enumerate(value) for p in _walk(a["items"], v, (*path, str(i)), defs)] for a in arrays),
            key=len,
        )
    return []


def _walk_object(node: dict[str, Any], value: dict[str, Any], path: tuple[str, ...], defs: dict[str, Any]) -> list[str]:
    props: dict[str, Any] = node.get("properties") or {}
    extra = node.get("additionalProperties")
    out: list[str] = []
    for key, item in value.items():
        if key in props:
            out += _walk(props[key], item, (*path, key), defs)
        elif isinstance(extra, dict):
            out += _walk(extra, item, (*path, key), defs)
        elif extra is not True and props:
            out.append(".".join((*path, key)))
    return out


def unknown_fields(schema: dict[str, Any], value: Any) -> list[str]:
    """Dotted paths (list items by index) of the keys in ``value`` that ``schema`` does not know."""
    return _walk(schema, value, (), schema.get("$defs") or schema.get("definitions") or {})


def unknown_input_fields(assistant: str, payload: Any) -> list[str]:
    """The unknown fields of a run input for a served assistant with a declared input schema; [] otherwise."""
    from agents.registry import current_project

    loaded = current_project().assistants.get(assistant)
    if loaded is None or loaded.declaration.input_schema is None or not isinstance(payload, dict):
        return []
    return [p for p in unknown_fields(loaded.input_schema, payload) if p != "messages"]
