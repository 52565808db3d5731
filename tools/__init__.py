"""The tool registry and Steward's built-in tools.

Agents see tools only as specs (name, schema, risk). Running one needs an ``ExecutionGrant``, which only the
runtime's ``execute_tool`` activity issues after the guarded tool node's policy and approval checks.
"""

from tools.registry import (
    ExecutionGrant,
    RiskLevel,
    ToolSpec,
    get_tool,
    langchain_tools,
    list_tools,
    register_tool,
)

# Importing the tool modules registers their tools.
from tools import lending as _lending  # noqa: E402,F401  isort: skip
from tools import claims as _claims  # noqa: E402,F401  isort: skip
from tools import kyc as _kyc  # noqa: E402,F401  isort: skip
from tools import retrieval as _retrieval  # noqa: E402,F401  isort: skip
from tools import scraper as _scraper  # noqa: E402,F401  isort: skip
from tools import scoring as _scoring  # noqa: E402,F401  isort: skip

__all__ = ["ExecutionGrant", "RiskLevel", "ToolSpec", "get_tool", "langchain_tools", "list_tools", "register_tool"]
