"""The KYC review agent on the real runtime: real screening, real rules, real retrieval, human approvals.

The rules decide; the model only explains (a template when there is no model or its circuit is open).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.context import set_chat_model_factory
from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.errors import UserError
from tests.conftest import pending_approvals
from tests.integration import deciding

REQUESTER = Principal(id="alice", roles=["operator"])
ANALYST = Principal(id="bob", roles=["approver"])
ALL_DOCS = ["photo_id", "proof_of_address"]
DATED = [{"type": "photo_id", "expires_on": "2031-01-31"}, {"type": "proof_of_address", "issued_on": "2026-10-01"}]


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Retrieval indexes under a home of its own, never the developer's ``.steward``."""
    path = tmp_path_factory.mktemp("steward-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEWARD_HOME", str(path))
        yield path


def person_case(case_id: str, name: str, dob: str | None, country: str = "DE", **extra: Any) -> dict[str, Any]:
    customer = {"customer_id": f"C-{case_id}", "name": name, "type": "person", "country": country}
    if dob:
        customer["dob"] = dob
    body = {"case_id": case_id, "customer": customer, "documents": DATED, "review_date": "2026-11-25"}
    return {"case": {**body, **extra}}


async def run_to_end(client, store, task_queue, payload, decide: dict[str, str] | None = None) -> Any:
    handle = await runs.start_run(client, store, task_queue, "kyc_review", payload, REQUESTER)
    if decide:
        rows = await pending_approvals(store, handle.id, len(decide))
        for row in rows:
            await deciding.decide(
                client,
                store,
                ApprovalDecision(approval_id=row["approval_id"], action=decide[row["tool"]], principal=ANALYST),
            )
    return handle, await asyncio.wait_for(handle.result(), 120)


def tools_run(store: Any, run_id: str) -> list[str]:
    return sorted(t["tool"] for t in store.tool_executions(run_id))


async def test_clean_customer_is_cleared_straight_through(client, store, task_queue, worker) -> None:
    handle, result = await run_to_end(client, store, task_queue, person_case("K-1", "Anna Schmidt", "1985-02-02"))
    out = result.outcome
    assert out["decision"] == "cleared" and out["decided_by"] == "rules"
    assert out["rules_fired"] == ["KYC-C-CLEAR"] and out["matches"] == []
    assert out["citations"][0]["citation"] == "kyc-procedure#KYC-5.1" and out["citations"][0]["text"]
    assert out["basis"]["sanctions_list"].startswith("steward-synthetic.ftm.jsonl@")
    assert out["explanation_by"] == "template" and "screen clear" in out["explanation"]
    assert tools_run(store, handle.id) == ["approve_onboarding", "screen_sanctions"]
    assert store.list_approvals(run_id=handle.id) == []  # policy stp-kyc-low-risk-person (KYC-7.1)


async def test_true_positive_is_explained_and_escalated_after_an_analyst_confirms(
    client, store, task_queue, worker
) -> None:
    payload = person_case("K-2", "Victor Morozov", "1961-03-14", country="RU")
    handle = await runs.start_run(client, store, task_queue, "kyc_review", payload, REQUESTER)
    (row,) = await pending_approvals(store, handle.id, 1)
    assert row["tool"] == "escalate_case" and row["risk"] == "medium"
    assert row["args"]["team"] == "financial_crime_compliance" and row["args"]["priority"] == "high"
    assert "KYC-M-CONFIRMED-DOB" in row["args"]["rule_ids"]
    assert "escalate_case" not in tools_run(store, handle.id), "nothing escalates before the analyst confirms"
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=ANALYST)
    )
    out = (await handle.result()).outcome
    assert out["decision"] == "escalated" and out["decided_by"] == "bob"
    (match,) = out["matches"]
    assert match["entry_id"] == "SL-0001" and match["score"] >= 90 and match["classification"] == "confirmed"
    assert match["rule_id"] == "KYC-M-CONFIRMED-DOB" and match["reasons"]
    assert {"KYC-C-CONFIRMED-MATCH", "KYC-M-CONFIRMED-DOB"} <= set(out["rules_fired"])
    cites = [c["citation"] for c in out["citations"]]
    assert "kyc-procedure#KYC-5.3" in cites and "kyc-procedure#KYC-3.3" in cites
    assert out["tools"] == {"escalate_case": "executed", "search_policy": "executed"}
    assert "Viktor Aleksandrovich Morozov" in out["explanation"] and "date of birth match" in out["explanation"]
    assert tools_run(store, handle.id) == ["escalate_case", "screen_sanctions", "search_policy"]


async def test_company_with_unresolved_director_match_and_missing_documents(client, store, task_queue, worker) -> None:
    payload = {
        "case": {
            "case_id": "K-3",
            "customer": {
                "customer_id": "C-3",
                "name": "Blue Harbour Trading GmbH",
                "type": "organisation",
                "country": "DE",
            },
            "related_parties": [
                {"party_id": "D-1", "name": "Ibrahim Yousef Haddad", "role": "director"},
                {"party_id": "D-2", "name": "Greta Lindqvist", "role": "beneficial_owner", "dob": "1979-04-04"},
            ],
            "documents_provided": ["registry_extract"],
        }
    }
    handle = await runs.start_run(client, store, task_queue, "kyc_review", payload, REQUESTER)
    rows = {r["tool"]: r for r in await pending_approvals(store, handle.id, 2)}
    assert set(rows) == {"escalate_case", "request_documents"}, "both wait for the analyst at the same time"
    assert rows["escalate_case"]["args"]["team"] == "senior_kyc_analysts"
    request = rows["request_documents"]["args"]
    assert request["documents"] == ["ubo_declaration", "director_ids"]
    assert "sanction" not in request["message"].lower() and "screen" not in request["message"].lower()
    await deciding.decide(
        client,
        store,
        ApprovalDecision(approval_id=rows["escalate_case"]["approval_id"], action="approve", principal=ANALYST),
    )
    await deciding.decide(
        client,
        store,
        ApprovalDecision(
            approval_id=rows["request_documents"]["approval_id"], action="reject", principal=ANALYST, comment="call"
        ),
    )
    out = (await handle.result()).outcome
    assert out["decision"] == "review" and out["missing_documents"] == ["ubo_declaration", "director_ids"]
    assert {"KYC-C-POSSIBLE-MATCH", "KYC-C-DOCUMENTS-MISSING", "KYC-M-STRONG-UNRESOLVED"} <= set(out["rules_fired"])
    assert out["tools"]["request_documents"] == "rejected"
    assert "request_documents" not in tools_run(store, handle.id)
    assert sum(1 for t in store.tool_executions(handle.id) if t["tool"] == "screen_sanctions") == 3


