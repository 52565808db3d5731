"""Cargo claims: START -> intake -> plan -> (tools -> plan | extract -> plan)* -> summarize -> END

``intake`` checks the claim names everything the handbook requires (CH-2); ``plan`` asks the carrier for the
shipment's status (``track_shipment``: its API, or its robots-permitted page) and looks up the policy
(``get_cargo_policy``); ``extract`` turns the carrier's evidence into facts (API fields, else the local model
constrained to a JSON schema and grounded in the page, else the labelled regex fallback; a page with
instruction-like text is never shown to the model), each with its provenance; ``plan`` then applies the
``claims`` rules and proposes ``pay_claim`` or ``decline_claim`` (high risk: an approver confirms) or
``refer_to_adjuster`` for edge cases; ``summarize`` states the outcome, the rules and who confirmed it.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from pydantic import BaseModel, ConfigDict, Field

from agents._llm import acts_on_world, say
from agents._llm import extract as model_extract
from agents.claims import prompts
from agents.context import ACTIVITY_NODE, MODEL_NODE, RunContext, activity_node
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node
from guards.outcome import RULES, AuthoredText, Basis, Outcome, actions_of

REQUIRED = ("amount_claimed", "declared_value", "currency", "incident_on", "reported_on")
"""CH-2: a claim missing any of these is returned naming the field; none has a default that could pay."""
_DATE = r"^\d{4}-\d{2}-\d{2}$"


class Shipment(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is a 422 naming it, never dropped

    carrier: str = Field(min_length=2, max_length=40, json_schema_extra={"x-intake-name": True})
    tracking_number: str = Field(pattern=r"^[A-Za-z0-9-]{4,40}$")


class PriorClaim(BaseModel):
    """One earlier claim from the claims system's history for the policy, sent with the claim (CH-7.2)."""

    model_config = ConfigDict(extra="forbid")

    claim_id: str = Field(min_length=1, max_length=64)
    policy_id: str = Field(pattern=r"^[A-Z]{2}-\d{3,8}$")
    tracking_number: str = Field(pattern=r"^[A-Za-z0-9-]{4,40}$")
    incident_on: str = Field(pattern=_DATE)
    claim_type: Literal["loss", "damage", "delay"]


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_id: str = Field(min_length=1, max_length=64)
    policy_id: str = Field(
        pattern=r"^[A-Z]{2}-\d{3,8}$",
        json_schema_extra={
            "x-intake-near": ["policy", "policies", "police", "poliza", "polizza", "polis", "contract", "under"]
        },
    )
    claimant_id: str = Field(min_length=1, max_length=64)
    shipment: Shipment
    claim_type: Literal["loss", "damage", "delay"]
    amount_claimed: float | None = Field(
        default=None, gt=0, le=1_000_000, json_schema_extra={"x-intake-words": ["claiming", "claimed", "asking"]}
    )
    declared_value: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        json_schema_extra={
            "x-intake-words": ["declared", "worth", "valued", "insured", "invoice", "invoiced"],
            "x-intake-near": [
                "declared",
                "worth",
                "valued",
                "value",
                "insured",
                "invoice",
                "invoiced",
                "warenwert",
                "wert",
                "valor",
                "valeur",
                "declarado",
                "declaree",
                "dichiarato",
            ],
        },  # fmt: skip
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    incident_on: str | None = Field(default=None, pattern=_DATE)
    reported_on: str | None = Field(default=None, pattern=_DATE)
    description: str | None = Field(default=None, max_length=1000)
    prior_claims: list[PriorClaim] = Field(
        default_factory=list,
        max_length=100,
        json_schema_extra={
            "x-intake-when": ["prior", "previous", "earlier", "past", "history", "before", "fruhere", "anterior"]
        },
    )


class ClaimsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: Claim


class ClaimsOutcome(Outcome):
    """The claims outcome: the common fields plus the payout and the evidence with its provenance."""

    rules_fired: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    details: list[str] = Field(
        default_factory=list, description="Fields in conflict or missing, duplicates, currencies: what to ask."
    )
    citations: list[dict[str, Any]] = Field(default_factory=list, description="The cited passages, quoted.")
    payout: float | None = None
    currency: str | None = None
    evidence: list[dict[str, Any]] = Field(default_factory=list, description="Facts with their provenance.")
    evidence_note: str | None = None
    injection_suspected: bool = False
    model: dict[str, Any] | None = Field(default=None, description="What the model did for the extraction.")
    missing: list[str] = Field(default_factory=list)
    tools: dict[str, str] = Field(default_factory=dict)


class ClaimsState(TypedDict, total=False):
    claim: dict[str, Any]
    completeness: dict[str, Any]
    round: int
    next_step: str
    evidence: dict[str, Any]
    assessment: dict[str, Any]
    pending_tool_calls: list[dict[str, Any]]
    tool_results: Annotated[list[dict[str, Any]], operator.add]
    messages: Annotated[list[dict[str, Any]], operator.add]
    outcome: dict[str, Any]


