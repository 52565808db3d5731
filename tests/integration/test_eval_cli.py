"""``steward eval run`` as a user runs it: standalone (it starts its own dev server and worker), bad input
refused before any case runs, Ctrl-C keeping finished cases, ``--resume`` finishing the rest."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evals import commands
from runtime.settings import Settings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "evals" / "suites" / "loan_triage.jsonl"
STEWARD = Path(sys.executable).parent / "steward"


def run_args(suite: Path | str, assistant: str = "loan_triage", **kw: object) -> argparse.Namespace:
    base: dict[str, object] = dict(
        suite=str(suite),
        assistant=assistant,
        concurrency=None,
        case_timeout=None,
        resume=None,
        eval_run_id=None,
        task_queue=None,
        no_mlflow=False,
        no_traces=False,
    )
    return argparse.Namespace(**{**base, **kw})


def refused(tmp_path: Path, args: argparse.Namespace, **settings: object) -> str:
    """Run the command; it must exit 2 before anything ran (no eval journal, no store, no dev server)."""
    out, err = io.StringIO(), io.StringIO()
    s = Settings(home=tmp_path / "home", temporal_dev_port=free_port(), **settings)  # type: ignore[arg-type]
    started = time.monotonic()
    assert commands.eval_run(args, s, out, err) == 2, out.getvalue()
    assert time.monotonic() - started < 20
    assert not (tmp_path / "home" / "evals").exists() and not (tmp_path / "home" / "steward.db").exists()
    return err.getvalue()


def test_malformed_suite_line_is_refused_before_any_case_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(SUITE.read_text().replace('"expected": {', '"expected": {"trajectory_mode": "loose", ', 1))
    msg = refused(tmp_path, run_args(bad, no_mlflow=True))
    assert msg.startswith(f"error: {bad} line 2: expected.trajectory_mode: Input should be 'strict'")


def test_unknown_assistant_or_version_is_refused_before_any_case_runs(tmp_path: Path) -> None:
    assert "assistant 'loan' not found" in refused(tmp_path, run_args(SUITE, "loan", no_mlflow=True))
    msg = refused(tmp_path, run_args(SUITE, "loan_triage@2.0", no_mlflow=True))
    assert "no version or alias '2.0'; known versions: ['0.1.0', '0.1.1-nocheck']" in msg


def test_unreachable_mlflow_is_refused_before_any_case_runs(tmp_path: Path) -> None:
    port = free_port()
    msg = refused(tmp_path, run_args(SUITE), mlflow_tracking_uri=f"http://127.0.0.1:{port}")
    assert f"MLflow tracking server 'http://127.0.0.1:{port}' is unreachable" in msg
    (tmp_path / "ro").mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere; the permission check only means something for a user
        assert "is not writable" in refused(
            tmp_path, run_args(SUITE), mlflow_tracking_uri=f"sqlite:///{tmp_path}/ro/m.db"
        )


def test_unreachable_judge_model_is_refused_before_any_case_runs(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    args = run_args(SUITE, no_mlflow=True, judge=True, judge_model=None)
    assert f"judge model server {url} is unreachable" in refused(tmp_path, args, llm_base_url=url)


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "STEWARD_HOME": str(home),
        "STEWARD_TEMPORAL_DEV_PORT": str(free_port()),
        "STEWARD_TEMPORAL_UI_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }


def test_ctrl_c_keeps_finished_cases_and_resume_finishes_the_rest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home)
    # The rules alone (--no-model): this is about Ctrl-C and --resume; tests/integration/test_eval_with_model.py
    # covers evals with the model.
    cmd = [str(STEWARD), "eval", "run", str(SUITE), "--assistant", "loan_triage", "--concurrency", "1", "--no-mlflow"]
    cmd.append("--no-model")
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test run started as a background job (`make test &`) ignores SIGINT, and children inherit that:
        # the CLI under test gets Ctrl-C as an operator's terminal delivers it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("[  3/"):
                proc.send_signal(signal.SIGINT)
                break
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert rc == 130, "".join(lines) + err
    eval_run_id = next(iter((home / "evals").glob("ev-*"))).name
    assert f"resume with: steward eval run {SUITE} --assistant loan_triage --no-model --resume {eval_run_id}" in err
    results = home / "evals" / eval_run_id / "results.jsonl"
    kept = [json.loads(x) for x in results.read_text().splitlines()]
    assert 3 <= len(kept) < 20
    meta = json.loads((home / "evals" / eval_run_id / "meta.json").read_text())
    assert meta["status"] == "interrupted"

    done = subprocess.run(
        [*cmd, "--resume", eval_run_id], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"({20} cases, {len(kept)} already finished" in done.stdout
    assert "pass_rate              1.0000" in done.stdout
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    assert len(rows) == 20 and len({r["case_id"] for r in rows}) == 20
    assert rows[: len(kept)] == kept, "finished cases were not run again"


@pytest.mark.parametrize("argv", [["eval", "--help"], ["promote", "--help"], ["mlflow", "ui", "--help"]])
def test_eval_commands_are_in_the_cli(argv: list[str]) -> None:
    out = subprocess.run([str(STEWARD), *argv], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage: steward" in out.stdout
