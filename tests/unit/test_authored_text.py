"""Only a model's tokens are tokens: the loan triage nodes, run as activities with a fake chat model, emit
``token`` events for the model's explanation alone; what the rules and templates write arrives as one
``message`` event carrying its author, and the outcome's ``texts`` say who wrote what (issue 12, item 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from temporalio.testing import ActivityEnvironment

from agents._llm import configure_prompt_registry, prompt_ref, reset_prompt_registry
from agents.context import set_chat_model_factory, set_event_sink
from agents.loan_triage.graph import assess, intake, summarize
from agents.loan_triage.prompts import EXPLAIN
from guards.outcome import Outcome
from server.streaming import StreamMapper
from tests.conftest import GOOD_APPLICATION

MODEL_ANSWER = "Band A and a low probability of default: the lending rules support approval."
APPLICATION = dict(GOOD_APPLICATION["application"])
"""Band A with the affordability fields the lending rules need (DSTI 33 %, LP-3.6)."""


class RecordingSink:
    def __init__(self) -> None:
        self.log: list[tuple[str, dict[str, Any]]] = []

    def events(self, run_id: str, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.log.extend((t, d) for _, t, d in events)

    def node(self, run_id: str, node: str, task_key: str, attempt: int, status: str, event: Any = None) -> None:
        if event is not None:
            self.log.append((event[1], event[2]))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [d for t, d in self.log if t == type_]


@dataclass
class Runtime:
    context: dict[str, Any]


@pytest.fixture
def sink() -> Iterator[RecordingSink]:
    from agents.context import _NullSink

    recording = RecordingSink()
    set_event_sink(recording)
    configure_prompt_registry(None)  # packaged prompts: this test is about authorship, not the registry
    yield recording
    set_event_sink(_NullSink())
    set_chat_model_factory(None)
    reset_prompt_registry()


async def _run_loan_triage() -> dict[str, Any]:
    """intake -> assess -> (credit check) -> assess -> (approve) -> assess -> (notice) -> assess -> summarize,
    each node as an activity."""
    env = ActivityEnvironment()
    rt: Any = Runtime({"run_id": "r1", "assistant_id": "loan_triage", "thread_id": "t1", "tenant": "default"})
    state: dict[str, Any] = {"application": APPLICATION}
    state.update(await env.run(intake, state, rt))
    state.update(await env.run(assess, state, rt))
    assert [c["name"] for c in state["pending_tool_calls"]] == ["credit_check"]
    # A champion's PD is needed: without one the lending rules refer (LP-3.4, fail safe).
    model = {"status": "scored", "pd": 0.02, "version": "1"}
    credit = {"score_band": "A", "rules_fired": ["R-BAND-A"], "ruleset_version": "1", "model": model}
    state["tool_results"] = [{"run_id": "r1", "tool": "credit_check", "status": "executed", "output": credit}]
    # The decision runs (approved by a person), then the notice of what ran (LP-6.1), each after its own assess.
    for _ in range(3):
        state.update(await env.run(assess, state, rt))
        proposed = state["pending_tool_calls"]
        if not proposed:
            break
        state["tool_results"] += [
            {
                "run_id": "r1",
                "tool": c["name"],
                "status": "executed",
                "args": c["args"],
                "approval_id": f"apr-{c['name']}",
                "decided_by": "bob",
                "output": {"action": {"tool": c["name"], "adapter": "simulated", "delivery": "simulated"}},
            }
            for c in proposed
        ]
    out = await env.run(summarize, state, rt)
    return dict(out["outcome"])


async def test_tokens_come_only_from_the_model_and_rules_text_is_one_authored_message(sink: RecordingSink) -> None:
    set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=MODEL_ANSWER)])))
    outcome = await _run_loan_triage()

    tokens = sink.of("token")
    assert tokens, "the model's explanation streams as tokens"
    assert all(t["by"] == "model" and t["node"] == "summarize" for t in tokens)
    assert "".join(t["text"] for t in tokens) == MODEL_ANSWER
    # What the rules wrote in assess is not in any token, and arrives whole, once, with its author.
    rules = sink.of("message")
    assert len(rules) >= 2 and {(m["node"], m["by"]) for m in rules} == {("assess", "rules")}
    assert rules[0]["text"] == "A credit check is needed before any decision."
    assert not any("credit check" in t["text"] for t in tokens)

    typed = Outcome.model_validate({k: outcome[k] for k in Outcome.model_fields})
    assert [(t.by, t.node) for t in typed.texts] == [("model", "summarize"), ("rules", "summarize")]
    assert typed.texts[0].text == MODEL_ANSWER and typed.texts[0].prompt == prompt_ref("loan_triage.explain", EXPLAIN)
    assert typed.prompt_versions == [prompt_ref("loan_triage.explain", EXPLAIN)]
    assert outcome["explanation_by"] == "model" and outcome["decision"] == "approved"
    assert [(a.tool, a.status, a.adapter, a.delivery) for a in typed.actions] == [
        ("approve_loan", "approved", "simulated", "simulated"),
        ("notify_customer", "approved", "simulated", "simulated"),
    ]


async def test_without_a_model_nothing_streams_as_tokens_and_the_template_says_so(sink: RecordingSink) -> None:
    outcome = await _run_loan_triage()
    assert sink.of("token") == []
    explanation = [m for m in sink.of("message") if m["node"] == "summarize"]
    assert [m["by"] for m in explanation] == ["template:loan_triage.explanation"]
    assert outcome["texts"][0]["by"] == "template:loan_triage.explanation" and outcome["texts"][0]["prompt"] is None
    assert outcome["prompt_versions"] == [] and outcome["explanation_by"] == "template"


def test_sse_labels_only_model_tokens_as_chat_model_chunks() -> None:
    run = {"run_id": "r1", "thread_id": "t1", "assistant_id": "loan_triage", "input": {}}
    mapper = StreamMapper(run=run, modes=("messages-tuple", "events"), final_state=dict)
    said = {"node": "assess", "text": "R.", "by": "rules"}
    rules = mapper.feed({"type": "message", "seq": 1, "ts": 0.0, "data": said})
    streamed = {"node": "summarize", "text": "M", "by": "model"}
    token = mapper.feed({"type": "token", "seq": 2, "ts": 0.0, "data": streamed})
    [(mode, (message, meta))] = [f for f in rules if f[0] == "messages"]
    assert message["type"] == "ai" and message["content"] == "R." and meta["by"] == "rules"
    assert message["response_metadata"] == {"by": "rules"}
    assert not any(f[1].get("event") == "on_chat_model_stream" for f in rules if f[0] == "events")
    [(_, (chunk, _meta))] = [f for f in token if f[0] == "messages"]
    assert chunk["type"] == "AIMessageChunk" and chunk["content"] == "M"
