"""What ``steward eval run|compare|gate|list``, ``steward promote`` and ``steward mlflow ui`` do.

``runtime/cli/evals.py`` owns the parser and calls these with the parsed arguments and its output streams; they
return the exit code: 0 ok, 1 the gate (or a promotion) refused, 2 bad input (named before anything runs),
130 interrupted. Everything heavy (Temporal, mlflow, matplotlib) is imported inside.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runtime.errors import ModelUnavailable, UserError
from runtime.settings import Settings

if TYPE_CHECKING:
    from evals.tracking import EvalRunRecord, Tracker


def _err(err: TextIO, message: str, code: int = 2) -> int:
    err.write(f"error: {message}\n")
    return code


class Progress:
    """A progress bar on a terminal, one line per case otherwise (CI logs)."""

    def __init__(self, out: TextIO, total: int, done: int = 0) -> None:
        self.out, self.total, self.t0 = out, total, time.monotonic()
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.passed = self.failed = 0
        self.skipped = done

    def __call__(self, result: object, finished: int, total: int) -> None:
        ok = bool(getattr(result, "passed", False))
        self.passed += ok
        self.failed += not ok
        case_id = getattr(result, "case_id", "?")
        status = "PASS" if ok else f"FAIL ({getattr(result, 'status', '?')})"
        latency = float(getattr(result, "latency_s", 0.0))
        if self.tty:
            width = 30
            filled = int(width * finished / max(total, 1))
            elapsed = time.monotonic() - self.t0
            done_now = finished - self.skipped
            eta = elapsed / done_now * (total - finished) if done_now else 0.0
            self.out.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{total} pass {self.passed} fail "
                f"{self.failed}  eta {eta:4.0f}s  {case_id[:28]:<28}"
            )
            if finished == total:
                self.out.write("\n")
        else:
            self.out.write(f"[{finished:>3}/{total}] {status:<14} {latency:6.2f}s  {case_id}\n")
        self.out.flush()


def _summary(report: object, out: TextIO) -> None:
    metrics: dict[str, float] = getattr(report, "metrics", {})
    out.write("\nmetrics:\n")
    for k, v in metrics.items():
        if ".tag." not in k:
            out.write(f"  {k:<22} {v:.4f}\n")
    failures = [r for r in getattr(report, "results", []) if not r.passed]
    if failures:
        out.write(f"\n{len(failures)} failed case(s):\n")
        for r in failures:
            why = "; ".join(f"{k}: {v}" for k, v in r.failed_checks().items())
            out.write(f"  - {r.case_id}: {why}\n")


def eval_run(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """Validate everything (suite, assistant, tracking URI), then run the cases through the real runtime."""
    from evals.environment import NO_MODEL
    from evals.suites import load_suite, validate_inputs
    from evals.variants import resolve_assistant

    holder: dict[str, str] = {}
    try:
        suite = load_suite(args.suite)
        tracker = None
        if not args.no_mlflow:
            from evals.tracking import Tracker

            tracker = Tracker.from_settings(settings)
        assistant = resolve_assistant(args.assistant, tracker.alias_resolver if tracker else None)
        validate_inputs(suite, assistant.name)
        judge = None
        if getattr(args, "judge", False):
            from evals.judge import LLMJudge

            judge = LLMJudge(settings.resolved_llm_base_url, args.judge_model or settings.llm_default_model)
            judge.check()
        from evals.runner import prepare_journal

        journal = prepare_journal(
            settings.home,
            suite,
            assistant,
            resume=args.resume,
            concurrency=args.concurrency or settings.eval_concurrency,
            case_timeout_s=args.case_timeout or settings.eval_case_timeout_s,
            eval_run_id=args.eval_run_id,
        )
        no_model = bool(getattr(args, "no_model", False))
        if journal.meta.model is not None and (journal.meta.model == NO_MODEL) != no_model:
            raise UserError(
                f"eval run {journal.meta.eval_run_id!r} ran with model {journal.meta.model!r}: resume it "
                + ("with --no-model" if journal.meta.model == NO_MODEL else "without --no-model")
            )
        if tracker is not None and journal.meta.mlflow_run_id and journal.meta.tracking_uri not in (None, tracker.uri):
            raise UserError(
                f"eval run {journal.meta.eval_run_id!r} logs to {journal.meta.tracking_uri}, not {tracker.uri}: "
                "resume it with the same STEWARD_MLFLOW_TRACKING_URI (or --no-mlflow)"
            )
    except UserError as exc:
        return _err(err, str(exc))
    holder["id"] = journal.meta.eval_run_id
    done = len(journal.finished())
    out.write(
        f"eval run {journal.meta.eval_run_id}: {assistant.ref} on {suite.name} ({len(suite.cases)} cases"
        + (f", {done} already finished" if done else "")
        + f", concurrency {journal.meta.concurrency})\n"
    )
    if tracker is not None:
        out.write(f"mlflow: {tracker.uri}\n")
    if judge is not None:
        out.write(f"LLM-as-judge (optional, not part of pass/fail): {judge.model} at {judge.base_url}\n")
    try:
        report = asyncio.run(_run(args, settings, suite, assistant, journal, tracker, out, done, judge))
    except KeyboardInterrupt:
        kept = len(journal.finished())
        err.write(
            f"\ninterrupted: {kept}/{len(suite.cases)} finished cases kept in {journal.root}\n"
            f"resume with: steward eval run {args.suite} --assistant {args.assistant}"
            f"{' --no-model' if no_model else ''} --resume {holder['id']}\n"
        )
        return 130
    except (UserError, ModelUnavailable) as exc:
        return _err(err, str(exc))
    _summary(report, out)
    out.write(f"\neval run {report.meta.eval_run_id} finished; results in {report.journal_dir}\n")
    if report.meta.mlflow_run_id:
        out.write(f"mlflow run {report.meta.mlflow_run_id}\n")
        out.write(f"next: steward eval gate {report.meta.mlflow_run_id} --min outcome_accuracy=0.9\n")
    return 0


async def _run(args, settings, suite, assistant, journal, tracker, out, done, judge):  # type: ignore[no-untyped-def]
    from evals.environment import eval_environment
    from evals.runner import run_eval
    from runtime.store import open_store

    store = open_store(settings.resolved_db_path)
    params: dict[str, object] = {}
    try:
        from guards.policy import load_policy_engine
        from runtime.worker import project_policy

        params["policy_version"] = load_policy_engine(project_policy(settings)).version
    except Exception:  # noqa: BLE001 - the param is informative; the worker loads the policy for real
        pass
    with_model = not getattr(args, "no_model", False)  # the agent as deployed, unless asked otherwise
    async with eval_environment(settings, store, task_queue=args.task_queue, with_model=with_model) as target:
        out.write(f"runtime: {target.description}\n")
        return await run_eval(
            journal,
            suite,
            assistant,
            target,
            tracker,
            on_result=Progress(out, len(suite.cases), done),
            params=params,
            traces=not args.no_traces,
            judge=judge,
        )


def _resolve_pair(tracker: Tracker, a: str, b: str) -> tuple[EvalRunRecord, EvalRunRecord]:
    """Load two runs; a bare ``champion`` takes its assistant from the other run."""
    if a == "champion" and b != "champion":
        rb = tracker.load(b)
        return tracker.load(a, rb.assistant), rb
    ra = tracker.load(a)
    return ra, tracker.load(b, ra.assistant)


def eval_compare(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from evals.compare import compare, render_text, write_report
    from evals.tracking import Tracker

    try:
        tracker = Tracker.from_settings(settings)
        a, b = _resolve_pair(tracker, args.run_a, args.run_b)
    except UserError as exc:
        return _err(err, str(exc))
    cmp = compare(a, b, common_only=a.suite != b.suite)
    out.write(render_text(cmp) + "\n")
    out_dir = Path(args.out) if args.out else settings.home / "evals" / f"compare-{a.run_id[:8]}-{b.run_id[:8]}"
    md, png = write_report(cmp, out_dir)
    out.write(f"\nreport: {md}\nplot:   {png}\n")
    for path in (md, png):
        # The report travels with the candidate's run, so the MLflow UI shows what it was compared with.
        tracker.client.log_artifact(b.run_id, str(path), artifact_path=f"eval/compare-{a.run_id[:8]}")
    return 0


def eval_gate(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from evals.gate import evaluate_gate, parse_thresholds, render_gate
    from evals.tracking import CHAMPION, Tracker

    try:
        thresholds = parse_thresholds(args.min, args.max)
        tracker = Tracker.from_settings(settings)
        candidate = tracker.load(args.run)
        champion = None
        if not args.no_champion:
            mv = tracker.alias_version(candidate.assistant, CHAMPION)
            champion = tracker.load(str(mv.run_id)) if mv is not None and mv.run_id else None
    except UserError as exc:
        return _err(err, str(exc))
    result = evaluate_gate(
        candidate,
        thresholds,
        champion,
        tolerance=args.tolerance,
        allowed_case_regressions=args.allow_regressions,
        latency_tolerance=args.latency_tolerance,
    )
    tracker.set_tags(candidate.run_id, {"steward.gate": "passed" if result.passed else "failed"})
    tracker.log_json(candidate.run_id, result.as_dict(), "eval/gate.json")
    out.write(render_gate(result) + "\n")
    return 0 if result.passed else 1


def promote(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from evals.gate import parse_thresholds, render_gate
    from evals.promote import promote as do_promote
    from evals.tracking import Tracker
    from runtime.store import open_store

    try:
        thresholds = parse_thresholds(args.min, args.max)
        tracker = Tracker.from_settings(settings)
        result = do_promote(
            tracker,
            open_store(settings.resolved_db_path),
            args.run,
            actor=args.as_user or getpass.getuser(),
            thresholds=thresholds,
            tolerance=args.tolerance,
            allowed_case_regressions=args.allow_regressions,
            alias=args.alias,
            with_prompts=not args.no_prompts,
        )
    except UserError as exc:
        return _err(err, str(exc))
    out.write(render_gate(result.gate) + "\n")
    if not result.promoted:
        out.write(f"not promoted: {result.model}@{result.alias} stays at version {result.previous_version or '-'}\n")
        return 1
    out.write(
        f"promoted {result.gate.candidate.label}: {result.model} version {result.version} is now @{result.alias}"
        f" (was {result.previous_version or '-'}); audit record {result.audit_seq}\n"
    )
    for name, version in result.prompts.items():
        out.write(f"  prompt {name} version {version} is now @{result.alias}\n")
    return 0


def eval_list(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from evals.journal import EvalRunMeta

    root = settings.home / "evals"
    metas = []
    for p in sorted(root.glob("ev-*/meta.json")) if root.is_dir() else []:
        try:
            metas.append((EvalRunMeta.model_validate_json(p.read_text()), p.parent))
        except ValueError:
            continue
    if not metas:
        out.write(f"no eval runs under {root}\n")
    for meta, path in metas[-args.limit :]:
        lines = (path / "results.jsonl").read_text().splitlines() if (path / "results.jsonl").exists() else []
        out.write(
            f"{meta.eval_run_id}  {meta.status:<11} {meta.assistant}@{meta.version:<16} {meta.suite_name:<14} "
            f"{len(lines)}/{len(meta.case_ids)} cases  mlflow {meta.mlflow_run_id or '-'}\n"
        )
    return 0


def mlflow_ui(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """The MLflow UI on the embedded store (offline flags set); a tracking server already has its own UI."""
    from evals.tracking import artifact_root, tracking_uri

    uri = tracking_uri(settings)
    if uri.startswith(("http://", "https://")):
        out.write(f"MLflow runs on a tracking server: open {uri}\n")
        return 0
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    root = artifact_root(settings, uri)
    if root:
        cmd += ["--default-artifact-root", root]
    out.write(f"MLflow UI on http://{args.host}:{args.port} ({uri}); Ctrl-C stops it\n")
    out.flush()
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


def eval_mutate(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """Move every threshold of each ruleset one step each way; exit 1 if any mutant survives the handbook suite.

    The agents run with no model (the rules decide; the model only explains), on the embedded dev server and an
    in-process worker. ``--out`` writes the report as JSON.
    """
    import json

    from evals.mutation import HANDBOOK_SUITES, render
    from tools.rules import RULES_DIR

    known = sorted(p.stem for p in RULES_DIR.glob("*.yaml"))
    names = args.ruleset or [n for n in known if n in HANDBOOK_SUITES]
    unknown = [n for n in names if n not in known]
    if unknown:
        return _err(err, f"unknown ruleset(s) {unknown}; known: {known}")
    if (args.suite is None) != (args.assistant is None):
        return _err(err, "--suite and --assistant go together (both name the suite to run a ruleset's mutants on)")
    if args.suite is not None and len(names) != 1:
        return _err(err, "--suite/--assistant apply to one ruleset: name it with --ruleset")
    if args.suite is None and (missing := [n for n in names if n not in HANDBOOK_SUITES]):
        return _err(err, f"no handbook suite known for {missing}; name one with --suite and --assistant")
    try:
        reports = asyncio.run(_mutate(args, settings, names, out))
    except KeyboardInterrupt:
        err.write("\ninterrupted\n")
        return 130
    except UserError as exc:
        return _err(err, str(exc))
    out.write("\n" + render(reports) + "\n")
    if args.out:
        Path(args.out).write_text(json.dumps([r.as_dict() for r in reports], indent=1) + "\n")
        out.write(f"report: {args.out}\n")
    return 1 if any(r.survivors for r in reports) else 0


async def _mutate(args: argparse.Namespace, settings: Settings, names: list[str], out: TextIO) -> list[Any]:
    from evals.environment import eval_environment
    from evals.mutation import check_ruleset
    from runtime.store import open_store

    store = open_store(settings.resolved_db_path)

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    reports = []
    async with eval_environment(settings, store, with_model=False) as target:
        out.write(f"runtime: {target.description}\n")
        for name in names:
            reports.append(
                await check_ruleset(
                    target,
                    settings.home,
                    name,
                    args.assistant,
                    Path(args.suite) if args.suite else None,
                    concurrency=args.concurrency or 4,
                    progress=say,
                )
            )
    return reports
