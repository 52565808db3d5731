"""Run and decide: ``steward run``, ``approve``, ``approvals``.

Runs and decisions go through the HTTP API with an API key (``runtime.cli.auth``). ``steward run`` starts the
run as the key's principal, so the requester is who the API authenticated, never a name typed on the command
line: separation of duties then holds (whoever started a run cannot approve it). Decisions are signed by the
API, and the workflow accepts nothing without that proof. There is no ``--as``/``--role``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from runtime.cli._common import _fail, _settings
from runtime.cli.auth import NO_KEY_HINT, api_credentials

START_KEY_HINT = (
    "running needs an API key: the run is started through the API as the key's principal (who asked is "
    "recorded, and cannot approve their own request); set STEWARD_API_KEY, or run `steward login` with a key "
    "from `steward keys create --principal <you> --role operator` (ask an admin for one)"
)

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


class RunRefused(Exception):  # noqa: N818 - what happened, as the CLI says it
    """The API did not start or stream the run (or could not be reached); the message says why."""


async def _sse_frames(response: Any) -> AsyncIterator[tuple[str, str | None, Any]]:
    """``(event, id, data)`` for each SSE frame of an httpx streaming response."""
    event, frame_id, data_lines = "message", None, list[str]()
    async for line in response.aiter_lines():
        if line == "":
            if data_lines:
                raw = "\n".join(data_lines)
                try:
                    data: Any = json.loads(raw)
                except ValueError:
                    data = raw
                yield event, frame_id, data
            event, frame_id, data_lines = "message", None, []
        elif line.startswith(":"):
            continue  # keep-alive ping
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "id":
                frame_id = value
            elif name == "data":
                data_lines.append(value)


async def _refusal(r: Any) -> RunRefused:
    await r.aread()
    try:
        body = r.json()
    except ValueError:
        body = {"detail": r.text[:500]}
    detail = body.get("detail") if isinstance(body, dict) else body
    hint = f" ({START_KEY_HINT})" if r.status_code == 401 else ""
    return RunRefused(f"HTTP {r.status_code}: {detail}{hint}")


class _RunSession:
    """One ``steward run``: start it through the API as the key's principal, follow its event log over SSE.

    The run is started with ``POST /threads/{id}/runs/stream`` (or ``/runs/stream``) in ``custom`` mode, which
    carries the whole event log; the API ends that stream when the run waits for people, and the CLI then
    joins ``GET .../runs/{run_id}/stream?follow=true`` with ``Last-Event-ID``, so nothing is lost or printed
    twice (also after a dropped connection).
    """

    def __init__(self, http: Any, args: argparse.Namespace, creds: Any, interactive: bool) -> None:
        self.http, self.args, self.creds, self.interactive = http, args, creds, interactive
        self.run_id: str | None = None
        self.thread_id: str | None = args.thread
        self.last_id: str | None = None
        self.status: str | None = None
        self.prompted: set[str] = set()

    async def follow(self, payload: dict[str, Any]) -> int:
        body: dict[str, Any] = {
            "assistant_id": self.args.assistant,
            "input": payload,
            "stream_mode": ["custom"],
            "on_disconnect": "continue",  # Ctrl-C detaches; the run goes on
        }
        if self.thread_id:
            body["if_not_exists"] = "create"
            path = f"/threads/{quote(self.thread_id, safe='')}/runs/stream"
        else:
            path = "/runs/stream"
        ended = await self._consume("POST", path, json=body)
        drops = 0
        while self.status is None:
            if ended == "interrupted" and not self.interactive and self.args.no_wait:
                return 0
            if self.run_id is None or self.thread_id is None:
                raise RunRefused("the API's stream ended before it named the run")
            headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
            try:
                ended = await self._consume(
                    "GET",
                    f"/threads/{quote(self.thread_id, safe='')}/runs/{quote(self.run_id, safe='')}/stream",
                    params={"stream_mode": "custom", "follow": "true"},
                    headers=headers,
                )
                drops = 0
            except RunRefused:
                raise
            except Exception as exc:  # noqa: BLE001 - a dropped stream is rejoined, a few times
                drops += 1
                if drops > 5:
                    raise RunRefused(f"lost the stream of {self.run_id} ({type(exc).__name__})") from None
                await asyncio.sleep(min(2.0, 0.2 * 2**drops))
        return 0 if self.status == "success" else 1

    async def _consume(self, method: str, path: str, **kwargs: Any) -> str | None:
        """Read one SSE response; returns how it ended (None when the connection closed without an end)."""
        async with self.http.stream(method, path, **kwargs) as r:
            if r.status_code >= 400:
                raise await _refusal(r)
            async for event, frame_id, data in _sse_frames(r):
                if frame_id is not None:
                    self.last_id = frame_id
                if event == "metadata":
                    self.run_id, self.thread_id = data["run_id"], data["thread_id"]
                    print(f"run {self.run_id} (thread {self.thread_id})")
                elif event == "custom":
                    _print_event(data)
                    if data.get("type") == "approval_requested":
                        await self._ask(data.get("data") or {})
                elif event == "error":
                    print(f"error: {data.get('message') if isinstance(data, dict) else data}")
                elif event == "end":
                    if data.get("reason") == "finished":
                        self.status = data.get("status") or "error"
                    return str(data.get("reason"))
        return None

    async def _ask(self, approval: dict[str, Any]) -> None:
        approval_id = approval.get("approval_id")
        if not approval_id or approval_id in self.prompted:
            return
        self.prompted.add(approval_id)
        if not self.interactive:
            print(f"   decide with: steward approve {approval_id} --action approve|edit|reject|respond")
            return
        while True:
            # Blocking on purpose: the API buffers the stream meanwhile, and Ctrl-C stays a plain interrupt.
            body = _prompt_decision(approval)
            if body is None:
                print(f"   later: steward approve {approval_id}, or the console")
                return
            try:
                print("  ", await post_decision(self.creds, approval_id, body))
                return
            except DecisionRefused as exc:
                print(f"   refused: {exc}")
                if "HTTP 403" in str(exc):
                    return  # another principal decides (separation of duties, role): prompting again won't help


async def _run(args: argparse.Namespace) -> int:
    import httpx

    s = _settings()
    creds = api_credentials(s)
    if creds.key is None:
        return _fail(START_KEY_HINT)
    try:
        payload = json.loads(Path(args.input).read_text()) if args.input != "-" else json.load(sys.stdin)
    except FileNotFoundError:
        return _fail(f"--input: file {args.input!r} does not exist")
    except json.JSONDecodeError as exc:
        return _fail(f"--input: not valid JSON: {exc}")
    interactive = sys.stdin.isatty() and args.input != "-" and not args.no_prompt
    headers = {"Authorization": f"Bearer {creds.key}"}
    timeout = httpx.Timeout(60, read=None)  # a run may wait for people for hours; pings keep the line alive
    session: _RunSession | None = None
    try:
        async with httpx.AsyncClient(base_url=creds.url, headers=headers, timeout=timeout) as http:
            session = _RunSession(http, args, creds, interactive)
            return await session.follow(payload)
    except RunRefused as exc:
        return _fail(str(exc), 3)
    except httpx.HTTPError as exc:
        where = f"; the run {session.run_id} goes on" if session and session.run_id else ""
        return _fail(
            f"cannot reach the API at {creds.url} ({type(exc).__name__}){where}; start it with `steward up` "
            "or point STEWARD_API_URL at it",
            3,
        )


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
