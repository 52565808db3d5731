"""The claims agent's deterministic decision path, one behaviour per test (issue 16, "Claims"): currency,
notice periods and time bars by convention, date consistency, the carrier status vocabulary, payout caps,
duplicates and third-party claimants, missing evidence, and the straight-through tier of the policy.

Written before the fixes: each failed on the code it replaced (the status parser matched "delivered" inside
"not delivered", the delay payout exceeded the amount claimed, a GBP claim on a EUR policy was paid, ...).
"""

from __future__ import annotations

from typing import Any

import pytest

from guards.policy import PolicyEngine, PolicyInput
from guards.types import Principal
from tools.claims import CargoPolicy, assess, proposed_action
from tools.extraction import ShipmentFacts, extract_regex, facts_from_api, status_from_phrase

EUR_CMR = CargoPolicy(
    policy_id="CP-9001",
    holder="Test Holder AB",
    holder_id="PH-9001",
    start="2026-01-01",
    end="2026-12-31",
    limit=25000,
    deductible=100,
    currency="EUR",
    convention="CMR",
    delay_share=0.10,
)


def policy(**kw: Any) -> CargoPolicy:
    return EUR_CMR.model_copy(update=kw)


def claim(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "claim_id": "C-1",
        "policy_id": "CP-9001",
        "claimant_id": "PH-9001",
        "shipment": {"carrier": "demo-api", "tracking_number": "T-0001"},
        "claim_type": "damage",
        "amount_claimed": 1200.0,
        "declared_value": 1500.0,
        "currency": "EUR",
        "incident_on": "2026-10-05",
        "reported_on": "2026-10-07",
        "prior_claims": [],
    }
    body.update(kw)
    return body


DELIVERED = ShipmentFacts(
    status="delivered",
    delivered_on="2026-10-05",
    promised_on="2026-10-05",
    last_scan_on="2026-10-05",
    collected_on="2026-10-01",
    signed_by="R. Keller",
)
LOST = ShipmentFacts(status="lost", last_scan_on="2026-10-01", collected_on="2026-09-28", promised_on="2026-10-03")


def run(c: dict[str, Any], p: CargoPolicy | None = EUR_CMR, s: ShipmentFacts | None = DELIVERED, **kw: Any) -> Any:
    return assess(c, p, s, evidence_source=kw.pop("evidence_source", "carrier_api"), **kw)


# -- carrier status vocabulary ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "status"),
    [
        ("Delivered", "delivered"),
        ("Delivered - damaged", "delivered"),
        ("DELIVERED_DAMAGED", "delivered"),
        ("Not delivered", "exception"),
        ("Delivery failed", "exception"),
        ("Undeliverable", "exception"),
        ("Lost in network", "lost"),
        ("In transit", "in_transit"),
        ("Out for delivery", "in_transit"),
        ("Delivered to a neighbour (maybe)", "unknown"),
    ],
)
def test_status_vocabulary_reads_whole_phrases_not_substrings(phrase: str, status: str) -> None:
    assert status_from_phrase(phrase) == status


def test_delivered_damaged_is_a_delivery_with_damage_from_the_api_and_the_page() -> None:
    api = facts_from_api({"status": "Delivered - damaged", "delivered_at": "2026-10-02"})
    page = extract_regex("Status: Delivered - damaged\nDelivered on: 2026-10-02\n")
    for facts in (api, page):
        assert (facts.status, facts.damaged, facts.delivered_on) == ("delivered", True, "2026-10-02")
    assert facts_from_api({"status": "Not delivered"}).status != "delivered"


# -- currency -----------------------------------------------------------------------------------------------


def test_a_claim_in_another_currency_than_the_policy_is_referred_never_paid_at_face_value() -> None:
    a = run(claim(currency="GBP"))
    assert a["outcome"] == "review" and "CLM-CURRENCY-MISMATCH" in a["rules_fired"]
    assert any("GBP" in d and "EUR" in d for d in a["details"])
    assert run(claim())["outcome"] == "pay"


