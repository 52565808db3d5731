"""Evals and releases: ``steward eval run|compare|gate|list|mutate``, ``promote``, ``mlflow ui``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli._common import _settings


def cmd_eval(args: argparse.Namespace) -> int:
    """``steward eval run|compare|gate|list``: the work is in ``evals.commands`` (imported here, not at start)."""
    from evals import commands

    return int(getattr(commands, args.eval_fn)(args, _settings(), sys.stdout, sys.stderr))


def cmd_promote(args: argparse.Namespace) -> int:
    from evals import commands

    return commands.promote(args, _settings(), sys.stdout, sys.stderr)


def cmd_mlflow_ui(args: argparse.Namespace) -> int:
    from evals import commands

    return commands.mlflow_ui(args, _settings(), sys.stdout, sys.stderr)


def _add_gate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min", action="append", metavar="METRIC=VALUE", help="fail under this (repeatable)")
    p.add_argument("--max", action="append", metavar="METRIC=VALUE", help="fail over this (repeatable)")
    p.add_argument("--tolerance", type=float, default=0.0, help="allowed drop of a quality score vs the champion")
    p.add_argument(
        "--allow-regressions", type=int, default=0, metavar="N", help="cases allowed to regress vs the champion"
    )


def register(sub: Any) -> None:
    ev = sub.add_parser("eval", help="eval suites through the real runtime, tracked in MLflow")
    esub = ev.add_subparsers(dest="eval_cmd", required=True)
    er = esub.add_parser("run", help="run a suite (JSONL) against an assistant version")
    er.add_argument("suite", help="suite file, e.g. evals/suites/loan_triage.jsonl")
    er.add_argument("--assistant", required=True, help="NAME, NAME@VERSION or NAME@champion")
    er.add_argument("--concurrency", type=int, help="cases in flight (default: STEWARD_EVAL_CONCURRENCY)")
    er.add_argument("--case-timeout", type=float, help="seconds per case (default: STEWARD_EVAL_CASE_TIMEOUT_S)")
    er.add_argument("--resume", metavar="EVAL_RUN_ID", help="finish an interrupted eval run; finished cases stay")
    er.add_argument("--eval-run-id", help="name the new eval run (default: ev-<time>-<random>)")
    er.add_argument("--task-queue", help="use the workers on this queue instead of an in-process worker")
    er.add_argument("--no-mlflow", action="store_true", help="journal only; nothing logged to MLflow")
    er.add_argument("--no-traces", action="store_true", help="log no per-case traces to MLflow")
    er.add_argument(
        "--no-model", action="store_true", help="run the agents without their model (rules alone; recorded as such)"
    )
    er.add_argument("--judge", action="store_true", help="also grade explanations with the local model (LLM judge)")
    er.add_argument("--judge-model", help="catalog model for --judge (default: STEWARD_LLM_DEFAULT_MODEL)")
    er.set_defaults(fn=cmd_eval, eval_fn="eval_run")
    ec = esub.add_parser("compare", help="two eval runs side by side (table, markdown, PNG)")
    ec.add_argument("run_a", help="baseline: MLflow run id, eval run id (ev-...) or [NAME@]champion")
    ec.add_argument("run_b", help="candidate")
    ec.add_argument("--out", help="report directory (default: <home>/evals/compare-A-B)")
    ec.set_defaults(fn=cmd_eval, eval_fn="eval_compare")
    eg = esub.add_parser("gate", help="exit 1 under thresholds or on regressions vs the champion")
    eg.add_argument("run", help="MLflow run id or eval run id (ev-...)")
    _add_gate_options(eg)
    eg.add_argument("--latency-tolerance", type=float, help="allowed relative p95 latency increase (0.5 = 50%%)")
    eg.add_argument("--no-champion", action="store_true", help="thresholds only")
    eg.set_defaults(fn=cmd_eval, eval_fn="eval_gate")
    em = esub.add_parser("mutate", help="move each ruleset threshold one step; exit 1 if a suite misses one")
    em.add_argument("--ruleset", action="append", help="a ruleset in tools/data/rules (repeatable; default: all)")
    em.add_argument("--suite", help="the suite to run its mutants on (default: the agent's handbook suite)")
    em.add_argument("--assistant", help="the assistant that applies it (with --suite)")
    em.add_argument("--concurrency", type=int, help="cases in flight (default 4)")
    em.add_argument("--out", help="also write the report as JSON here")
    em.set_defaults(fn=cmd_eval, eval_fn="eval_mutate")
    el = esub.add_parser("list", help="eval runs in the journal")
    el.add_argument("--limit", type=int, default=20)
    el.set_defaults(fn=cmd_eval, eval_fn="eval_list")
    pr = sub.add_parser("promote", help="move the champion alias to an eval run's version, if the gate passes")
    pr.add_argument("run", help="MLflow run id or eval run id (ev-...)")
    _add_gate_options(pr)
    pr.add_argument("--alias", default="champion")
    pr.add_argument("--as", dest="as_user", help="who promotes (audit trail; default: your login)")
    pr.add_argument("--no-prompts", action="store_true", help="move the model alias only, not the prompts'")
    pr.set_defaults(fn=cmd_promote)
    ml = sub.add_parser("mlflow", help="MLflow").add_subparsers(dest="mlflow_cmd", required=True)
    ui = ml.add_parser("ui", help="open the MLflow UI on the embedded tracking store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(fn=cmd_mlflow_ui)
