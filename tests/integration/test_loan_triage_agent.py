"""Loan triage with the credit risk model registered: the champion's PD feeds the lending rules, the challenger
is only logged, and the decision carries the rules that fired and the policy passages they rest on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guards.types import Principal
from runtime import runs
from tests.conftest import GOOD_APPLICATION
from tests.integration.loan_flow import decide_as_they_come
from tests.integration.scoring_home import trained_home
from tools import scoring

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])


@pytest.fixture(scope="module")
def registry() -> Iterator[dict[str, Any]]:
    home, record = trained_home()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEWARD_HOME", str(home))
        scoring._LOADED.clear()
        yield record
        scoring._LOADED.clear()


def application(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"application": {**GOOD_APPLICATION["application"], "application_id": app_id, **fields}}


async def decide_all(client, store, run_id: str) -> list[dict[str, Any]]:
    """Approve each approval as the run asks for it (the loan; the approval notice then goes straight through)."""
    return await decide_as_they_come(client, store, run_id, principal=APPROVER)


async def test_approval_rests_on_band_rules_and_the_champion_score(client, store, task_queue, worker, registry) -> None:
    handle = await runs.start_run(client, store, task_queue, "loan_triage", application("L-1"), REQUESTER)
    rows = await decide_all(client, store, handle.id)
    assert [r["tool"] for r in rows] == ["approve_loan"], "the approval notice needs no approver (stp-loan-notice)"
    out = (await handle.result()).outcome
    assert out["decision"] == "approved" and out["decided_by"] == "bob"
    assert out["rules_fired"] == ["R-BAND-A", "LEND-APPROVE"]
    score = out["basis"]["score"]
    assert score["status"] == "scored" and score["alias"] == "champion" and score["pd"] < 0.10
    assert score["version"] == registry["aliases"]["champion"]["version"]
    assert out["shadow_score"]["alias"] == "challenger", "the challenger is scored in shadow"
    cites = {c["citation"]: c for c in out["citations"]}
    assert {"lending-policy#LP-3.1", "lending-policy#LP-4.1", "lending-policy#LP-5.1"} <= set(cites)
    assert "Every approval and every decline is confirmed" in cites["lending-policy#LP-5.1"]["text"]
    assert out["basis"]["rules"][0].startswith("credit_band@") and out["basis"]["rules"][1].startswith("lending@")
    assert out["explanation_by"] == "template" and "band A" in out["explanation"]


async def test_an_elevated_pd_refers_a_band_b_application(client, store, task_queue, worker, registry) -> None:
    # Affordable (DSTI 0.23, consistent incomes, LTI 1.7) so that only the champion's PD (0.117, measured) refers
    # it; the old payload (70,000 on 18,000 a year) now trips LEND-DSTI-DECLINE and LEND-INCOME-PERIODS.
    payload = application(
        "L-2",
        credit_score=672,
        annual_income=18000,
        monthly_income=1500,
        monthly_obligations=0,
        amount=30000,
        term_months=120,
    )
    handle = await runs.start_run(client, store, task_queue, "loan_triage", payload, REQUESTER)
    out = (await asyncio.wait_for(handle.result(), 60)).outcome
    assert out["basis"]["score"]["pd"] >= 0.10
    assert out["decision"] == "referred" and out["rules_fired"] == ["R-BAND-B", "LEND-PD-ELEVATED", "LEND-APPROVE"]
    assert store.list_approvals(run_id=handle.id) == [], "a referral needs no approval"


async def test_amount_above_the_mandate_is_referred(client, store, task_queue, worker, registry) -> None:
    payload = application("L-3", credit_score=800, annual_income=300000, amount=600000)
    handle = await runs.start_run(client, store, task_queue, "loan_triage", payload, REQUESTER)
    out = (await asyncio.wait_for(handle.result(), 60)).outcome
    assert out["decision"] == "referred" and "LEND-MANDATE" in out["rules_fired"]


async def test_without_a_registered_model_a_band_a_application_is_referred_and_the_outcome_says_so(
    client, store, task_queue, worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_HOME", str(tmp_path))
    monkeypatch.delenv("STEWARD_CREDIT_MODEL_URI", raising=False)
    scoring._LOADED.clear()
    handle = await runs.start_run(client, store, task_queue, "loan_triage", application("L-4"), REQUESTER)
    out = (await asyncio.wait_for(handle.result(), 60)).outcome
    # LP-3.4 fails safe: without the model nothing is approved that would not be approved with it.
    assert out["decision"] == "referred" and out["rules_fired"] == ["R-BAND-A", "LEND-NO-SCORE", "LEND-APPROVE"]
    assert store.list_approvals(run_id=handle.id) == [], "a referral needs no approval"
    assert out["basis"]["score"]["status"] == "unavailable"
    assert "lending-policy#LP-3.4" in [c["citation"] for c in out["citations"]]
