"""A deliberately worse loan_triage version, so the release gate has something real to catch.

``loan_triage@0.1.1-nocheck``: START -> intake -> assess_by_score -> (tools -> assess_by_score)* -> summarize -> END

It is the shipped graph with the proposer replaced by one that "skips a check": it decides from the bureau
score alone and never calls ``credit_check``, so it misses the loan-to-income rule. Its outcomes agree with the
shipped version except where the loan is large for the income, and its trajectories never show the credit
check. Nodes are module-level functions because the Temporal LangGraph plugin imports them by name.

Its proposer sends nothing to a model: its texts are the rules' (``by: "rules"``), and the only prompt it sends
is the shipped ``loan_triage.explain`` (through the shared ``summarize``), so that is the prompt it registers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents._llm import say
from agents.context import RunContext, activity_node
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node, tool_router
from agents.loan_triage.graph import LoanTriageState, intake, summarize
from agents.loan_triage.prompts import PROMPTS
from guards.outcome import RULES

NOCHECK_VERSION = "0.1.1-nocheck"
_DECISIONS = {"approve_loan", "decline_loan", "refer_to_underwriter"}


def _this_run(state: dict[str, Any], run_id: str) -> dict[str, dict[str, Any]]:
    """Tool results of this run by tool name (a thread carries earlier runs' results too)."""
    return {r["tool"]: r for r in state.get("tool_results") or [] if r.get("run_id") == run_id}


@activity_node("assess")
async def assess_by_score(state: LoanTriageState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    app = state["application"]
    rnd = int(state.get("round") or 0) + 1
    done = _this_run(dict(state), runtime.context["run_id"])
    calls: list[dict[str, Any]] = []
    if not state["completeness"]["complete"]:
        text = "The application is incomplete; the applicant must supply the missing fields."
    elif not (_DECISIONS & set(done)):
        score = int(app["credit_score"])
        base = {"application_id": app["application_id"], "amount": app["amount"]}
        if score >= 670:
            calls.append(
                {"id": f"r{rnd}-approve_loan", "name": "approve_loan", "args": {**base, "reason": f"score {score}"}}
            )
            calls.append(
                {
                    "id": f"r{rnd}-notify_customer",
                    "name": "notify_customer",
                    "args": {
                        "applicant_id": app["applicant_id"],
                        "channel": "email",
                        "message": f"Your application {app['application_id']} has been approved.",
                    },
                }
            )
        elif score >= 580:
            calls.append(
                {
                    "id": f"r{rnd}-refer_to_underwriter",
                    "name": "refer_to_underwriter",
                    "args": {**base, "reason": f"score {score}; manual underwriting"},
                }
            )
        else:
            calls.append(
                {"id": f"r{rnd}-decline_loan", "name": "decline_loan", "args": {**base, "reason": f"score {score}"}}
            )
        text = f"Bureau score {score}: proposing {calls[0]['name']}."
    else:
        text = "All proposed actions have been handled."
    await say(text, RULES)
    return {
        "round": rnd,
        "pending_tool_calls": calls,
        "messages": [{"role": "assistant", "node": "assess", "content": text, "by": RULES}],
    }


def build_nocheck_graph() -> StateGraph[Any, Any, Any, Any]:
    node = {"execute_in": "activity", "start_to_close_timeout": timedelta(seconds=30)}
    g: StateGraph[Any, Any, Any, Any] = StateGraph(LoanTriageState, context_schema=RunContext)
    g.add_node("intake", intake, metadata=dict(node))
    g.add_node("assess", assess_by_score, metadata=dict(node))
    g.add_node(GUARDED_NODE, guarded_tool_node, metadata=dict(GUARDED_NODE_METADATA))
    g.add_node("summarize", summarize, metadata=dict(node))
    g.add_edge(START, "intake")
    g.add_edge("intake", "assess")
    g.add_conditional_edges("assess", tool_router("summarize"), [GUARDED_NODE, "summarize"])
    g.add_edge(GUARDED_NODE, "assess")
    g.add_edge("summarize", END)
    return g


def register() -> None:
    from evals.variants import register_variant

    register_variant(
        "loan_triage",
        NOCHECK_VERSION,
        build_nocheck_graph,
        "loan_triage without the credit check (decides from the bureau score): a known-worse version for gate demos",
        prompts=dict(PROMPTS),
    )
