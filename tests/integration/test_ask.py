"""Follow-up questions about a run, on the real path: HTTP API, real Temporal dev server, the real loan triage
graph and its lending rules. The run is a DSTI referral (handbook case LH-017, lending policy LP-3.6: a debt
service to income ratio above 0.35 is referred to an underwriter); the questions are answered from its record
with citations, kept with the thread and noted in the audit trail. The model that phrases answers is a
scripted fake, so the test can show both a grounded answer kept and an invented one withdrawn.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from agents.context import set_chat_model_factory

DSTI_REFERRAL = {
    "application": {
        "application_id": "LH-017",
        "applicant_id": "P-LH-017",
        "amount": 12000,
        "annual_income": 72000,
        "monthly_income": 6000,
        "credit_score": 765,
        "purpose": "car",
        "term_months": 48,
        "annual_rate": 0.069,
        "monthly_obligations": 1843.2,
        "employment_status": "employed",
        "age": 41,
    }
}


@dataclass
class Served:
    url: str
    key: str
    store: Any


@pytest.fixture
async def served(client, store, task_queue, tmp_path: Path) -> AsyncIterator[Served]:  # type: ignore[no-untyped-def]
    from agents.registry import list_assistants
    from guards.policy import load_policy_engine
    from runtime.settings import Settings
    from runtime.worker import build_worker
    from server.app import create_app
    from server.testing import serve_app

    set_chat_model_factory(None)
    async with build_worker(client, task_queue, store, load_policy_engine(), assistants=list_assistants()):
        app = create_app(
            Settings(home=tmp_path, task_queue=task_queue, ask_model_phrasing=True), store=store, client=client
        )
        async with serve_app(app) as running:
            yield Served(running.base_url, store.create_api_key("olivia", "default", ["operator"])[1], store)
    set_chat_model_factory(None)


async def _finished_referral(http: httpx.AsyncClient) -> tuple[str, str]:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    run = (await http.post(f"/threads/{tid}/runs", json={"assistant_id": "loan_triage", "input": DSTI_REFERRAL})).json()
    for _ in range(1200):
        got = (await http.get(f"/threads/{tid}/runs/{run['run_id']}")).json()
        if got["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.1)
    assert got["status"] == "success", got
    assert got["outcome"]["decision"] == "referred"
    return tid, run["run_id"]


def _sse(body: str) -> list[tuple[str, Any]]:
    frames = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        event = next((ln[7:] for ln in block.split("\n") if ln.startswith("event: ")), None)
        data = "\n".join(ln[6:] for ln in block.split("\n") if ln.startswith("data: "))
        if event:
            frames.append((event, json.loads(data) if data else None))
    return frames


async def test_why_which_rule_who_and_policy_are_answered_from_the_record_with_citations(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, headers={"X-Api-Key": served.key}, timeout=60) as http:
        tid, run_id = await _finished_referral(http)

        why = (await http.post(f"/threads/{tid}/ask", json={"question": "why was it referred?"})).json()
        assert why["found"] and why["by"] == "rules" and why["run_id"] == run_id
        refs = [c["ref"] for c in why["citations"]]
        assert refs[0] == "outcome.decision"
        fired = [c for c in why["citations"] if c["ref"].startswith("outcome.basis.rules_fired")]
        assert fired and any("DSTI" in c["value"] for c in fired), why  # LP-3.6: the affordability line
        for c in why["citations"]:
            assert f"[{c['n']}]" in why["text"]

        rule = (await http.post(f"/threads/{tid}/ask", json={"question": "which rule fired?"})).json()
        assert any("DSTI" in json.dumps(c["value"]) for c in rule["citations"])

        policy = (
            await http.post(f"/threads/{tid}/ask", json={"question": "what does the policy say about this?"})
        ).json()
        passages = [c for c in policy["citations"] if c["kind"] == "policy"]
        assert passages and all(c["ref"].startswith("policy:lending-policy#") and c["excerpt"] for c in passages)

        who = (await http.post(f"/threads/{tid}/ask", json={"question": "who approved it, and when?"})).json()
        # A referral by the rules needs no approver (LP-4.2): the record says so, and that is the answer.
        assert who["found"] and who["citations"][0]["ref"] == "events[type=approval_requested]"

        unknown = (
            await http.post(f"/threads/{tid}/ask", json={"question": "what is the applicant's favourite colour?"})
        ).json()
        assert unknown["found"] is False and unknown["text"] == "I can't find that in the record."

        kept = (await http.get(f"/threads/{tid}/answers")).json()
        assert [a["question"] for a in kept] == [
            "why was it referred?",
            "which rule fired?",
            "what does the policy say about this?",
            "who approved it, and when?",
            "what is the applicant's favourite colour?",
        ]
        audit = [r for r in served.store.audit_records(run_id=run_id) if r["action"] == "record_question_answered"]
        assert len(audit) == 5 and audit[0]["actor"] == "olivia"
        run = (await http.get(f"/threads/{tid}/runs/{run_id}")).json()
        assert run["outcome"]["decision"] == "referred", "asking changes nothing"


async def test_streamed_answer_tokens_then_a_kept_or_withdrawn_answer(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, headers={"X-Api-Key": served.key}, timeout=60) as http:
        tid, _ = await _finished_referral(http)
        # The first answer cites no fact by number, so it is checked against every fact given; the second
        # invents an approver, a date and a decision.
        answers = iter(["The rule that fired is LEND-DSTI-REFER.", "It was approved by Arthur on 2026-11-30 [1]."])
        set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=next(answers))])))

        got = await http.post(f"/threads/{tid}/ask/stream", json={"question": "which rule fired?"})
        frames = _sse(got.text)
        kinds = [k for k, _ in frames]
        assert kinds[0] == "token" and kinds[-2:] == ["answer", "end"], kinds
        streamed = "".join(d["text"] for k, d in frames if k == "token")
        final = frames[-2][1]
        assert final["by"] == "model" and final["withdrawn"] is None, final
        assert final["text"].startswith(streamed.strip()) and "[1]" in final["text"]

        got = await http.post(f"/threads/{tid}/ask/stream", json={"question": "which rule fired?"})
        final = _sse(got.text)[-2][1]
        assert final["by"] == "rules" and "not in the record" in final["withdrawn"], final
        assert "Arthur" not in final["text"] and "LEND-" in final["text"]


async def test_bad_questions_are_4xx_naming_the_field(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, headers={"X-Api-Key": served.key}, timeout=60) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        empty = await http.post(f"/threads/{tid}/ask", json={"question": ""})
        assert empty.status_code == 422 and "question" in empty.text
        long = await http.post(f"/threads/{tid}/ask", json={"question": "x" * 1001})
        assert long.status_code == 422 and "question" in long.text
        extra = await http.post(f"/threads/{tid}/ask", json={"question": "why?", "approve": True})
        assert extra.status_code == 422 and "approve" in extra.text
        no_run = await http.post(f"/threads/{tid}/ask", json={"question": "why?"})
        assert no_run.status_code == 404 and "no run" in no_run.text
        assert (await http.post("/threads/nope/ask", json={"question": "why?"})).status_code == 404
        assert (await http.post("/threads/nope/ask/stream", json={"question": "why?"})).status_code == 404
