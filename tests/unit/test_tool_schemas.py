"""Registered tools as langchain-core tools: schemas for bind_tools, never a way around the guarded node."""

from __future__ import annotations

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool

from tools import get_tool, langchain_tools, list_tools

NEW_TOOLS = {
    "search_policy": ("low", False),
    "screen_sanctions": ("low", False),
    "track_shipment": ("low", False),
    "get_cargo_policy": ("low", False),
    "request_documents": ("medium", True),
    "escalate_case": ("medium", True),
    "pay_claim": ("high", True),
    "decline_claim": ("high", True),
    "refer_to_adjuster": ("low", True),
}


def test_every_tool_declares_version_owner_risk_side_effect_and_timeout() -> None:
    tools = {t.name: t for t in list_tools()}
    for name, (risk, side_effect) in NEW_TOOLS.items():
        t = tools[name]
        assert (t.risk, t.side_effect) == (risk, side_effect), name
        public = t.public()
        assert public["version"] and public["owner"] and public["timeout_s"] > 0
        assert public["args_schema"]["type"] == "object" and public["result_schema"]["type"] == "object"


def test_langchain_tools_carry_the_schema_for_bind_tools() -> None:
    spec = convert_to_openai_tool(get_tool("pay_claim").as_langchain_tool())
    assert spec["function"]["name"] == "pay_claim"
    params = spec["function"]["parameters"]
    assert set(params["required"]) >= {"claim_id", "amount", "currency", "reason"}
    assert params["properties"]["amount"]["maximum"] == 1_000_000  # a sanity bound; the claims rules cap payouts


async def test_invoking_a_langchain_tool_directly_is_refused() -> None:
    (tool,) = langchain_tools(["pay_claim"])
    args = {"claim_id": "C", "policy_id": "CP-1001", "amount": 10, "currency": "EUR", "reason": "r"}
    with pytest.raises(PermissionError, match="only run through the guarded tool node"):
        tool.invoke(args)
    with pytest.raises(PermissionError, match="only run through the guarded tool node"):
        await tool.ainvoke(args)
    assert tool.metadata == {"risk": "high", "side_effect": True, "version": "1.1.0", "owner": "claims-operations"}


def test_importing_tools_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tools; print([m for m in ('torch','mlflow','chromadb','sklearn','rule_engine','pandas',"
        "'rapidfuzz','protego','httpx') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
