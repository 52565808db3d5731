"""The three agents end to end with the real local model (Gemma 3 270M behind Steward's model server, real
HTTP): the model reads and explains, the rules decide, and whatever the small model says cannot invent a fact.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.context import set_chat_model_factory
from guards.types import ApprovalDecision, Principal
from runtime import runs
from tests.conftest import GOOD_APPLICATION, pending_approvals
from tests.integration import deciding
from tests.integration.carrier_portal import CarrierPortal, sources
from tests.integration.test_llm_server import MODEL, ModelServer, start_model_server
from tools import scraper

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    from runtime.llm.breaker import reset_breakers
    from runtime.llm.chat_model import StewardChatModel

    home = tmp_path_factory.mktemp("llm-home")
    server = start_model_server(home, home / "server.log")
    reset_breakers()
    set_chat_model_factory(lambda: StewardChatModel(base_url=server.base_url, model=MODEL, timeout_s=60))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEWARD_HOME", str(home))
        yield server
    set_chat_model_factory(None)
    reset_breakers()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()


async def run(client, store, task_queue, assistant: str, payload: dict[str, Any], approvals: int) -> Any:
    started = time.perf_counter()
    handle = await runs.start_run(client, store, task_queue, assistant, payload, REQUESTER)
    if approvals:
        for row in await pending_approvals(store, handle.id, approvals, timeout=120):
            await deciding.decide(
                client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=APPROVER)
            )
    result = await asyncio.wait_for(handle.result(), 180)
    TIMINGS[assistant] = round(time.perf_counter() - started, 2)
    return handle, result.outcome


async def test_claims_agent_reads_the_carrier_page_with_the_model(
    client, store, task_queue, worker, model_server: ModelServer
) -> None:
    with CarrierPortal(min_gap_s=0.0) as portal:
        scraper.configure_sources(sources(portal.base_url, min_interval_s=0.0))
        try:
            payload = {
                "claim": {
                    "claim_id": "RM-1",
                    "policy_id": "CP-1001",
                    "claimant_id": "PH-1001",
                    "shipment": {"carrier": "portal", "tracking_number": "SS-1001"},
                    "currency": "EUR",
                    "claim_type": "loss",
                    "amount_claimed": 800,
                    "declared_value": 900,
                    "incident_on": "2026-10-04",
                    "reported_on": "2026-10-05",
                }
            }
            _, out = await run(client, store, task_queue, "claims", payload, approvals=0)
        finally:
            scraper.configure_sources(None)
        page = portal.bodies["/track/SS-1001"].decode()
    assert out["model"]["status"] == "answered" and out["model"]["model"] == MODEL
    for fact in out["evidence"]:
        assert fact["extracted_by"] == "model"
        if isinstance(fact["value"], str) and fact["field"] != "status":
            assert fact["value"] in page, f"{fact['field']}={fact['value']!r} is not on the page"
    # Whatever the model read, the rules decided, and a loss on a delivered shipment is never paid unreviewed.
    assert out["decision"] in ("referred", "paid-rejected") and out["decided_by"] == "rules"
    assert out["rules_fired"], out


async def test_kyc_agent_explains_a_true_positive_with_the_model(
    client, store, task_queue, worker, model_server: ModelServer
) -> None:
    payload = {
        "case": {
            "case_id": "RM-2",
            "customer": {
                "customer_id": "C-RM-2",
                "name": "Victor Morozov",
                "type": "person",
                "dob": "1961-03-14",
                "country": "RU",
            },
            "documents_provided": ["photo_id", "proof_of_address"],
        }
    }
    handle, out = await run(client, store, task_queue, "kyc_review", payload, approvals=1)
    assert out["decision"] == "escalated" and out["decided_by"] == "bob"
    assert out["explanation_by"] == "model" and out["explanation"] and out["model"]["status"] == "answered"
    tokens = [e for e in store.events_after(handle.id) if e["type"] == "token" and e["data"]["node"] == "explain"]
    assert tokens, "the explanation streamed into the event log"


async def test_loan_triage_explains_its_decision_with_the_model(
    client, store, task_queue, worker, model_server: ModelServer, tmp_path: Path
) -> None:
    _, out = await run(
        client, store, task_queue, "loan_triage", GOOD_APPLICATION, approvals=1
    )  # the loan; its notice follows without a person (LP-6.1)
    assert out["decision"] == "approved" and out["explanation_by"] == "model" and out["explanation"]
    assert out["rules_fired"][-1] == "LEND-APPROVE"
    print("agent run seconds with the real model:", TIMINGS)
