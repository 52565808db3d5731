"""Run and decide: ``steward run``, ``approve``, ``approvals``.

Decisions go through the HTTP API with an API key (``runtime.cli.auth``): the API authenticates the key and
signs the decision, and the workflow accepts nothing without that proof. There is no ``--as``/``--role``:
who decides is whoever the key belongs to.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from runtime.cli._common import _fail, _principal, _settings
from runtime.cli.auth import NO_KEY_HINT, api_credentials

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


def _prompt_decision(approval: dict[str, Any]) -> dict[str, Any] | None:
    """Ask the operator at the terminal; returns the decision body the API takes (None: decide later)."""
    print(f"\napproval {approval['approval_id']}: {approval['tool']}({json.dumps(approval['args'])})")
    print(f"  reason: {approval['reason']}; risk {approval['risk']}; needs {approval['required_role']}")
    while True:
        choice = input("  [a]pprove, [e]dit, [r]eject, re[s]pond, [w]ait? ").strip().lower()[:1]
        if choice == "w":
            return None
        if choice == "a":
            return {"action": "approve"}
        if choice == "r":
            comment = input("  comment: ")
            return {"action": "reject", "comment": comment or None}
        if choice == "s":
            return {"action": "respond", "response": input("  response: ")}
        if choice == "e":
            raw = input("  new arguments (JSON): ")
            try:
                new_args = json.loads(raw)
            except json.JSONDecodeError as exc:
                print(f"  not JSON: {exc}")
                continue
            return {"action": "edit", "args": new_args}


class DecisionRefused(Exception):  # noqa: N818 - what happened, as the CLI says it
    """The API did not take the decision (or could not be reached); the message says why."""


async def post_decision(creds: Any, approval_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /approvals/{id}/decision`` with the key: the API signs the proof, the workflow verifies it."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(
                f"{creds.url}/approvals/{quote(approval_id, safe='')}/decision",
                json={k: v for k, v in body.items() if v is not None},
                headers={"Authorization": f"Bearer {creds.key}"},
            )
    except httpx.HTTPError as exc:
        raise DecisionRefused(
            f"cannot reach the API at {creds.url} ({type(exc).__name__}); start it with `steward up` "
            "or point STEWARD_API_URL at it"
        ) from None
    try:
        data = r.json()
    except ValueError:
        data = {"detail": r.text[:500]}
    if r.status_code >= 400:
        detail = data.get("detail") if isinstance(data, dict) else data
        hint = f" ({NO_KEY_HINT})" if r.status_code == 401 else ""
        raise DecisionRefused(f"HTTP {r.status_code}: {detail}{hint}")
    return data


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
    creds = api_credentials(s)
    interactive = sys.stdin.isatty() and not args.no_prompt
    if interactive and creds.key is None:
        print(f"   not prompting for approvals: {NO_KEY_HINT}")
        interactive = False
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
                    print(f"   decide with: steward approve {a['approval_id']} --action approve|edit|reject|respond")
                    continue
                body = _prompt_decision(a)
                if body is None:
                    continue
                try:
                    print("  ", await post_decision(creds, a["approval_id"], body))
                except DecisionRefused as exc:
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
    creds = api_credentials(_settings())
    if creds.key is None:
        return _fail(NO_KEY_HINT)
    try:
        edited = json.loads(args.args) if args.args else None
    except json.JSONDecodeError as exc:
        return _fail(f"--args: not valid JSON: {exc}")
    body = {"action": args.action, "args": edited, "comment": args.comment, "response": args.response}
    try:
        result = await post_decision(creds, args.approval_id, body)
    except DecisionRefused as exc:
        return _fail(str(exc), 3)
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


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run an assistant, stream its events, prompt for approvals")
    run.add_argument("assistant")
    run.add_argument("--input", required=True, help="JSON file with the run input ('-' for stdin)")
    run.add_argument("--thread", help="thread id: state carries over between runs of a thread")
    run.add_argument("--as", dest="as_user", help="requester id (default: your login)")
    run.add_argument("--role", action="append", help="requester role (repeatable)")
    run.add_argument("--tenant")
    run.add_argument("--no-prompt", action="store_true", help="never prompt; print how to decide instead")
    run.add_argument("--no-wait", action="store_true", help="with --no-prompt: return once the run waits")
    run.set_defaults(fn=cmd_run)

    ap = sub.add_parser(
        "approve",
        help="decide an approval (approve / edit / reject / respond) through the API, as your API key's principal",
    )
    ap.add_argument("approval_id")
    ap.add_argument("--action", default="approve", choices=["approve", "edit", "reject", "respond"])
    ap.add_argument("--args", help="edited arguments as JSON (with --action edit)")
    ap.add_argument("--comment")
    ap.add_argument("--response", help="the operator's answer (with --action respond)")
    ap.set_defaults(fn=cmd_approve)

    al = sub.add_parser("approvals", help="list pending approvals")
    al.add_argument("--all", action="store_true")
    al.set_defaults(fn=cmd_approvals)
