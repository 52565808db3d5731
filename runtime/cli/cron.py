"""Scheduled runs: ``steward cron list | create | delete`` (each cron is a Temporal Schedule, ``runtime.crons``).

Like ``steward run``, these go through the HTTP API with the caller's key: the scheduled runs are requested by
the key's principal in its tenant, never by a name typed on the command line (no ``--as``/``--role``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from runtime.cli._common import _fail, _settings


def _read_input(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"--input: expected a JSON object, got {type(data).__name__}")
    return data


CRON_KEY_HINT = (
    "crons are managed through the API as the key's principal (the scheduled runs are requested by them, "
    "tenant-scoped); set STEWARD_API_KEY, or run `steward login` with a key from "
    "`steward keys create --principal <you> --role operator`"
)


def _api(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One call to the API with the CLI's key: (status, JSON body). Raises ``_Refused`` with a message."""
    import httpx

    from runtime.cli.auth import api_credentials

    creds = api_credentials(_settings())
    if creds.key is None:
        raise _Refused(CRON_KEY_HINT, 2)
    try:
        r = httpx.request(
            method, creds.url + path, json=body, headers={"Authorization": f"Bearer {creds.key}"}, timeout=60
        )
    except httpx.HTTPError as exc:
        msg = f"the API at {creds.url} is not reachable ({type(exc).__name__}): is `steward up` running?"
        raise _Refused(msg, 3) from None
    data: Any = None
    if r.content:
        try:
            data = r.json()
        except ValueError:
            data = r.text
    if r.status_code >= 400:
        detail = data.get("detail") if isinstance(data, dict) else data
        raise _Refused(f"HTTP {r.status_code}: {detail}", 3)
    return r.status_code, data


class _Refused(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def cmd_cron_list(args: argparse.Namespace) -> int:
    try:
        _, found = _api("POST", "/runs/crons/search", {"limit": 1000})
    except _Refused as exc:
        return _fail(str(exc), exc.code)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print("no crons")
    for c in found:
        state = "enabled" if c.get("enabled") else "paused"
        print(
            f"{c['cron_id']}  {c['assistant_id']:<14} '{c['schedule']}' {c.get('timezone') or 'UTC'}  {state}  "
            f"overlap {c.get('overlap_policy')}  next {c.get('next_run_date') or '-'}  "
            f"thread {c.get('thread_id') or '(new per run)'}"
        )
    return 0


def cmd_cron_create(args: argparse.Namespace) -> int:
    try:
        payload = _read_input(args.input)
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    body: dict[str, Any] = {"assistant_id": args.assistant, "schedule": args.schedule, "input": payload}
    if args.multitask_strategy:
        body["multitask_strategy"] = args.multitask_strategy
    if args.timezone:
        body["timezone"] = args.timezone
    if args.paused:
        body["enabled"] = False
    path = f"/threads/{quote(args.thread, safe='')}/runs/crons" if args.thread else "/runs/crons"
    try:
        _, c = _api("POST", path, body)
    except _Refused as exc:
        return _fail(str(exc), exc.code)
    print(
        f"created {c['cron_id']}: {c['assistant_id']} '{c['schedule']}', overlap {c.get('overlap_policy')}, "
        f"next {c.get('next_run_date') or '-'}"
    )
    return 0


def cmd_cron_delete(args: argparse.Namespace) -> int:
    try:
        _api("DELETE", f"/runs/crons/{quote(args.cron_id, safe='')}")
    except _Refused as exc:
        return _fail(str(exc), exc.code)
    print(f"deleted {args.cron_id}")
    return 0


def register(sub: Any) -> None:
    cron = sub.add_parser("cron", help="scheduled runs (Temporal Schedules): list, create, delete")
    cron_sub = cron.add_subparsers(dest="cron_command", required=True)

    ls = cron_sub.add_parser("list", help="this tenant's crons, with their next firing")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_cron_list)

    cr = cron_sub.add_parser("create", help="run an assistant on a cron schedule")
    cr.add_argument("assistant")
    cr.add_argument("schedule", help="cron expression, e.g. '0 9 * * 1-5'")
    cr.add_argument("--input", help="JSON file with the run input ('-' for stdin)")
    cr.add_argument("--thread", help="continue this thread on every run (default: a new thread per run)")
    cr.add_argument(
        "--multitask-strategy",
        choices=["reject", "enqueue", "interrupt"],
        help="when the previous run is still going: skip (reject, default), buffer (enqueue), cancel it (interrupt)",
    )
    cr.add_argument("--timezone", help="IANA time zone of the schedule (default UTC)")
    cr.add_argument("--paused", action="store_true", help="create it paused")
    cr.set_defaults(fn=cmd_cron_create)

    rm = cron_sub.add_parser("delete", help="delete a cron (runs it started carry on)")
    rm.add_argument("cron_id")
    rm.set_defaults(fn=cmd_cron_delete)
