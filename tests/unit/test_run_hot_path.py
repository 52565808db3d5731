"""Per-run work the worker does once instead: the compiled graph and the payload type adapters."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from temporalio.api.common.v1 import Payload

from runtime.activities import AppendEventsInput, EventRecord
from runtime.client import _TYPE_ADAPTERS, SharedAdaptersPayloadConverter, data_converter
from runtime.testing import build_echo_graph, build_scripted_graph
from runtime.workflow import _COMPILED_ATTR, AgentRunInput, _compile, precompile

CTX = {"run_id": "r", "thread_id": "t", "tenant": "default", "assistant_id": "echo3", "requester": {}, "consent": {}}


def _run(app: Any, value: Any, thread: str) -> Any:
    return asyncio.run(app.ainvoke(value, {"configurable": {"thread_id": thread}}, context=CTX))


def test_a_precompiled_graph_runs_like_one_compiled_per_run() -> None:
    builder = build_echo_graph()
    fresh = build_echo_graph().compile(checkpointer=InMemorySaver())
    precompile(builder)
    one, two = InMemorySaver(), InMemorySaver()
    a, b = _compile(builder, one), _compile(builder, two)
    assert a.checkpointer is one and b.checkpointer is two
    assert getattr(builder, _COMPILED_ATTR).checkpointer is None  # the shared graph keeps no saver
    expected = _run(fresh, {"text": "hi"}, "x")
    assert _run(a, {"text": "hi"}, "x") == expected == {"text": "HI", "steps": ["read", "think", "write"]}
    # Each run's checkpoints stay in its own saver.
    assert _run(b, {"text": "other"}, "x")["text"] == "OTHER"
    assert a.get_state({"configurable": {"thread_id": "x"}}).values["text"] == "HI"


def test_a_graph_not_precompiled_is_compiled_for_the_run() -> None:
    saver = InMemorySaver()
    app = _compile(build_scripted_graph(), saver)
    assert app.checkpointer is saver


def test_payload_converters_share_their_type_adapters() -> None:
    first, second = SharedAdaptersPayloadConverter(), SharedAdaptersPayloadConverter()
    inp = AgentRunInput(run_id="r", thread_id="t", assistant_id="echo3", input={"text": "hi"}, requester={"id": "u"})
    payloads = first.to_payloads([inp])
    assert first.from_payloads(payloads, [AgentRunInput]) == [inp]
    # A second converter (a worker makes one per workflow run) decodes with the adapter already built.
    hits = _TYPE_ADAPTERS.cache_info().hits
    assert second.from_payloads(payloads, [AgentRunInput]) == [inp]
    assert _TYPE_ADAPTERS.cache_info().hits == hits + 1
    events = AppendEventsInput(run_id="r", events=[EventRecord(key="k", type="token", data={"text": "a"})])
    assert second.from_payloads(second.to_payloads([events]), [AppendEventsInput]) == [events]
    assert data_converter.payload_converter_class is SharedAdaptersPayloadConverter
    raw = Payload(metadata={"encoding": b"json/plain"}, data=b'{"a": [1]}')
    assert first.from_payloads([raw], [dict[str, list[int]]]) == [{"a": [1]}]
