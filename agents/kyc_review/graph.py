"""KYC review: START -> intake -> plan -> (tools -> plan)* -> explain -> summarize -> END

``intake`` checks the case can be screened; ``plan`` first screens every party (one ``screen_sanctions`` call
each, in parallel), then applies the ``kyc_case`` rules to the classified matches and the documents on file
and proposes the actions they call for: ``escalate_case`` (medium risk: an analyst confirms) for confirmed or
unresolved matches, ``request_documents`` (medium risk) for what is missing, and ``search_policy`` for the
passages the explanation relies on. ``explain`` has the model explain the matches (or a template when no
model answers); ``summarize`` states the outcome, which rules decided it and who confirmed it.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from agents._llm import acts_on_world, say
from agents._llm import explain as model_explain
from agents.context import ACTIVITY_NODE, MODEL_NODE, RunContext, activity_node
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node, tool_router
from agents.kyc_review import prompts
from guards.outcome import RULES, AuthoredText, Basis, Outcome, actions_of, template

DocumentName = Literal[
    "photo_id",
    "proof_of_address",
    "registry_extract",
    "ubo_declaration",
    "director_ids",
    "source_of_funds",
    "source_of_wealth",
]
_ORDER = ["confirmed", "possible", "cleared", "no_match"]


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is a 422 naming it, never dropped

    customer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=2, max_length=200)
    type: Literal["person", "organisation"]
    dob: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="Residence or incorporation.")
    pep: bool = False


class RelatedParty(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=2, max_length=200)
    type: Literal["person", "organisation"] = "person"
    role: Literal["director", "beneficial_owner", "signatory"]
    dob: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class KycCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(min_length=1, max_length=64)
    customer: Customer
    related_parties: list[RelatedParty] = Field(default_factory=list, max_length=20)
    documents_provided: list[DocumentName] = Field(default_factory=list)


class KycReviewInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: KycCase


class KycReviewOutcome(Outcome):
    """The KYC outcome: the common fields plus the matches and documents an analyst reads."""

    rules_fired: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    citations: list[dict[str, Any]] = Field(default_factory=list, description="The cited passages, quoted.")
    matches: list[dict[str, Any]] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    missing_documents: list[str] = Field(default_factory=list)
    tools: dict[str, str] = Field(default_factory=dict)
    explanation: str | None = None
    explanation_by: str | None = Field(default=None, description="'model' or 'template' (texts has the detail).")
    model: dict[str, Any] | None = None


class KycReviewState(TypedDict, total=False):
    case: dict[str, Any]
    completeness: dict[str, Any]
    round: int
    review: dict[str, Any]
    pending_tool_calls: list[dict[str, Any]]
    tool_results: Annotated[list[dict[str, Any]], operator.add]
    messages: Annotated[list[dict[str, Any]], operator.add]
    explanation: dict[str, Any]
    outcome: dict[str, Any]


def _this_run(state: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    return [r for r in state.get("tool_results") or [] if r.get("run_id") == run_id]


def _parties(case: dict[str, Any]) -> list[dict[str, Any]]:
    c = case["customer"]
    first = {"party_id": c["customer_id"], "name": c["name"], "type": c["type"], "role": "customer"}
    first.update({k: c[k] for k in ("dob", "country") if c.get(k)})
    others = [{k: v for k, v in p.items() if v is not None} for p in case.get("related_parties") or []]
    return [first, *others]


@activity_node("intake")
async def intake(state: KycReviewState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    case = KycCase.model_validate(state.get("case") or {}).model_dump()
    c = case["customer"]
    missing = [f"customer.{f}" for f in ("country",) if not c.get(f)]
    if c["type"] == "person" and not c.get("dob"):
        missing.append("customer.dob")
    note = "Case complete." if not missing else f"Missing: {', '.join(missing)}."
    return {
        "case": case,
        "completeness": {"complete": not missing, "missing": missing},
        "round": 0,
        "pending_tool_calls": [],
        "messages": [{"role": "assistant", "node": "intake", "content": note}],
    }


def _review(state: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Classified matches + documents -> the kyc_case rules' outcome and the actions it calls for."""
    from tools.kyc import required_documents
    from tools.rules import load_ruleset

    case = state["case"]
    c = case["customer"]
    screenings = [r for r in _this_run(state, run_id) if r["tool"] == "screen_sanctions"]
    matches: list[dict[str, Any]] = []
    unscreened: list[str] = []
    versions: set[str] = set()
    list_version: str | None = None
    for r in screenings:
        if r["status"] != "executed":
            unscreened.append(r["args"].get("party_id", "?"))
            continue
        out = r["output"]
        versions.add(f"kyc_match@{out['ruleset_version']}")
        list_version = f"{out['list']}@{out['list_version']}"
        for m in out["matches"]:
            matches.append({"party_id": out["party_id"], "party": out["name"], **m})
    confirmed = [m for m in matches if m["classification"] == "confirmed"]
    possible = [m for m in matches if m["classification"] == "possible"]
    required = required_documents(c["type"], c.get("country"), bool(c.get("pep")))
    missing_docs = [d for d in required if d not in (case.get("documents_provided") or [])]
    rules = load_ruleset("kyc_case")
    verdict = rules.evaluate(
        {
            "complete": True,
            "confirmed_matches": len(confirmed),
            # A party whose screening did not complete counts as unresolved: a person looks at it.
            "possible_matches": len(possible) + len(unscreened),
            "missing_documents": missing_docs,
            "high_risk_jurisdiction": bool(c.get("country")) and "source_of_funds" in required,
            "pep": bool(c.get("pep")),
        }
    )
    match_rules = sorted({m["rule_id"] for m in matches if m.get("rule_id")})
    match_cites = sorted({cite for r in load_ruleset("kyc_match").doc.rules if r.id in match_rules for cite in r.cites})
    return {
        "run_id": run_id,
        "outcome": verdict.outcome,
        "rules_fired": verdict.fired_ids + match_rules,
        "reasons": verdict.reasons(),
        "citations": verdict.citations + [c for c in match_cites if c not in verdict.citations],
        "rulesets": sorted(versions | {f"kyc_case@{verdict.version}"}),
        "sanctions_list": list_version,
        "matches": matches,
        "unscreened": unscreened,
        "missing_documents": missing_docs,
        "errors": verdict.errors,
    }