# -- notice periods and time bars -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("convention", "reported_on", "outcome"),
    [
        # CMR art. 30(1): 7 days, Sundays excluded. Delivered Mon 2026-10-05; 7 working days -> Tue 2026-10-13.
        ("CMR", "2026-10-13", "pay"),
        ("CMR", "2026-10-14", "decline"),
        # Montreal art. 31(2): 14 days.
        ("MC99", "2026-10-19", "pay"),
        ("MC99", "2026-10-20", "decline"),
        # Hague-Visby art. III(6): 3 days.
        ("HVR", "2026-10-08", "pay"),
        ("HVR", "2026-10-09", "decline"),
    ],
)
def test_damage_notice_period_follows_the_convention(convention: str, reported_on: str, outcome: str) -> None:
    a = run(claim(reported_on=reported_on), policy(convention=convention))
    assert a["outcome"] == outcome, a["reasons"]


@pytest.mark.parametrize(
    ("convention", "reported_on", "outcome"),
    [("CMR", "2026-10-26", "pay"), ("CMR", "2026-10-27", "decline"), ("MC99", "2026-10-27", "decline")],
)
def test_delay_notice_is_21_days_under_cmr_and_montreal(convention: str, reported_on: str, outcome: str) -> None:
    late = DELIVERED.model_copy(update={"promised_on": "2026-09-28", "collected_on": "2026-09-20"})
    a = run(claim(claim_type="delay", reported_on=reported_on), policy(convention=convention), late)
    assert a["outcome"] == outcome, a["reasons"]


def test_a_delay_by_sea_goes_to_a_person() -> None:
    late = DELIVERED.model_copy(update={"promised_on": "2026-09-28", "collected_on": "2026-09-20"})
    a = run(claim(claim_type="delay", reported_on="2026-10-06"), policy(convention="HVR"), late)
    assert a["outcome"] == "review" and "CLM-DELAY-SEA" in a["rules_fired"]


@pytest.mark.parametrize(
    ("convention", "days", "barred"),
    [("HVR", 365, False), ("HVR", 366, True), ("MC99", 730, False), ("MC99", 731, True), ("CMR", 395, False)],
)
def test_loss_time_bar_counts_from_the_promised_date(convention: str, days: int, barred: bool) -> None:
    from datetime import date, timedelta

    lost = LOST.model_copy(
        update={"promised_on": "2025-06-01", "last_scan_on": "2025-05-30", "collected_on": "2025-05-25"}
    )
    reported = (date(2025, 6, 1) + timedelta(days=days)).isoformat()
    p = policy(convention=convention, start="2025-01-01", end="2027-12-31")
    a = run(claim(claim_type="loss", incident_on="2025-05-30", reported_on=reported), p, lost)
    assert ("CLM-TIME-BARRED" in a["rules_fired"]) is barred
    assert a["outcome"] == ("decline" if barred else "pay")


# -- dates ----------------------------------------------------------------------------------------------------


def test_inconsistent_dates_are_referred_naming_the_fields() -> None:
    a = run(claim(incident_on="2026-10-08", reported_on="2026-10-07"))
    assert a["outcome"] == "review" and "CLM-DATE-CONFLICT" in a["rules_fired"]
    assert any("reported_on" in d and "incident_on" in d for d in a["details"])
    backwards = DELIVERED.model_copy(update={"collected_on": "2026-10-06"})
    b = run(claim(), s=backwards)
    assert b["outcome"] == "review" and any("delivered_on" in d and "collected_on" in d for d in b["details"])


# -- payout -----------------------------------------------------------------------------------------------------


def test_payout_never_exceeds_the_amount_claimed() -> None:
    late = DELIVERED.model_copy(update={"promised_on": "2026-09-28", "collected_on": "2026-09-20"})
    a = run(claim(claim_type="delay", amount_claimed=500.0, declared_value=9000.0), s=late)
    assert a["outcome"] == "pay" and a["payout"] == 400.0  # min(10 % of 9000, 500) - 100
    b = run(claim(amount_claimed=30000.0, declared_value=40000.0))
    assert b["payout"] == 24900.0  # the policy limit, less the deductible


