"""The model server on the real Gemma 3 270M GGUF, through real HTTP on a loopback port.

Replies are kept short (small max_tokens, tight schemas): the machine has two cores shared with other work.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from runtime.errors import ModelUnavailable
from runtime.llm.breaker import reset_breakers
from runtime.llm.chat_model import StewardChatModel, call_or_fallback

MODEL = "gemma3-270m"

CREDIT_CHECK = {
    "type": "function",
    "function": {
        "name": "credit_check",
        "description": "Run a credit check for an applicant.",
        "parameters": {
            "type": "object",
            "properties": {
                "applicant_id": {"type": "string", "maxLength": 16},
                "amount": {"type": "number"},
            },
            "required": ["applicant_id", "amount"],
        },
    },
}
NOTIFY = {
    "type": "function",
    "function": {
        "name": "notify_customer",
        "description": "Send the customer a short message.",
        "parameters": {
            "type": "object",
            "properties": {"message": {"type": "string", "maxLength": 40}},
            "required": ["message"],
        },
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ModelServer:
    process: subprocess.Popen[bytes]
    base_url: str
    root: str

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def start_model_server(home: Path, log: Path) -> ModelServer:
    port = _free_port()
    env = {**os.environ, "STEWARD_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from runtime.cli import main; main()",
            "model-server",
            "--port",
            str(port),
            "--model",
            MODEL,
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"model server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{root}/health", timeout=1).json()["models"].get(MODEL):
                return ModelServer(process, f"{root}/v1", root)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"model server did not come up: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    home = tmp_path_factory.mktemp("llm-home")
    s = start_model_server(home, home / "server.log")
    yield s
    s.process.send_signal(signal.SIGTERM)
    try:
        s.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        s.kill()


def _chat(server: ModelServer, **body: object) -> httpx.Response:
    payload = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, **body}
    return httpx.post(f"{server.base_url}/chat/completions", json=payload, timeout=60)


def test_chat_completion_returns_text_and_usage(server: ModelServer) -> None:
    r = _chat(server)
    assert r.status_code == 200, r.text
    data = r.json()
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    assert 0 < data["usage"]["completion_tokens"] <= 8
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]


def test_streaming_sends_sse_chunks_then_done(server: ModelServer) -> None:
    events: list[str] = []
    with httpx.stream(
        "POST",
        f"{server.base_url}/chat/completions",
        timeout=60,
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "Count: one, two,"}],
            "max_tokens": 6,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] in ("stop", "length")
    assert chunks[-1]["usage"]["completion_tokens"] <= 6


async def test_chat_model_streams_tokens(server: ModelServer) -> None:
    model = StewardChatModel(base_url=server.base_url, model=MODEL, max_tokens=6)
    pieces = [c.content async for c in model.astream([HumanMessage("Say hello.")])]
    assert len([p for p in pieces if p]) >= 2
    assert "".join(str(p) for p in pieces)


async def test_tool_call_parses_and_names_a_provided_tool(server: ModelServer) -> None:
    model = StewardChatModel(base_url=server.base_url, model=MODEL)
    bound = model.bind_tools([CREDIT_CHECK, NOTIFY], tool_choice="required")
    msg = await bound.ainvoke(
        [
            SystemMessage("You triage loan applications."),
            HumanMessage("Run a credit check for applicant A-17 who asks for 20000."),
        ]
    )
    assert msg.tool_calls, msg
    call = msg.tool_calls[0]
    assert call["name"] in {"credit_check", "notify_customer"}
    required = {"credit_check": {"applicant_id", "amount"}, "notify_customer": {"message"}}[call["name"]]
    assert required <= set(call["args"])
    assert msg.response_metadata["finish_reason"] == "tool_calls"


async def test_streamed_tool_call_arrives_whole(server: ModelServer) -> None:
    model = StewardChatModel(base_url=server.base_url, model=MODEL)
    bound = model.bind_tools([NOTIFY], tool_choice="notify_customer")
    total = None
    async for chunk in bound.astream([HumanMessage("Tell the customer their documents arrived.")]):
        total = chunk if total is None else total + chunk
    assert total is not None and total.tool_calls
    assert total.tool_calls[0]["name"] == "notify_customer"
    assert isinstance(total.tool_calls[0]["args"]["message"], str)


def test_json_schema_output_matches_the_schema(server: ModelServer) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer"},
            "employed": {"type": "boolean"},
        },
        "required": ["name", "age", "employed"],
    }
    r = _chat(
        server,
        messages=[{"role": "user", "content": "Extract: Ana is 41 and works as a nurse."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    assert r.status_code == 200, r.text
    obj = json.loads(r.json()["choices"][0]["message"]["content"])
    assert set(obj) == {"name", "age", "employed"}
    assert isinstance(obj["name"], str) and len(obj["name"]) <= 20
    assert isinstance(obj["age"], int) and isinstance(obj["employed"], bool)


def test_bad_input_is_refused_and_the_server_lives_on(server: ModelServer) -> None:
    r = _chat(server, model="no-such-model")
    assert r.status_code == 404 and "no-such-model" in r.json()["detail"]
    r = _chat(server, messages=[{"role": "user", "content": "word " * 3000}])
    assert r.status_code == 400 and "context length is 2048" in r.json()["detail"]
    r = _chat(server, tools=[{"type": "function", "function": {"name": "x", "parameters": {"type": "string"}}}])
    assert r.status_code == 422
    r = _chat(
        server, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "frobnicate"}}}
    )
    assert r.status_code == 422
    r = _chat(server, tool_choice={"type": "function", "function": {"name": "nope"}}, tools=[CREDIT_CHECK])
    assert r.status_code == 400 and "nope" in r.json()["detail"]
    assert _chat(server).status_code == 200


def _metric(server: ModelServer, line_prefix: str) -> float:
    text = httpx.get(f"{server.root}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_client_that_disconnects_mid_stream_frees_its_slot(server: ModelServer) -> None:
    cancelled = f'steward_llm_requests_total{{model="{MODEL}",outcome="cancelled"}}'
    before = _metric(server, cancelled)
    with httpx.stream(
        "POST",
        f"{server.base_url}/chat/completions",
        timeout=60,
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "Tell a long story."}],
            "max_tokens": 400,
            "stream": True,
        },
    ) as r:
        for n, _ in enumerate(r.iter_lines()):
            if n > 4:
                break
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _metric(server, cancelled) <= before:
        time.sleep(0.1)
    assert _metric(server, cancelled) == before + 1
    assert _chat(server).status_code == 200


async def test_concurrent_requests_are_batched_and_all_complete(server: ModelServer) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        rs = await asyncio.gather(
            *[
                client.post(
                    f"{server.base_url}/chat/completions",
                    json={
                        "model": MODEL,
                        "messages": [{"role": "user", "content": f"Name a color, number {i}."}],
                        "max_tokens": 8,
                    },
                )
                for i in range(4)
            ]
        )
    assert all(r.status_code == 200 for r in rs)
    assert all(r.json()["choices"][0]["message"]["content"] for r in rs)


def test_metrics_expose_latency_ttft_throughput_queue_and_cost(server: ModelServer) -> None:
    _chat(server)
    text = httpx.get(f"{server.root}/metrics", timeout=10).text
    for name in (
        "steward_llm_request_latency_seconds",
        "steward_llm_time_to_first_token_seconds",
        "steward_llm_tokens_per_second",
        "steward_llm_queue_depth",
        "steward_llm_errors_total",
        "steward_llm_cost_per_prediction_usd",
        "steward_llm_cost_per_1k_tokens_usd",
    ):
        assert f"{name}{{" in text, name
    assert f'steward_llm_request_latency_seconds{{model="{MODEL}",quantile="0.95"}}' in text
    models = httpx.get(f"{server.base_url}/models", timeout=10).json()["data"]
    assert {m["id"]: m["steward"]["loaded"] for m in models}[MODEL] is True


async def test_breaker_opens_and_agent_falls_back_when_the_server_is_killed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    reset_breakers()
    home = tmp_path_factory.mktemp("llm-kill")
    victim = start_model_server(home, home / "server.log")
    model = StewardChatModel(
        base_url=victim.base_url,
        model=MODEL,
        max_tokens=4,
        max_retries=1,
        failure_threshold=2,
        cooldown_s=60,
        timeout_s=10,
    )
    try:
        ok = await model.ainvoke([HumanMessage("Say hello.")])
        assert ok.content
        assert model.breaker.state == "closed"
        victim.kill()
        with pytest.raises(ModelUnavailable):
            await model.ainvoke([HumanMessage("Say hello.")])
        assert model.breaker.state == "open"
        t0 = time.perf_counter()
        with pytest.raises(ModelUnavailable, match="circuit open"):
            await model.ainvoke([HumanMessage("Say hello.")])
        assert time.perf_counter() - t0 < 0.1  # an open circuit answers without touching the network
        events: list[str] = []
        result, used_fallback = await call_or_fallback(
            model.ainvoke([HumanMessage("Should we approve?")]),
            lambda exc: "rules: refer to underwriter",
            model=MODEL,
            on_fallback=lambda exc: events.append(str(exc)),
        )
        assert used_fallback and result == "rules: refer to underwriter"
        assert events and "circuit open" in events[0]
    finally:
        victim.kill()
        reset_breakers()


async def test_structured_output_returns_a_validated_pydantic_object(server: ModelServer) -> None:
    from pydantic import BaseModel, Field

    class Applicant(BaseModel):
        """An applicant mentioned in the text."""

        name: str = Field(max_length=20)
        age: int

    model = StewardChatModel(base_url=server.base_url, model=MODEL)
    out = await model.with_structured_output(Applicant).ainvoke("Extract: Ana is 41 and works as a nurse.")
    assert isinstance(out, Applicant) and len(out.name) <= 20


async def test_agent_model_streams_tokens_to_the_event_log_and_returns_the_message(server: ModelServer) -> None:
    from runtime.llm.agent_model import AgentModel

    agent_model = AgentModel(StewardChatModel(base_url=server.base_url, model=MODEL, max_tokens=6))
    tokens: list[str] = []
    reply = await agent_model.respond([HumanMessage("Say hello.")], on_token=tokens.append)
    assert not reply.used_fallback and reply.message is not None
    assert tokens and "".join(tokens) == reply.message.content
    call = await agent_model.respond(
        [HumanMessage("Tell the customer their documents arrived.")], tools=[NOTIFY], tool_choice="required"
    )
    assert call.message is not None and call.message.tool_calls[0]["name"] == "notify_customer"


def test_parallel_tool_calls_are_each_parseable_and_offered(server: ModelServer) -> None:
    r = _chat(
        server,
        messages=[{"role": "user", "content": "Approve loan L-4 for 3000 and notify customer P-4 about it."}],
        tools=[CREDIT_CHECK, NOTIFY],
        tool_choice="required",
        parallel_tool_calls=True,
    )
    assert r.status_code == 200, r.text
    calls = r.json()["choices"][0]["message"]["tool_calls"]
    assert 1 <= len(calls) <= 4
    for c in calls:
        assert c["function"]["name"] in {"credit_check", "notify_customer"}
        assert isinstance(json.loads(c["function"]["arguments"]), dict)