def _actions(case: dict[str, Any], review: dict[str, Any], rnd: int) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    flagged = [m for m in review["matches"] if m["classification"] in ("confirmed", "possible")]
    if review["outcome"] in ("escalate", "review"):
        confirmed = review["outcome"] == "escalate"
        lines = [
            f"{m['party']} ~ {m['listed_name']} ({m['program']}): score {m['score']}, {m['classification']} "
            f"by {m['rule_id']}"
            for m in flagged
        ] or ["a politically exposed person or an unscreened party needs review"]
        calls.append(
            {
                "id": f"r{rnd}-escalate_case",
                "name": "escalate_case",
                "args": {
                    "case_id": case["case_id"],
                    "team": "financial_crime_compliance" if confirmed else "senior_kyc_analysts",
                    "priority": "high" if confirmed else "normal",
                    "summary": f"KYC case {case['case_id']}: " + "; ".join(lines),
                    "rule_ids": review["rules_fired"],
                },
            }
        )
    if review["missing_documents"]:
        calls.append(
            {
                "id": f"r{rnd}-request_documents",
                "name": "request_documents",
                "args": {
                    "case_id": case["case_id"],
                    "customer_id": case["customer"]["customer_id"],
                    "documents": review["missing_documents"],
                    "message": prompts.DOCUMENT_REQUEST.format(
                        documents=", ".join(d.replace("_", " ") for d in review["missing_documents"])
                    ),
                    "channel": "portal",
                },
            }
        )
    if review["matches"]:
        calls.append(
            {
                "id": f"r{rnd}-search_policy",
                "name": "search_policy",
                "args": {
                    "query": "sanctions name match secondary identifiers date of birth clearing and escalation",
                    "doc_ids": ["kyc-procedure"],
                    "k": 2,
                },
            }
        )
    return calls