async def test_incomplete_case_says_what_is_missing_and_screens_nothing(client, store, task_queue, worker) -> None:
    handle, result = await run_to_end(client, store, task_queue, person_case("K-4", "Anna Schmidt", None))
    assert result.outcome["decision"] == "incomplete" and result.outcome["missing"] == ["case.customer.dob"]
    assert tools_run(store, handle.id) == []


async def test_malformed_case_is_refused_naming_the_field(client, store, task_queue) -> None:
    bad = person_case("K-5", "Anna Schmidt", "1985-02-02")
    bad["case"]["customer"]["type"] = "robot"
    with pytest.raises(UserError, match=r"input.case.customer.type"):
        await runs.start_run(client, store, task_queue, "kyc_review", bad, REQUESTER)


async def test_open_circuit_falls_back_to_the_template_and_the_log_says_so(client, store, task_queue, worker) -> None:
    from runtime.llm.breaker import reset_breakers
    from runtime.llm.chat_model import StewardChatModel

    reset_breakers()
    # Nothing listens on port 9: the breaker opens and the explanation comes from the template.
    set_chat_model_factory(
        lambda: StewardChatModel(base_url="http://127.0.0.1:9/v1", model="dead", max_retries=0, failure_threshold=1)
    )
    try:
        payload = person_case("K-6", "Darya Petrenko", "1990-01-01", country="BY")
        handle, result = await run_to_end(client, store, task_queue, payload, {"escalate_case": "approve"})
    finally:
        set_chat_model_factory(None)
        reset_breakers()
    out = result.outcome
    assert out["decision"] == "escalated", "the rules decided; the model's absence changed nothing"
    assert out["explanation_by"] == "template" and out["model"]["status"] == "fallback"
    assert "ConnectError" in out["model"]["reason"] or "ModelUnavailable" in out["model"]["reason"]
    events = [e for e in store.events_after(handle.id) if e["type"] == "model_fallback"]
    assert events and events[0]["data"]["node"] == "explain"


async def test_listed_sole_proprietor_in_cyrillic_and_a_pep_director_go_to_an_analyst(
    client, store, task_queue, worker
) -> None:
    """Issue 16: a sole proprietor matching a listed alias was cleared as an organisation; a PEP director and an
    owner in a high-risk country were ignored. Both now reach an analyst, and nothing clears without one."""
    sole = person_case("K-7", "Олександр Бондаренко", "1980-04-04", country="PL")
    sole["case"]["customer"].update(type="sole_proprietor", trading_name="Atelier Nord")
    sole["case"]["documents"] = [*DATED, {"type": "registry_extract", "issued_on": "2026-10-20"}]
    company = {
        "case": {
            "case_id": "K-8",
            "review_date": "2026-11-25",
            "customer": {"customer_id": "C-8", "name": "Meridian Freight BV", "type": "organisation", "country": "NL"},
            "related_parties": [
                {"party_id": "D-8", "name": "Sofie Jansen", "role": "director", "dob": "1971-02-03", "pep": True},
                {"party_id": "U-8", "name": "Pieter de Wit", "role": "beneficial_owner", "country": "IR"},
            ],
            "documents_provided": ["registry_extract", "ubo_declaration", "director_ids"],
            "documents": [{"type": "source_of_funds"}, {"type": "source_of_wealth"}],
        }
    }
    h1 = await runs.start_run(client, store, task_queue, "kyc_review", sole, REQUESTER)
    h2 = await runs.start_run(client, store, task_queue, "kyc_review", company, REQUESTER)
    (r1,) = await pending_approvals(store, h1.id, 1)
    (r2,) = await pending_approvals(store, h2.id, 1)
    assert r1["tool"] == "escalate_case" and r1["args"]["team"] == "financial_crime_compliance"
    assert r2["tool"] == "escalate_case" and "politically exposed: D-8" in r2["args"]["summary"]
    assert "high-risk jurisdiction: U-8" in r2["args"]["summary"]
    for row in (r1, r2):
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=ANALYST)
        )
    out1, out2 = (await h1.result()).outcome, (await h2.result()).outcome
    assert out1["decision"] == "escalated" and out1["matches"][0]["entry_id"] == "SL-0036"
    assert out1["matches"][0]["party"] == "Олександр Бондаренко" and out1["matches"][0]["classification"] == "confirmed"
    assert out2["decision"] == "review" and {"KYC-C-PEP", "KYC-C-EDD"} <= set(out2["rules_fired"])
    assert "approve_onboarding" not in tools_run(store, h1.id) + tools_run(store, h2.id)
    assert sum(1 for t in store.tool_executions(h1.id) if t["tool"] == "screen_sanctions") == 2  # person + trading
