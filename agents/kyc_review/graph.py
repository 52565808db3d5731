"""KYC review: START -> intake -> plan -> (tools -> plan)* -> explain -> summarize -> END

``intake`` checks the case can be screened and names every missing field a rule needs (an organisation's
directors and beneficial owners included); ``plan`` first screens every party (one ``screen_sanctions`` call
each, in parallel: the customer, a sole proprietor as the natural person, a trading name, each director,
beneficial owner and signatory), then applies the ``kyc_case`` rules (``agents.kyc_review.decide``) and
proposes the actions they call for: ``escalate_case`` (medium risk: an analyst confirms) for matches, PEPs,
high-risk jurisdictions and untransliterable names, ``request_documents`` (medium risk) for what is missing or
stale, ``approve_onboarding`` (high risk; the policy's ``stp-kyc-*`` tier lets a low-risk natural person with
no hit and fresh documents through, KYC-7) when the rules clear, and ``search_policy`` for the passages the
explanation relies on. ``explain`` has the model explain the matches (or a template when no
model answers); ``summarize`` states the outcome, which rules decided it and who confirmed it.
"""

from __future__ import annotations

import operator
from datetime import date
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents._llm import acts_on_world, say
from agents._llm import explain as model_explain
from agents.context import ACTIVITY_NODE, MODEL_NODE, RunContext, activity_node
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node, tool_router
from agents.kyc_review import decide, prompts
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


def _real_date(value: str | None) -> str | None:
    """A date that passes the pattern but does not exist (2026-02-30) is a 422 naming the field."""
    if value is not None:
        date.fromisoformat(value)
    return value


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is a 422 naming it, never dropped

    customer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(
        min_length=2,
        max_length=200,
        description="As on the identity document, in any script.",
        json_schema_extra={"x-intake-name": True},
    )
    type: Literal["person", "organisation", "sole_proprietor"] = Field(
        description="A sole proprietor is a natural person trading in their own name (screened as a person)."
    )
    trading_name: str | None = Field(
        default=None,
        min_length=2,
        max_length=200,
        json_schema_extra={"x-intake-name": True, "x-intake-when": ["trading as", "trades as", "t/a", "dba", "brand"]},
    )
    dob: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="Residence or incorporation.")
    pep: bool = False

    _dob = field_validator("dob")(_real_date)


class RelatedParty(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=2, max_length=200, json_schema_extra={"x-intake-name": True})
    type: Literal["person", "organisation"] = "person"
    role: Literal["director", "beneficial_owner", "signatory"]
    dob: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    pep: bool = Field(default=False, description="Politically exposed (AMLD art. 3(9), 20; KYC-4.2).")

    _dob = field_validator("dob")(_real_date)


class DocumentRecord(BaseModel):
    """A document on file with the dates its freshness rule needs (KYC-2.5)."""

    model_config = ConfigDict(extra="forbid")

    type: DocumentName
    issued_on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    expires_on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")

    _dates = field_validator("issued_on", "expires_on")(_real_date)


class KycCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(min_length=1, max_length=64)
    customer: Customer
    related_parties: list[RelatedParty] = Field(default_factory=list, max_length=20)
    documents_provided: list[DocumentName] = Field(default_factory=list)
    documents: list[DocumentRecord] = Field(default_factory=list, max_length=20)
    review_date: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Documents' ages are measured at it; default today."
    )

    _review_date = field_validator("review_date")(_real_date)


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
    return decide.parties(case)


@activity_node("intake")
async def intake(state: KycReviewState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    case = KycCase.model_validate(state.get("case") or {}).model_dump()
    if not case.get("review_date"):
        case["review_date"] = date.today().isoformat()  # fixed once here, so replays and retries agree
    check = decide.completeness(case)
    missing = check["missing"]
    note = "Case complete." if not missing else f"Missing: {', '.join(missing)}."
    return {
        "case": case,
        "completeness": {"complete": not missing, "missing": missing},
        "round": 0,
        "pending_tool_calls": [],
        "messages": [{"role": "assistant", "node": "intake", "content": note}],
    }


def _review(state: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Screenings of this run + documents -> the kyc_case rules' outcome (``decide.review``)."""
    case = state["case"]
    by_id: dict[str, dict[str, Any] | None] = {}
    for r in _this_run(state, run_id):
        if r["tool"] == "screen_sanctions":
            by_id[r["args"].get("party_id", "?")] = r["output"] if r["status"] == "executed" else None
    screenings = [by_id.get(p["party_id"]) for p in decide.parties(case)]
    return {"run_id": run_id, **decide.review(case, screenings, case["review_date"])}


def _actions(case: dict[str, Any], review: dict[str, Any], rnd: int) -> list[dict[str, Any]]:
    return decide.proposals(case, review, rnd)


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


_DECISIONS = decide.DECISIONS


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
