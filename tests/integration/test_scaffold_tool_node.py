"""``steward new``'s graph calls its ``@tool`` through a ``ToolNode``, so a scaffolded project starts on the
guarded path: under Steward the call passes the policy and the tool guards and runs as a recorded tool
execution (``tool_started`` / ``tool_finished`` in the run's event log). Real Temporal dev server."""

from __future__ import annotations

from pathlib import Path

import pytest

from guards.types import Principal
from runtime import runs

pytestmark = pytest.mark.timeout(120)


async def test_the_scaffolds_tool_call_goes_through_the_guarded_tool_node(
    client, store, task_queue, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from agents.registry import list_assistants, use_project
    from guards.policy import load_policy_engine
    from runtime.cli.project import scaffold
    from runtime.worker import build_worker

    root = scaffold("helpdesk", tmp_path)
    try:
        project = use_project(root / "langgraph.json")
        async with build_worker(
            client, task_queue, store, load_policy_engine(project.policy), assistants=list_assistants()
        ):
            handle = await runs.start_run(
                client,
                store,
                task_queue,
                "helpdesk",
                {"request": "My order #77 arrived broken"},
                Principal(id="olivia", roles=["operator"], tenant="acme"),
            )
            result = await handle.result()
    finally:
        use_project()
    assert result.status == "success"
    assert result.outcome == {"category": "support", "reply": "Routed to support."}
    events = store.events_after(handle.id, 0, limit=1000)
    types = [e["type"] for e in events]
    started = [e["data"] for e in events if e["type"] == "tool_started"]
    finished = [e["data"] for e in events if e["type"] == "tool_finished"]
    assert [(d["tool"], d["args"]) for d in started] == [("lookup_order", {"order_id": "77"})]
    assert finished[0]["result"]["content"] == {"order_id": "77", "status": "shipped"}
    assert "policy_decision" in types and types.index("policy_decision") < types.index("tool_started")
    assert store.get_thread(store.get_run(handle.id)["thread_id"])["state"]["order"]["status"] == "shipped"
