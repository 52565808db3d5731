"""Execution ledgers: a tool call runs once per ``(run_id, tool_call_id)``; node attempts are recorded for
/metrics and the crash tests."""

from sqlalchemy import Column, Float, Integer, Table, Text

from runtime.db._meta import metadata

tool_executions = Table(
    "tool_executions",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("tool_call_id", Text, primary_key=True),
    Column("tool", Text, nullable=False),
    Column("args", Text, nullable=False),
    Column("approval_id", Text),
    Column("status", Text, nullable=False),
    Column("result", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
)

node_executions = Table(
    "node_executions",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("node", Text, nullable=False),
    Column("task_key", Text, primary_key=True),
    Column("attempt", Integer, primary_key=True, autoincrement=False),
    Column("status", Text, primary_key=True),
    Column("ts", Float, nullable=False),
)
