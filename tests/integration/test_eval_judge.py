"""The optional LLM-as-judge on the real local model (Gemma 3 270M behind the Steward model server).

What this proves is the mechanics, not the judgement: every explained case gets a schema-valid verdict from
the named model, the verdicts are reported as ``judge.*`` metrics and recorded with the model, they never
change pass/fail, and greedy decoding with a fixed seed repeats them. A 270M base model is no judge of
loan explanations; a stronger catalog model (``--judge-model``) is what gives the number meaning.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evals.judge import LLMJudge
from tests.conftest import free_port
from tests.integration.evals_support import run_suite

pytest_plugins = ("tests.integration.evals_support",)
MODEL = "gemma3-270m"


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("judge-home")
    port = free_port()
    log = home / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from runtime.cli import main; main()", "model-server", "--port", str(port),
         "--model", MODEL],
        env={**os.environ, "STEWARD_HOME": str(home), "HF_HUB_OFFLINE": "1"},
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            try:
                if httpx.get(f"{root}/health", timeout=1).json()["models"].get(MODEL):
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        yield f"{root}/v1"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_llm_judge_grades_explanations_beside_the_scores_never_inside_them(
    model_server: str, eval_target, tracker, tmp_path: Path
) -> None:
    judge = LLMJudge(model_server, MODEL)
    judge.check()
    plain = await run_suite(eval_target, None, tmp_path, "smoke", "loan_triage")
    judged = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage", judge=judge)

    explained = [r for r in judged.results if (r.outcome or {}).get("explanation")]
    assert explained, "the agent's outcome carries an explanation to judge"
    for r in explained:
        assert r.judgement is not None and r.judgement["model"] == MODEL and r.judgement["judge"] == "llm"
        assert "error" not in r.judgement, r.judgement
        assert isinstance(r.judgement["consistent"], bool)
    assert 0.0 <= judged.metrics["judge.explanation_consistency"] <= 1.0
    assert judged.metrics["judge.cases"] == len(explained)
    assert [r.passed for r in judged.results] == [r.passed for r in plain.results]
    assert judged.metrics["pass_rate"] == plain.metrics["pass_rate"]
    params = tracker.client.get_run(judged.meta.mlflow_run_id).data.params
    assert params["judge_model"] == MODEL and params["judge_prompt_version"].startswith("evals.judge")

    again = await judge.grade_all(explained)
    assert {cid: j["consistent"] for cid, j in again.items()} == {
        r.case_id: r.judgement["consistent"] for r in explained
    }
