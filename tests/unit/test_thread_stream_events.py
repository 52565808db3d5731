"""The v3 protocol events of ``threads.stream`` (``server.routes.thread_stream``) folded from a run's event log:
a model's tokens become one chat-model message that langgraph-sdk's own decoder reassembles; rule-written text
stays off the messages channel; tools and interrupts get their protocol events; ``since`` resumes exactly."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_model_stream import ChatModelStream
from langgraph_sdk.stream.decoders import MessagesDecoder

from runtime.store import Store
from server.routes.thread_stream import RUN_SPAN, EventStreamRequest, protocol_events

ALL = ["values", "updates", "messages", "tools", "lifecycle", "input", "custom"]


def seed(store: Store) -> None:
    store.create_thread("t-1", "acme")
    store.create_run("run-1", "t-1", "loan_triage", "acme", "olivia", {"application": {"id": "A-1"}})
    store.append_events(
        "run-1",
        [
            ("start", "run_started", {}),
            ("n1", "node_started", {"node": "assess"}),
            ("k1", "token", {"node": "assess", "text": "Credit "}),
            ("k2", "token", {"node": "assess", "text": "band A"}),
            ("n1f", "node_finished", {"node": "assess", "update_keys": ["assessment"]}),
            ("m1", "message", {"node": "explain", "text": "Approved by rule R1.", "by": "rules"}),
            ("t1", "tool_started", {"tool_call_id": "c-1", "tool": "score", "args": {"x": 1}}),
            ("t1f", "tool_finished", {"tool_call_id": "c-1", "tool": "score", "result": {"score": 0.9}}),
            ("q1", "interrupt", {"interrupt_id": "i-1", "value": {"question": "ok?"}}),
            ("q1a", "interrupt_answered", {"interrupt_id": "i-1"}),
            ("end", "run_finished", {"status": "error", "outcome": None, "error": "boom"}),
        ],
    )


async def read(store: Store, **body: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async for event in protocol_events(store, "t-1", EventStreamRequest(channels=ALL, **body), poll_s=0.01):
        out.append(event)
        if event["method"] == "lifecycle" and event["params"]["data"]["event"] in ("completed", "failed"):
            return out
    raise AssertionError("the stream ended before the run")


async def test_tokens_are_one_message_the_sdk_decoder_reassembles(store: Store) -> None:
    seed(store)
    events = await read(store)
    decoder = MessagesDecoder(namespace=[], stream_factory=lambda **kw: ChatModelStream(**kw))
    messages = [m for e in events for m in decoder.feed(e)]
    assert len(messages) == 1 and messages[0].node == "assess" and messages[0].done
    assert messages[0].output.text == "Credit band A"
    custom = [e["params"]["data"] for e in events if e["method"] == "custom"]
    assert {"type": "message", "by": "rules"}.items() <= {"type": custom[5]["type"], **custom[5]["data"]}.items()
    assert "Approved by rule R1." not in str([e for e in events if e["method"] == "messages"])


async def test_tools_interrupts_and_the_end_get_their_protocol_events(store: Store) -> None:
    seed(store)
    events = await read(store)
    tools = [e["params"]["data"] for e in events if e["method"] == "tools"]
    assert tools == [
        {"event": "tool-started", "tool_call_id": "c-1", "tool_name": "score", "input": {"x": 1}},
        {"event": "tool-finished", "tool_call_id": "c-1", "output": {"score": 0.9}},
    ]
    asked = [e["params"]["data"] for e in events if e["method"] == "input.requested"]
    assert asked == [{"interrupt_id": "i-1", "value": {"question": "ok?"}}]
    lifecycle = [e["params"]["data"]["event"] for e in events if e["method"] == "lifecycle"]
    assert lifecycle == ["running", "interrupted", "failed"]
    assert events[-1]["params"]["data"]["error"] == "boom" and events[-1]["params"]["namespace"] == []
    assert all(e["seq"] // RUN_SPAN == 1 for e in events)  # the thread's first run


async def test_since_resumes_after_an_event_with_nothing_lost_or_twice(store: Store) -> None:
    seed(store)
    everything = await read(store)
    cut = everything[len(everything) // 2]["seq"]
    assert await read(store, since=cut) == [e for e in everything if e["seq"] > cut]
    only = await read(store, since=cut)
    assert len({e["event_id"] for e in only}) == len(only)