@activity_node("plan")
async def plan(state: KycReviewState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    case = state["case"]
    rnd = int(state.get("round") or 0) + 1
    done = {r["tool"] for r in _this_run(dict(state), ctx["run_id"])}
    review = state.get("review") if (state.get("review") or {}).get("run_id") == ctx["run_id"] else None
    update: dict[str, Any] = {"round": rnd}
    calls: list[dict[str, Any]] = []
    if not state["completeness"]["complete"]:
        text = "The case is incomplete, so no party can be screened; the missing fields must be supplied."
    elif "screen_sanctions" not in done:
        parties = _parties(case)
        calls = [{"id": f"r{rnd}-screen-{i}", "name": "screen_sanctions", "args": p} for i, p in enumerate(parties)]
        text = f"Screening {len(parties)} part{'y' if len(parties) == 1 else 'ies'} against the sanctions list."
    elif review is None:
        review = _review(dict(state), ctx["run_id"])
        update["review"] = review
        calls = _actions(case, review, rnd)
        text = f"The KYC rules say: {review['outcome']} ({', '.join(review['rules_fired'])})."
    else:
        text = "All proposed actions have been handled."
    await say(text, RULES)
    update["pending_tool_calls"] = calls
    update["messages"] = [{"role": "assistant", "node": "plan", "content": text, "by": RULES}]
    return update


def _template(review: dict[str, Any] | None, case: dict[str, Any]) -> str:
    if review is None:
        return "Nothing was screened: the case is incomplete."
    parts: list[str] = []
    for m in review["matches"]:
        reasons = "; ".join(m["reasons"])
        parts.append(
            f"{m['party']} matches listed {m['listed_name']} ({m['program']}) with score {m['score']} ({reasons}); "
            f"date of birth {m['dob_status']}, country {m['country_status']}: {m['classification']} "
            f"({m['rule_id']}: {m['rule_reason']})."
        )
    if not parts:
        parts.append(f"All {len(_parties(case))} parties screen clear against the sanctions list.")
    if review["unscreened"]:
        parts.append(f"Screening did not complete for {', '.join(review['unscreened'])}.")
    if review["missing_documents"]:
        parts.append(f"Documents outstanding: {', '.join(review['missing_documents'])}.")
    return " ".join(parts)


@activity_node("explain")
async def explain(state: KycReviewState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    review = state.get("review") if (state.get("review") or {}).get("run_id") == ctx["run_id"] else None
    fallback = _template(review, state["case"])
    by = template("kyc_review.explanation")
    if review is None or not review["matches"]:
        # Nothing to explain beyond the template: no model call, so nothing the model could get wrong.
        written = await say(fallback, by)
        return {"explanation": {"written": written.model_dump(), "model": None}}
    written, use = await model_explain("kyc_review.explain", prompts.EXPLAIN, fallback, fallback, by)
    return {
        "explanation": {"written": written.model_dump(), "model": use.public(), "prompt": use.sent},
        "messages": [{"role": "assistant", "node": "explain", "content": written.text, "by": written.by}],
    }


_DECISIONS = {
    "escalate": ("escalate_case", "escalated"),
    "review": ("escalate_case", "review"),
    "request_documents": ("request_documents", "documents_requested"),
}


@activity_node("summarize")
async def summarize(state: KycReviewState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from tools.corpus import quote

    ctx = runtime.context
    case = state["case"]
    review = state.get("review") if (state.get("review") or {}).get("run_id") == ctx["run_id"] else None
    results = {r["tool"]: r for r in _this_run(dict(state), ctx["run_id"]) if r["tool"] != "screen_sanctions"}
    missing = state.get("completeness", {}).get("missing", [])
    decided_by = "rules"
    if review is None:
        decision = "incomplete"
    elif review["outcome"] == "clear":
        decision = "cleared"
    elif review["outcome"] in _DECISIONS:
        tool, label = _DECISIONS[review["outcome"]]
        r = results.get(tool)
        decision = label if r and r["status"] == "executed" else f"{label}-{r['status'] if r else 'missing'}"
        decided_by = (r or {}).get("decided_by") or "rules"
    else:
        decision = review["outcome"]
    retrieved = [p["citation"] for p in ((results.get("search_policy") or {}).get("output") or {}).get("passages", [])]
    cites = (review or {}).get("citations", []) + [c for c in retrieved if c not in (review or {}).get("citations", [])]
    explanation = state.get("explanation") or {}
    texts = [AuthoredText.model_validate(explanation["written"])] if explanation.get("written") else []
    text = f"KYC case {case['case_id']}: {decision} (decided by {decided_by})."
    outcome = KycReviewOutcome(
        decision=decision,
        decided_by=decided_by,
        basis=Basis.model_validate(  # sanctions_list: an agent-specific entry beside the common ones
            {
                "rules": (review or {}).get("rulesets", []),
                "rules_fired": (review or {}).get("rules_fired", []),
                "citations": cites,
                "sanctions_list": (review or {}).get("sanctions_list"),
            }
        ),
        actions=actions_of(results.values(), acts_on_world),
        texts=[*texts, AuthoredText(text=text, by=RULES, node="summarize")],
        prompt_versions=[explanation["prompt"]] if explanation.get("prompt") else [],
        rules_fired=(review or {}).get("rules_fired", []),
        reasons=(review or {}).get("reasons", []),
        citations=quote(cites),
        matches=[
            {
                k: m[k]
                for k in ("party_id", "party", "entry_id", "listed_name", "score", "method", "reasons")
                + ("dob_status", "country_status", "classification", "rule_id")
            }
            for m in (review or {}).get("matches", [])
        ],
        missing=missing,
        missing_documents=(review or {}).get("missing_documents", []),
        tools={name: r["status"] for name, r in sorted(results.items())},
        explanation=texts[0].text if texts else None,
        explanation_by=("model" if texts[0].by == "model" else "template") if texts else None,
        model=explanation.get("model"),
    )
    return {
        "outcome": outcome.public(),
        "messages": [{"role": "assistant", "node": "summarize", "content": text, "by": RULES}],
    }


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(KycReviewState, context_schema=RunContext)
    g.add_node("intake", intake, metadata=dict(ACTIVITY_NODE))
    g.add_node("plan", plan, metadata=dict(ACTIVITY_NODE))
    g.add_node(GUARDED_NODE, guarded_tool_node, metadata=dict(GUARDED_NODE_METADATA))
    g.add_node("explain", explain, metadata=dict(MODEL_NODE))
    g.add_node("summarize", summarize, metadata=dict(ACTIVITY_NODE))
    g.add_edge(START, "intake")
    g.add_edge("intake", "plan")
    g.add_conditional_edges("plan", tool_router("explain"), [GUARDED_NODE, "explain"])
    g.add_edge(GUARDED_NODE, "plan")
    g.add_edge("explain", "summarize")
    g.add_edge("summarize", END)
    return g
