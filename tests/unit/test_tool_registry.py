"""Tools validate arguments with named fields and refuse to run without the guarded path's grant."""

from __future__ import annotations

import pytest

from tools import ExecutionGrant, get_tool
from tools.registry import ToolArgumentsInvalid, issue_grant


def test_unknown_tool_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="tool 'wire' not found; known: \\['approve_loan'"):
        get_tool("wire")


def test_invalid_arguments_name_every_field() -> None:
    with pytest.raises(ToolArgumentsInvalid) as err:
        get_tool("approve_loan").validate_args({"amount": 0})
    assert "application_id: Field required" in str(err.value) and "amount: Input should be greater than 0" in str(
        err.value
    )


async def test_tool_refuses_to_run_without_a_grant() -> None:
    tool = get_tool("approve_loan")
    args = {"application_id": "A", "amount": 10, "reason": "r"}
    with pytest.raises(PermissionError, match="only run through the guarded tool node"):
        await tool.run(args, ExecutionGrant("r", "c", None, "r:c"))
    out = await tool.run(args, issue_grant("r", "c", "apr"))
    assert out["status"] == "approved" and out["reference"] == "r:c"
