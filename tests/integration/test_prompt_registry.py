"""Prompts that run (issue 12, item 2): the prompt a node sends is the MLflow prompt registry's ``champion``,
loaded at run time in the node's activity, with the packaged text as the fallback; the run records the exact
``name@version`` it sent, in the outcome and in the audit trail.

The model is a loopback OpenAI-compatible server that records each request body, so the test reads what
actually went over the wire to the model, not what the agent says it sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agents._llm import configure_prompt_registry, prompt_ref, reset_prompt_registry
from agents.context import set_chat_model_factory
from agents.loan_triage.prompts import EXPLAIN
from guards.types import Principal
from runtime import runs

REQUESTER = Principal(id="alice", roles=["operator"])
# Loan 5x income: the credit check bands it C and the rules refer it, with no approval to wait for.
REFER = {
    "application": {
        "application_id": "A-202",
        "applicant_id": "P-202",
        "amount": 150000,
        "annual_income": 30000,
        "credit_score": 780,
        "purpose": "car",
    }
}
ANSWER = "The loan is five times the income, so the rules refer it to an underwriter."


class LoopbackModel:
    """A tiny OpenAI-compatible chat server: streams ANSWER word by word and keeps every request body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = ANSWER.split(" ")
                for i, word in enumerate(words):
                    piece = word + (" " if i < len(words) - 1 else "")
                    chunk: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "model": "loopback"}
                    chunk["choices"] = [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                done = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sent_prompts(self) -> list[str]:
        return [str(r["messages"][-1]["content"]) for r in self.requests]


@pytest.fixture
def model() -> Iterator[LoopbackModel]:
    from runtime.llm.breaker import reset_breakers
    from runtime.llm.chat_model import StewardChatModel

    loop = LoopbackModel()
    reset_breakers()
    set_chat_model_factory(lambda: StewardChatModel(base_url=loop.base_url, model="loopback", timeout_s=10))
    yield loop
    set_chat_model_factory(None)
    reset_prompt_registry()
    loop.server.shutdown()


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh MLflow tracking store (tmp SQLite) that the worker's prompt lookups read, cache off."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("STEWARD_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("STEWARD_HOME", str(tmp_path))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.MlflowClient().search_experiments()  # the store exists (a missing file reads as "no registry")
    configure_prompt_registry(uri, ttl_s=0)
    return mlflow


def promote_prompt(mlflow: Any, text: str) -> str:
    version = mlflow.genai.register_prompt(name="loan_triage.explain", template=text).version
    mlflow.genai.set_prompt_alias("loan_triage.explain", alias="champion", version=version)
    return str(version)


async def run_refer(client, store, task_queue) -> tuple[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    handle = await runs.start_run(client, store, task_queue, "loan_triage", REFER, REQUESTER)
    outcome = (await asyncio.wait_for(handle.result(), 60)).outcome
    assert outcome is not None and outcome["decision"] == "referred"
    return handle.id, outcome


def audited_prompt_version(store, run_id: str) -> str | None:  # type: ignore[no-untyped-def]
    [finished] = [r for r in store.audit_records(run_id=run_id) if r["action"] == "run.success"]
    return finished["data"]["prompt_version"]


async def test_a_promoted_prompt_is_what_the_next_run_sends_and_records(
    client, store, task_queue, worker, model: LoopbackModel, registry: Any
) -> None:
    v1 = promote_prompt(registry, "PROMPT ONE: explain the referral to the approver in one sentence.")
    run1, out1 = await run_refer(client, store, task_queue)
    assert model.sent_prompts()[-1].startswith("PROMPT ONE: explain the referral")
    assert out1["prompt_versions"] == [f"loan_triage.explain@{v1}"]
    assert audited_prompt_version(store, run1) == f"loan_triage.explain@{v1}"
    assert out1["texts"][0] == {
        "text": ANSWER,
        "by": "model",
        "node": "summarize",
        "model": "loopback",
        "prompt": f"loan_triage.explain@{v1}",
    }

    v2 = promote_prompt(registry, "PROMPT TWO: state the band and the rule that referred the application.")
    assert v2 != v1
    run2, out2 = await run_refer(client, store, task_queue)
    assert model.sent_prompts()[-1].startswith("PROMPT TWO: state the band")
    assert out2["prompt_versions"] == [f"loan_triage.explain@{v2}"]
    assert audited_prompt_version(store, run2) == f"loan_triage.explain@{v2}"


async def test_without_a_registered_prompt_the_packaged_text_is_sent_and_named(
    client, store, task_queue, worker, model: LoopbackModel, registry: Any
) -> None:
    run_id, out = await run_refer(client, store, task_queue)  # the store exists; nothing is registered in it
    assert model.sent_prompts()[-1].startswith(EXPLAIN)
    packaged = prompt_ref("loan_triage.explain", EXPLAIN)
    assert out["prompt_versions"] == [packaged] and packaged.startswith("loan_triage.explain@packaged-")
    assert audited_prompt_version(store, run_id) == packaged


async def test_an_unreachable_registry_falls_back_to_the_packaged_text(
    client, store, task_queue, worker, model: LoopbackModel
) -> None:
    configure_prompt_registry("http://127.0.0.1:9/", ttl_s=0)  # nothing listens on the discard port
    _, out = await run_refer(client, store, task_queue)
    assert model.sent_prompts()[-1].startswith(EXPLAIN)
    assert out["prompt_versions"] == [prompt_ref("loan_triage.explain", EXPLAIN)]
