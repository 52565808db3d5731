"""The tool registry: schemas, risk, version and owner of every tool agents may propose."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from runtime.errors import NotFound
from server.deps import PrincipalDep

router = APIRouter(prefix="/tools", tags=["tools"])


@router.get("")
async def list_tools_route(principal: PrincipalDep) -> list[dict[str, Any]]:
    from tools import list_tools

    return [t.public() for t in list_tools()]


@router.get("/{name}")
async def get_tool_route(name: str, principal: PrincipalDep) -> dict[str, Any]:
    from tools import get_tool

    try:
        return get_tool(name).public()
    except KeyError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
