"""Answers about a run from its record: fact selection, grounding of a model's answer, withdrawal, not-found.

The record here is written by hand in the shape the store returns (a referred loan, the rule that fired, the
passage it cites, an approval decided by a person); the model is a scripted fake, so what is under test is
what Steward does with its words.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from runtime.ask import NOT_FOUND, Record, answer, claims_of, record_facts, select_facts, ungrounded


def _record() -> Record:
    run = {
        "run_id": "run-1",
        "thread_id": "t-1",
        "assistant_id": "loan_triage",
        "tenant": "acme",
        "requester": "olivia",
        "status": "success",
        "created_at": 1_764_000_000.0,
        "input": {"application": {"application_id": "A-9", "amount": 12000, "annual_income": 80000}},
        "output": {
            "decision": "referred",
            "decided_by": "rules",
            "band": "B",
            "basis": {
                "rules": ["lending@2026.12"],
                "rules_fired": ["LEND-DSTI-REFER"],
                "score": {"pd": 0.04},
                "policy_rules": [],
                "citations": ["lending-policy#LP-3.6"],
            },
            "actions": [
                {"tool": "refer_to_underwriter", "status": "executed", "adapter": "simulated", "delivery": None},
            ],
            "texts": [],
        },
    }
    events = [
        {"seq": 1, "type": "run_started", "data": {"requester": "olivia"}, "ts": 1.0},
        {"seq": 7, "type": "approval_requested", "data": {"approval_id": "ap-1", "tool": "notify_customer"}, "ts": 2},
        {"seq": 9, "type": "approval_decided", "data": {"approval_id": "ap-1", "status": "approved"}, "ts": 3},
    ]
    approvals = [
        {
            "approval_id": "ap-1",
            "tool": "notify_customer",
            "required_role": "approver",
            "rule_id": "notify-needs-approver",
            "policy_version": "2026.12",
            "reason": "customer communication",
            "created_at": 1_764_000_100.0,
            "deadline_at": None,
            "decided_by": "arthur",
            "decided_at": 1_764_000_200.0,
            "status": "approved",
            "action": "approve",
            "comment": "fine",
        }
    ]
    return Record(run=run, events=events, approvals=approvals)


def _refs(question: str) -> list[str]:
    return [f.ref for f in select_facts(question, record_facts(_record()))]


def test_why_is_answered_by_the_decision_the_rule_that_fired_and_its_passage() -> None:
    refs = _refs("why was it referred?")
    assert refs[0] == "outcome.decision"
    assert "outcome.basis.rules_fired[0]" in refs and "policy:lending-policy#LP-3.6" in refs


def test_who_approved_cites_the_decision_event_with_its_seq() -> None:
    facts = select_facts("who approved it, and when?", record_facts(_record()))
    decided = next(f for f in facts if "arthur" in f.text)
    assert decided.ref == "event:9" and decided.seq == 9 and decided.kind == "event"


def test_questions_about_what_the_record_does_not_hold_find_nothing() -> None:
    assert _refs("what is the applicant's favourite colour?") == []
    assert _refs("what is the weather in Paris today?") == []


async def test_without_a_model_the_answer_is_the_facts_by_rules_with_citations() -> None:
    out = await answer(_record(), "which rule fired?", asked_by="olivia")
    assert out["by"] == "rules" and out["found"] is True
    assert "LEND-DSTI-REFER" in out["text"] and "[1]" in out["text"]
    assert out["citations"][0]["ref"] == "outcome.basis.rules_fired[0]"
    nothing = await answer(_record(), "what is the weather in Paris today?", asked_by="olivia")
    assert nothing["text"] == NOT_FOUND and nothing["found"] is False and nothing["citations"] == []


def _model(text: str) -> Any:
    return GenericFakeChatModel(messages=iter([AIMessage(content=text)]))


async def test_a_grounded_model_answer_is_kept_and_its_tokens_stream() -> None:
    tokens: list[str] = []
    out = await answer(
        _record(),
        "which rule fired?",
        asked_by="olivia",
        model=_model("Rule LEND-DSTI-REFER fired [1]."),
        on_token=tokens.append,
    )
    assert out["by"] == "model" and out["withdrawn"] is None
    assert "".join(tokens).strip() == "Rule LEND-DSTI-REFER fired [1]."


@pytest.mark.parametrize(
    "invented",
    [
        "The loan was approved by Arthur [1].",  # a decision the record does not hold
        "Rule LEND-LTV-CAP fired [1].",  # a rule that did not fire
        "Rule LEND-DSTI-REFER fired because the DSTI was 0.55 [1].",  # a number nowhere in the record
        # a small base model repeating its instructions: no checkable token, but no fact says any of it
        "Answer the question about a case in one or two short sentences, using only the numbered facts.",
        "Rule LEND-DSTI-REFER fired [1]. The applicant's phone number was used to verify the employer.",
        "Rule LEND-DSTI-REFER fired [1].\nQuestion: which rule fired?\nAnswer: LEND-DSTI-REFER",
        # what gemma3-270m wrote in the follow-up bench: the facts list again, numbers that were not given
        "[1] Rule LEND-DSTI-REFER fired.",
        "Rule LEND-DSTI-REFER fired [9].",
        "Rule LEND-DSTI-REFER fired. Rule LEND-DSTI-REFER fired.",
        # what smollm2-135m wrote: every word in the record, but no sentence
        "The rules fired rule LEND-DSTI-REFER fired rule rule [1].",
    ],
)
async def test_a_model_answer_with_a_claim_not_in_the_record_is_withdrawn(invented: str) -> None:
    out = await answer(_record(), "which rule fired?", asked_by="olivia", model=_model(invented))
    assert out["by"] == "rules" and out["withdrawn"]
    assert out["text"].startswith("Rule LEND-DSTI-REFER fired.")


def test_claims_and_grounding() -> None:
    assert {"LEND-DSTI-REFER", "0.55"} <= set(claims_of("Rule LEND-DSTI-REFER fired at 0.55."))
    facts = select_facts("which rule fired?", record_facts(_record()))
    assert ungrounded("Rule LEND-DSTI-REFER fired.", facts) == []
    assert ungrounded("Rule LEND-DSTI-REFER fired for Meridian.", facts) == ["Meridian"]
