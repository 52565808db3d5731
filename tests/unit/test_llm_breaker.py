"""Circuit breaker mechanics with a fake clock, and the chat model against an endpoint where nothing listens."""

from __future__ import annotations

import socket
import time

import pytest
from langchain_core.messages import HumanMessage

from runtime.errors import ModelUnavailable
from runtime.llm.breaker import CircuitBreaker, reset_breakers
from runtime.llm.chat_model import StewardChatModel, call_or_fallback
from runtime.llm.metrics import REGISTRY


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    b = CircuitBreaker("m-open", failure_threshold=3, cooldown_s=10, clock=FakeClock())
    for _ in range(2):
        b.before_call()
        b.record_failure("boom")
    assert b.state == "closed"
    b.before_call()
    b.record_failure("boom")
    assert b.state == "open"
    with pytest.raises(ModelUnavailable, match="circuit open after 3 failures"):
        b.before_call()
    assert REGISTRY.gauge("steward_llm_breaker_state", model="m-open") == 2


def test_a_success_resets_the_failure_count() -> None:
    b = CircuitBreaker("m-reset", failure_threshold=2, clock=FakeClock())
    b.record_failure("x")
    b.record_success()
    b.record_failure("x")
    assert b.state == "closed"


def test_half_open_admits_one_probe_and_closes_on_success() -> None:
    clock = FakeClock()
    b = CircuitBreaker("m-half", failure_threshold=1, cooldown_s=5, clock=clock)
    b.record_failure("down")
    assert b.state == "open"
    clock.now += 5.1
    b.before_call()  # the probe
    assert b.state == "half_open"
    with pytest.raises(ModelUnavailable, match="probe is in flight"):
        b.before_call()
    b.record_success()
    assert b.state == "closed"
    b.before_call()


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    b = CircuitBreaker("m-reopen", failure_threshold=1, cooldown_s=5, clock=clock)
    b.record_failure("down")
    clock.now += 6
    b.before_call()
    b.record_failure("still down")
    assert b.state == "open"
    clock.now += 4
    with pytest.raises(ModelUnavailable):
        b.before_call()
    clock.now += 2
    b.before_call()
    assert b.state == "half_open"


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens: connections are refused at once


async def test_unreachable_server_raises_model_unavailable_then_fails_fast() -> None:
    reset_breakers()
    model = StewardChatModel(base_url=_dead_url(), model="m-dead", max_retries=1, failure_threshold=2, cooldown_s=60)
    with pytest.raises(ModelUnavailable, match="after 2 attempt"):
        await model.ainvoke([HumanMessage("hi")])
    assert model.breaker.state == "open"
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailable, match="circuit open"):
        model.invoke([HumanMessage("hi")])
    assert time.perf_counter() - t0 < 0.05
    before = REGISTRY.counter("steward_llm_fallbacks_total", model="m-dead")
    out, used = await call_or_fallback(model.ainvoke([HumanMessage("hi")]), lambda e: "rules", model="m-dead")
    assert (out, used) == ("rules", True)
    assert REGISTRY.counter("steward_llm_fallbacks_total", model="m-dead") == before + 1
    reset_breakers()


async def test_chat_models_for_the_same_endpoint_share_one_breaker() -> None:
    reset_breakers()
    url = _dead_url()
    a = StewardChatModel(base_url=url, model="m-shared", max_retries=0, failure_threshold=1)
    b = StewardChatModel(base_url=url, model="m-shared")
    with pytest.raises(ModelUnavailable):
        await a.ainvoke([HumanMessage("hi")])
    with pytest.raises(ModelUnavailable, match="circuit open"):
        await b.ainvoke([HumanMessage("hi")])
    reset_breakers()


async def test_agent_model_returns_a_fallback_reply_and_records_the_event() -> None:
    from runtime.llm.agent_model import AgentModel

    reset_breakers()
    agent_model = AgentModel(
        StewardChatModel(base_url=_dead_url(), model="m-agent", max_retries=0, failure_threshold=1)
    )
    events: list[tuple[str, dict[str, object]]] = []
    reply = await agent_model.respond([HumanMessage("hi")], on_event=lambda t, d: events.append((t, d)))
    assert reply.used_fallback and reply.message is None and reply.fallback_reason
    assert events[0][0] == "model_fallback" and events[0][1]["breaker"] == "open"
    reset_breakers()
