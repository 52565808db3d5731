"""The claims agent on the real runtime against a carrier portal served on loopback: evidence with provenance,
the claims rules deciding, payouts and declines waiting for an approver, edge cases to an adjuster."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from agents.context import set_chat_model_factory
from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.errors import UserError
from tests.conftest import pending_approvals
from tests.integration import deciding
from tests.integration.carrier_portal import CarrierPortal, sources
from tools import scraper

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])


@pytest.fixture(scope="module")
def portal() -> Iterator[CarrierPortal]:
    with CarrierPortal(min_gap_s=0.0) as p:
        doc = sources(p.base_url, min_interval_s=0.0)
        doc["sources"].append(
            {"id": "dead", "name": "Down", "base_url": "http://127.0.0.1:9", "api_path": "/v1/{tracking_number}"}
        )
        scraper.configure_sources(doc)
        yield p
    scraper.configure_sources(None)


def claim(claim_id: str, tracking: str, claim_type: str = "loss", carrier: str = "portal", **kw: Any) -> dict[str, Any]:
    body = {
        "claim_id": claim_id,
        "policy_id": "CP-1001",
        "currency": "EUR",
        "shipment": {"carrier": carrier, "tracking_number": tracking},
        "claim_type": claim_type,
        "amount_claimed": 1200,
        "declared_value": 1500,
        "incident_on": "2026-09-20",
        "reported_on": "2026-10-05",
    }
    body.update(kw)
    body.setdefault("claimant_id", f"PH-{body['policy_id'][3:]}")  # the policyholder (CH-2.3)
    return {"claim": body}


async def run_claim(client, store, task_queue, payload, action: str | None = None) -> tuple[Any, dict[str, Any]]:
    handle = await runs.start_run(client, store, task_queue, "claims", payload, REQUESTER)
    approval = None
    if action:
        (approval,) = await pending_approvals(store, handle.id, 1)
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=approval["approval_id"], action=action, principal=APPROVER)
        )
    result = await asyncio.wait_for(handle.result(), 120)
    return handle, {"outcome": result.outcome, "approval": approval, "state": result.state}


async def test_confirmed_loss_is_paid_after_approval_with_evidence_and_provenance(
    client, store, task_queue, worker, portal
) -> None:
    handle, r = await run_claim(client, store, task_queue, claim("CL-1", "SS-1002"), action="approve")
    out, approval = r["outcome"], r["approval"]
    assert approval["tool"] == "pay_claim" and approval["risk"] == "high"
    assert approval["args"]["amount"] == 1100.0 and approval["args"]["rule_ids"] == ["CLM-LOSS-CONFIRMED"]
    assert out["decision"] == "paid" and out["decided_by"] == "bob" and out["payout"] == 1100.0
    assert out["rules_fired"] == ["CLM-LOSS-CONFIRMED"] and out["citations"][0]["citation"] == "claims-handbook#CH-4.1"
    assert out["basis"]["rules"][0].startswith("claims@") and out["basis"]["source"] == "scrape"
    status = next(f for f in out["evidence"] if f["field"] == "status")
    assert status["value"] == "lost" and status["url"] == f"{portal.base_url}/track/SS-1002"
    assert status["content_sha256"] == portal.sha256("/track/SS-1002") and status["fetched_at"]
    assert status["extracted_by"] == "regex (rule-based fallback)", "no model configured: labelled fallback"
    executed = {t["tool"] for t in store.tool_executions(handle.id)}
    assert executed == {"track_shipment", "get_cargo_policy", "pay_claim"}


async def test_loss_claimed_on_a_signed_delivery_goes_to_an_adjuster(client, store, task_queue, worker, portal) -> None:
    _, r = await run_claim(client, store, task_queue, claim("CL-2", "SS-1001", incident_on="2026-10-03"))
    out = r["outcome"]
    assert out["decision"] == "referred" and out["rules_fired"] == ["CLM-LOSS-BUT-DELIVERED"]
    assert out["payout"] is None and out["tools"]["refer_to_adjuster"] == "executed"
    # An incident dated before the carrier collected the goods is a fraud indicator: also a person's call.
    _, early = await run_claim(client, store, task_queue, claim("CL-2b", "SS-1001"))
    assert set(early["outcome"]["rules_fired"]) == {"CLM-LOSS-BUT-DELIVERED", "CLM-FRAUD-INDICATOR"}


async def test_page_injection_is_caught_never_shown_to_the_model_and_routed_to_a_person(
    client, store, task_queue, worker, portal
) -> None:
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)
        return GenericFakeChatModel(messages=iter([AIMessage(content='{"status": "delivered"}')]))

    set_chat_model_factory(factory)
    try:
        payload = claim("CL-3", "SS-1006", claim_type="damage", reported_on="2026-10-03")
        handle, r = await run_claim(client, store, task_queue, payload)
    finally:
        set_chat_model_factory(None)
    out = r["outcome"]
    assert out["decision"] == "referred" and "CLM-PAGE-INJECTION" in out["rules_fired"]
    assert out["injection_suspected"] and calls == [], "the suspicious page never reached the model"
    verdicts = [e["data"] for e in store.events_after(handle.id) if e["type"] == "guard_verdict"]
    assert any(v["point"] == "tool_output" and v["validator"] == "prompt_injection" for v in verdicts)
    assert "ignore all previous instructions" not in json.dumps(r["state"]).lower()
    assert "pay_claim" not in {t["tool"] for t in store.tool_executions(handle.id)}


async def test_unreachable_portal_and_changed_layout_go_to_review_without_invented_values(
    client, store, task_queue, worker, portal
) -> None:
    _, dead = await run_claim(client, store, task_queue, claim("CL-4", "SS-1002", carrier="dead"))
    assert dead["outcome"]["decision"] == "referred" and dead["outcome"]["rules_fired"] == ["CLM-NO-EVIDENCE"]
    assert "unreachable" in dead["outcome"]["evidence_note"] and dead["outcome"]["evidence"] == []
    _, moved = await run_claim(client, store, task_queue, claim("CL-5", "SS-1007", claim_type="damage"))
    assert moved["outcome"]["decision"] == "referred" and "CLM-NO-EVIDENCE" in moved["outcome"]["rules_fired"]
    assert "could not be read" in moved["outcome"]["evidence_note"] and moved["outcome"]["evidence"] == []
    _, elsewhere = await run_claim(client, store, task_queue, claim("CL-6", "SS-1002", carrier="not-listed"))
    assert elsewhere["outcome"]["decision"] == "referred"
    assert "not on the allow-list" in elsewhere["outcome"]["evidence_note"]


async def test_a_small_late_delivery_on_the_carrier_api_is_paid_straight_through(
    client, store, task_queue, worker, portal
) -> None:
    # CH-8: carrier-recorded delay, read from the API, 100 EUR: the policy's stp-claims rule lets it run.
    payload = claim(
        "CL-7", "SS-1005", claim_type="delay", carrier="portal-api", declared_value=2000, amount_claimed=500
    )
    handle, r = await run_claim(client, store, task_queue, payload)
    out = r["outcome"]
    assert out["decision"] == "paid" and out["decided_by"] == "rules" and r["approval"] is None
    assert out["payout"] == 100.0  # 10 % of 2000 (under the 500 claimed), less the 100 deductible
    assert out["rules_fired"] == ["CLM-DELAY-COVERED", "CLM-STP-WITHIN-CAP"]
    assert (out["basis"]["evidence"], out["basis"]["source"]) == ("api", "api")
    assert store.list_approvals(run_id=handle.id) == []
    assert [e["tool"] for e in store.tool_executions(handle.id)][-1:] == ["pay_claim"]
    # The same claim with the claimant someone else than the policyholder goes to an adjuster, not paid.
    other = claim("CL-7b", "SS-1005", claim_type="delay", carrier="portal-api", claimant_id="PH-7777")
    _, referred = await run_claim(client, store, task_queue, other)
    assert referred["outcome"]["decision"] == "referred"
    assert "CLM-CLAIMANT-NOT-HOLDER" in referred["outcome"]["rules_fired"]
    assert any("PH-7777" in d for d in referred["outcome"]["details"])


async def test_incident_outside_the_policy_period_is_declined_after_approval(
    client, store, task_queue, worker, portal
) -> None:
    payload = claim("CL-8", "SS-1002", policy_id="CP-1008")
    _, r = await run_claim(client, store, task_queue, payload, action="approve")
    assert r["approval"]["tool"] == "decline_claim"
    assert r["outcome"]["decision"] == "declined" and "CLM-OUT-OF-PERIOD" in r["outcome"]["rules_fired"]


async def test_incomplete_claim_says_what_is_missing_and_fetches_nothing(client, store, task_queue, worker) -> None:
    payload = claim("CL-9", "SS-1002", amount_claimed=None, incident_on=None)
    handle, r = await run_claim(client, store, task_queue, payload)
    assert r["outcome"]["decision"] == "incomplete" and r["outcome"]["missing"] == ["amount_claimed", "incident_on"]
    assert store.tool_executions(handle.id) == []


async def test_malformed_claim_is_refused_naming_the_field(client, store, task_queue) -> None:
    with pytest.raises(UserError, match=r"input.claim.claim_type"):
        await runs.start_run(client, store, task_queue, "claims", claim("CL-10", "SS-1", claim_type="theft"), REQUESTER)


async def test_model_extraction_is_grounded_in_the_page(client, store, task_queue, worker, portal) -> None:
    # The model reads the page but invents a delivery date the page does not contain: grounding drops it.
    answer = {"status": "delivered", "delivered_on": "2026-10-09", "signed_by": "M. Rossi", "damaged": True}
    set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(answer))])))
    try:
        payload = claim("CL-11", "SS-1004", claim_type="damage", reported_on="2026-10-04")
        _, r = await run_claim(client, store, task_queue, payload)
    finally:
        set_chat_model_factory(None)
    out = r["outcome"]
    assert out["model"]["status"] == "answered"
    fields = {f["field"]: f for f in out["evidence"]}
    assert fields["status"]["extracted_by"] == "model" and "delivered_on" not in fields
    assert fields["damaged"]["value"] is True and fields["signed_by"]["value"] == "M. Rossi"
    assert r["state"]["evidence"]["ungrounded"] == ["delivered_on"]
    # Without the dropped delivery date the time bar cannot be checked (CH-2.5, CH-4.6): a person, not a guess.
    assert out["decision"] == "referred" and "CLM-MISSING-EVIDENCE" in out["rules_fired"]
    assert "missing: shipment.delivered_on" in out["details"]