def _this_run(state: dict[str, Any], run_id: str) -> dict[str, dict[str, Any]]:
    return {r["tool"]: r for r in state.get("tool_results") or [] if r.get("run_id") == run_id}


def _mine(state: dict[str, Any], key: str, run_id: str) -> dict[str, Any] | None:
    """A per-run value; the thread carries the previous run's, which must not count for this one."""
    value = state.get(key) or {}
    return value if value.get("run_id") == run_id else None


@activity_node("intake")
async def intake(state: ClaimsState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    claim = Claim.model_validate(state.get("claim") or {}).model_dump()
    missing = [f for f in REQUIRED if claim.get(f) in (None, "")]
    note = "Claim complete." if not missing else f"Missing: {', '.join(missing)}."
    return {
        "claim": claim,
        "completeness": {"complete": not missing, "missing": missing},
        "round": 0,
        "pending_tool_calls": [],
        "messages": [{"role": "assistant", "node": "intake", "content": note}],
    }


def _policy(results: dict[str, dict[str, Any]]) -> Any:
    from tools.claims import CargoPolicy

    r = results.get("get_cargo_policy")
    if not r or r["status"] != "executed" or not r["output"].get("found"):
        return None
    return CargoPolicy.model_validate(r["output"]["policy"])


_EVIDENCE_SOURCE = {"api": "carrier_api", "model": "model"}
"""How ``extract`` read the carrier's facts, as the ``evidence`` the pay action carries (else the page's labels)."""


def _assess(state: dict[str, Any], run_id: str) -> dict[str, Any]:
    from tools.claims import assess
    from tools.extraction import ShipmentFacts

    evidence = _mine(state, "evidence", run_id) or {}
    facts = ShipmentFacts.model_validate(evidence["facts"]) if evidence.get("available") else None
    by = str(evidence.get("extracted_by") or "")
    source = _EVIDENCE_SOURCE.get(by, "carrier_page" if by else "none")
    result = assess(
        state["claim"],
        _policy(_this_run(state, run_id)),
        facts,
        injection_suspected=bool(evidence.get("injection_suspected")),
        evidence_source=source,
    )
    return {"run_id": run_id, **result}


@activity_node("plan")
async def plan(state: ClaimsState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from tools.claims import proposed_action

    ctx = runtime.context
    claim = state["claim"]
    rnd = int(state.get("round") or 0) + 1
    done = _this_run(dict(state), ctx["run_id"])
    update: dict[str, Any] = {"round": rnd, "next_step": "summarize"}
    calls: list[dict[str, Any]] = []
    if not state["completeness"]["complete"]:
        text = "The claim is incomplete; the claimant must supply the missing information. Nothing is assumed."
    elif "track_shipment" not in done:
        calls = [
            {"id": f"r{rnd}-track_shipment", "name": "track_shipment", "args": dict(claim["shipment"])},
            {"id": f"r{rnd}-get_cargo_policy", "name": "get_cargo_policy", "args": {"policy_id": claim["policy_id"]}},
        ]
        text = "Reading the shipment's status from the carrier and looking up the policy."
    elif _mine(dict(state), "evidence", ctx["run_id"]) is None:
        update["next_step"] = "extract"
        text = "Reading the carrier's evidence."
    elif _mine(dict(state), "assessment", ctx["run_id"]) is None:
        assessment = _assess(dict(state), ctx["run_id"])
        update["assessment"] = assessment
        calls = [proposed_action(claim, assessment, f"r{rnd}")]
        text = f"The claims rules say: {assessment['outcome']} ({', '.join(assessment['rules_fired']) or 'none'})."
    else:
        text = "All proposed actions have been handled."
    await say(text, RULES)
    update["pending_tool_calls"] = calls
    update["messages"] = [{"role": "assistant", "node": "plan", "content": text, "by": RULES}]
    return update


def _with_provenance(facts: dict[str, Any], prov: dict[str, Any] | None, extracted_by: str) -> list[dict[str, Any]]:
    return [
        {
            "field": name,
            "value": value,
            "extracted_by": extracted_by,
            **{k: (prov or {}).get(k) for k in ("url", "fetched_at", "content_sha256", "method", "source_id")},
        }
        for name, value in facts.items()
        if value not in (None, False, "unknown")
    ]


@activity_node("extract")
async def extract(state: ClaimsState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from tools.extraction import (
        MODEL_SCHEMA,
        extract_regex,
        extraction_prompt,
        facts_from_api,
        facts_from_model,
        ground,
    )

    ctx = runtime.context
    r = _this_run(dict(state), ctx["run_id"]).get("track_shipment") or {}
    out = r.get("output") or {}
    evidence: dict[str, Any] = {"run_id": ctx["run_id"], "available": False, "model": None}
    if r.get("status") != "executed" or out.get("status") != "ok":
        why = out.get("status") or r.get("status") or "missing"
        evidence["reason"] = f"carrier evidence unavailable: {why}" + (f" ({out['note']})" if out.get("note") else "")
        text = evidence["reason"] + "; a person must review the claim."
    else:
        prov = out.get("provenance")
        page = out.get("page_text") or ""
        # The tool flags instruction-like text and the tool_output guard replaces it; either means "suspect".
        injected = bool(out.get("injection_markers")) or "removed: possible prompt injection" in page.casefold()
        if out.get("api_record") is not None:
            facts, by = facts_from_api(out["api_record"]), "api"
        elif injected:
            facts, by = extract_regex(page), "regex (page not shown to the model: suspected injection)"
        else:
            modelled, use = await model_extract(
                "claims.extract",
                prompts.EXTRACT,
                MODEL_SCHEMA,
                facts_from_model,
                lambda instructions: extraction_prompt(page, [], instructions),
            )
            evidence["model"] = use.public()
            if modelled is not None:
                facts, dropped = ground(modelled, page)
                by = "model"
                evidence["ungrounded"] = dropped
            else:
                facts, by = extract_regex(page), "regex (rule-based fallback)"
        evidence.update(
            {
                "available": facts.status != "unknown",
                "facts": facts.model_dump(),
                "extracted_by": by,
                "injection_suspected": injected,
                "provenance": prov,
                "facts_with_provenance": _with_provenance(facts.model_dump(), prov, by),
            }
        )
        if facts.status == "unknown":
            evidence["reason"] = "the carrier's page could not be read (layout changed or no status); nothing assumed"
        text = f"Carrier status: {facts.status} (read by {by})."
    await say(text, RULES)
    return {"evidence": evidence, "messages": [{"role": "assistant", "node": "extract", "content": text, "by": RULES}]}


_DECISIONS = {"pay_claim": "paid", "decline_claim": "declined", "refer_to_adjuster": "referred"}


@activity_node("summarize")
async def summarize(state: ClaimsState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from tools.corpus import quote

    ctx = runtime.context
    claim = state["claim"]
    done = _this_run(dict(state), ctx["run_id"])
    assessment = _mine(dict(state), "assessment", ctx["run_id"]) or {}
    evidence = _mine(dict(state), "evidence", ctx["run_id"]) or {}
    decision, decided_by = "incomplete", "rules"
    for tool, label in _DECISIONS.items():
        if tool in done:
            r = done[tool]
            decision = label if r["status"] == "executed" else f"{label}-{r['status']}"
            decided_by = r.get("decided_by") or "rules"
            break
    use = evidence.get("model") or {}  # ModelUse.public(): a prompt went out unless no model was configured
    text = f"Claim {claim['claim_id']}: {decision} (decided by {decided_by})."
    outcome = ClaimsOutcome(
        decision=decision,
        decided_by=decided_by,
        basis=Basis.model_validate(  # evidence, source: where the facts came from, beside the common entries
            {
                "rules": [assessment["ruleset"]] if assessment.get("ruleset") else [],
                "rules_fired": assessment.get("rules_fired", []),
                "citations": assessment.get("citations", []),
                "evidence": evidence.get("extracted_by"),
                "source": (evidence.get("provenance") or {}).get("method"),
            }
        ),
        actions=actions_of(done.values(), acts_on_world),
        texts=[AuthoredText(text=text, by=RULES, node="summarize")],
        prompt_versions=[use["prompt"]] if use.get("status") in ("answered", "fallback") else [],
        rules_fired=assessment.get("rules_fired", []),
        reasons=assessment.get("reasons", []),
        details=assessment.get("details", []),
        citations=quote(assessment.get("citations", [])),
        payout=assessment.get("payout") if decision == "paid" else None,
        currency=assessment.get("currency"),
        evidence=evidence.get("facts_with_provenance", []),
        evidence_note=evidence.get("reason"),
        injection_suspected=bool(evidence.get("injection_suspected")),
        model=evidence.get("model"),
        missing=state.get("completeness", {}).get("missing", []),
        tools={name: r["status"] for name, r in sorted(done.items())},
    )
    return {
        "outcome": outcome.public(),
        "messages": [{"role": "assistant", "node": "summarize", "content": text, "by": RULES}],
    }


async def route(state: dict[str, Any]) -> list[Send] | str:
    """Pending calls fan out to the guarded node; otherwise where ``plan`` said to go next."""
    calls = state.get("pending_tool_calls") or []
    if calls:
        return [Send(GUARDED_NODE, {"call": c}) for c in calls]
    return "extract" if state.get("next_step") == "extract" else "summarize"


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(ClaimsState, context_schema=RunContext)
    g.add_node("intake", intake, metadata=dict(ACTIVITY_NODE))
    g.add_node("plan", plan, metadata=dict(ACTIVITY_NODE))
    g.add_node(GUARDED_NODE, guarded_tool_node, metadata=dict(GUARDED_NODE_METADATA))
    g.add_node("extract", extract, metadata=dict(MODEL_NODE))
    g.add_node("summarize", summarize, metadata=dict(ACTIVITY_NODE))
    g.add_edge(START, "intake")
    g.add_edge("intake", "plan")
    g.add_conditional_edges("plan", route, [GUARDED_NODE, "extract", "summarize"])
    g.add_edge(GUARDED_NODE, "plan")
    g.add_edge("extract", "plan")
    g.add_edge("summarize", END)
    return g
