"""Evals run the agent as deployed, with its model (issue 12, item 3): ``steward eval run`` gives its worker
the embedded model server exactly as ``steward up`` does, and records the model in the MLflow params and the
eval result; ``--no-model`` measures the rules alone, and that choice is recorded the same way.

Real everything: the command's own embedded Temporal dev server and in-process worker, the real model server
child process (Gemma 3 270M on llama.cpp) on a free port, and a real MLflow SQLite store under the home.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

from evals import commands
from evals.environment import NO_MODEL
from runtime.devserver import free_port
from runtime.settings import Settings

SMOKE = Path(__file__).resolve().parents[2] / "evals" / "suites" / "smoke.jsonl"


def run_args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = dict(
        suite=str(SMOKE),
        assistant="loan_triage",
        concurrency=2,
        case_timeout=120.0,
        resume=None,
        eval_run_id="ev-model",
        task_queue=None,
        no_mlflow=False,
        no_traces=True,
        no_model=False,
    )
    return argparse.Namespace(**{**base, **kw})


def settings(home: Path) -> Settings:
    return Settings(home=home, temporal_dev_port=free_port(), temporal_ui_port=free_port(), llm_port=free_port())


def run(args: argparse.Namespace, s: Settings) -> tuple[str, list[dict[str, Any]], dict[str, str], dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = commands.eval_run(args, s, out, err)
    assert code == 0, out.getvalue() + err.getvalue()
    root = s.home / "evals" / args.eval_run_id
    meta = json.loads((root / "meta.json").read_text())
    results = [json.loads(line) for line in (root / "results.jsonl").read_text().splitlines()]
    from evals.tracking import Tracker

    params = Tracker.from_settings(s).client.get_run(meta["mlflow_run_id"]).data.params
    return out.getvalue(), results, params, meta


def test_eval_runs_the_agent_with_its_model_and_records_it(tmp_path: Path) -> None:
    s = settings(tmp_path / "home")
    text, results, params, meta = run(run_args(), s)
    model = f"{s.llm_default_model} at http://127.0.0.1:{s.llm_port}/v1"
    assert params["model"] == model and meta["model"] == model
    assert f"model {model}" in text
    assert all(r["passed"] for r in results), [r["checks"] for r in results if not r["passed"]]
    explained = [r["outcome"] for r in results if r["outcome"]["decision"] != "incomplete"]
    assert explained, "the smoke suite has decided cases, whose explanation goes to the model"
    for out in explained:
        # The model was asked (its answer may still be replaced by the template if it was unusable).
        assert out["model"]["status"] in ("answered", "fallback") and out["model"]["model"] == s.llm_default_model
        assert out["prompt_versions"] == [out["model"]["prompt"]]
    sent = {v for out in explained for v in out["prompt_versions"]}
    assert params["prompts_sent"] == ",".join(sorted(sent)) and sent
    answered = [r for r in results if (r["outcome"].get("model") or {}).get("status") == "answered"]
    assert all(s.llm_default_model in r["models"] for r in answered)
    assert not (s.home / "model-server.log").read_text().count("Traceback")


def test_no_model_is_an_explicit_recorded_choice(tmp_path: Path) -> None:
    s = settings(tmp_path / "home")
    text, results, params, meta = run(run_args(no_model=True, eval_run_id="ev-rules"), s)
    assert params["model"] == NO_MODEL and meta["model"] == NO_MODEL and f"model {NO_MODEL}" in text
    assert params["prompts_sent"] == "none"
    assert all(r["passed"] for r in results)
    for r in results:
        out = r["outcome"]
        assert out["prompt_versions"] == [] and all(t["by"] != "model" for t in out["texts"])
    assert not (s.home / "model-server.log").exists(), "--no-model starts no model server"