def test_pay_claim_refuses_an_amount_above_the_amount_claimed() -> None:
    from pydantic import ValidationError

    from tools.claims import PayClaimArgs

    with pytest.raises(ValidationError, match="amount"):
        PayClaimArgs(
            claim_id="C-1",
            policy_id="CP-9001",
            amount=600,
            amount_claimed=500,
            currency="EUR",
            evidence="carrier_api",
            reason="r",
        )


# -- duplicates and claimant --------------------------------------------------------------------------------------


def test_a_duplicate_of_an_earlier_claim_is_referred() -> None:
    prior = {
        "claim_id": "C-0",
        "policy_id": "CP-9001",
        "tracking_number": "T-0001",
        "incident_on": "2026-10-05",
        "claim_type": "damage",
    }
    a = run(claim(prior_claims=[prior]))
    assert a["outcome"] == "review" and "CLM-DUPLICATE" in a["rules_fired"]
    assert any("C-0" in d for d in a["details"])
    other_shipment = {**prior, "tracking_number": "T-0002"}
    assert run(claim(prior_claims=[other_shipment]))["outcome"] == "pay"


def test_a_claimant_who_is_not_the_policyholder_is_referred() -> None:
    a = run(claim(claimant_id="PH-7777"))
    assert a["outcome"] == "review" and "CLM-CLAIMANT-NOT-HOLDER" in a["rules_fired"]


# -- missing evidence ------------------------------------------------------------------------------------------


def test_missing_evidence_a_rule_needs_is_referred_naming_the_field() -> None:
    no_date = DELIVERED.model_copy(update={"delivered_on": None})
    a = run(claim(), s=no_date)
    assert a["outcome"] == "review" and any("shipment.delivered_on" in d for d in a["details"])
    b = run(claim(), policy(convention=None))
    assert b["outcome"] == "review" and any("policy.convention" in d for d in b["details"])


# -- straight-through tier ------------------------------------------------------------------------------------------

ENGINE = PolicyEngine()


def _policy_effect(action: dict[str, Any]) -> tuple[str, str]:
    decision = ENGINE.decide(
        PolicyInput(
            tool=action["name"],
            risk="high",
            side_effect=True,
            args=action["args"],
            tenant="default",
            requester=Principal(id="alice", roles=["operator"]),
            assistant_id="claims",
        )
    )
    return decision.effect, decision.rule_id


def test_a_small_carrier_confirmed_loss_is_paid_straight_through() -> None:
    c = claim(claim_type="loss", incident_on="2026-10-01", reported_on="2026-10-20", amount_claimed=900.0)
    a = run(c, s=LOST)
    action = proposed_action(c, a, "r1")
    assert action["name"] == "pay_claim" and "CLM-STP-WITHIN-CAP" in action["args"]["rule_ids"]
    assert _policy_effect(action) == ("allow", "stp-claims-carrier-confirmed")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"amount_claimed": 2700.0, "declared_value": 3000.0}, "payout 2,600 above the EUR 2,500 cap"),
        ({"evidence_source": "model"}, "facts read by a model from a page"),
        ({"evidence_source": "carrier_page"}, "facts read from a page, not the carrier's API"),
    ],
)
def test_everything_else_waits_for_a_person(change: dict[str, Any], why: str) -> None:
    fields = {"amount_claimed": 900.0, **change}
    source = fields.pop("evidence_source", "carrier_api")
    c = claim(claim_type="loss", incident_on="2026-10-01", reported_on="2026-10-20", **fields)
    a = run(c, s=LOST, evidence_source=source)
    action = proposed_action(c, a, "r1")
    assert action["name"] == "pay_claim"
    assert _policy_effect(action)[0] == "require_approval", why


def test_damage_reported_by_the_claimant_alone_is_not_straight_through() -> None:
    a = run(claim())  # delivered without a damage record: the claimant's word, within the notice period
    action = proposed_action(claim(), a, "r1")
    assert action["name"] == "pay_claim" and _policy_effect(action)[0] == "require_approval"
