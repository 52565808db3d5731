"""Scheduled runs: ``steward cron list | create | delete`` (each cron is a Temporal Schedule, ``runtime.crons``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.cli._common import _fail, _principal, _settings


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if epoch else "-"


def _read_input(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"--input: expected a JSON object, got {type(data).__name__}")
    return data


async def _with_client(work: Any) -> int:
    from runtime.client import connect
    from runtime.errors import UserError

    try:
        client = await connect(_settings())
        return int(await work(client))
    except UserError as exc:
        return _fail(str(exc))


def cmd_cron_list(args: argparse.Namespace) -> int:
    from runtime import crons

    async def work(client: Any) -> int:
        found = await crons.list_crons(client, args.tenant or "default")
        if args.json:
            print(json.dumps([c.__dict__ for c in found], indent=2, default=str))
            return 0
        if not found:
            print("no crons")
        for c in found:
            state = "enabled" if c.enabled else "paused"
            print(
                f"{c.cron_id}  {c.assistant_id:<14} '{c.schedule}' {c.timezone or 'UTC'}  {state}  "
                f"overlap {c.overlap}  next {_when(c.next_run_at)}  thread {c.thread_id or '(new per run)'}"
            )
        return 0

    return asyncio.run(_with_client(work))


def cmd_cron_create(args: argparse.Namespace) -> int:
    from runtime import crons

    try:
        payload = _read_input(args.input)
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    principal = _principal(args.as_user, args.role, args.tenant)

    async def work(client: Any) -> int:
        c = await crons.create_cron(
            client,
            _settings().task_queue,
            principal,
            args.assistant,
            args.schedule,
            input=payload,
            thread_id=args.thread,
            multitask_strategy=args.multitask_strategy,
            timezone=args.timezone,
            enabled=not args.paused,
        )
        print(f"created {c.cron_id}: {c.assistant_id} '{c.schedule}', overlap {c.overlap}, next {_when(c.next_run_at)}")
        return 0

    return asyncio.run(_with_client(work))


def cmd_cron_delete(args: argparse.Namespace) -> int:
    from runtime import crons

    async def work(client: Any) -> int:
        await crons.delete_cron(client, args.cron_id, args.tenant or "default")
        print(f"deleted {args.cron_id}")
        return 0

    return asyncio.run(_with_client(work))


def register(sub: Any) -> None:
    cron = sub.add_parser("cron", help="scheduled runs (Temporal Schedules): list, create, delete")
    cron_sub = cron.add_subparsers(dest="cron_command", required=True)

    ls = cron_sub.add_parser("list", help="this tenant's crons, with their next firing")
    ls.add_argument("--tenant")
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
    cr.add_argument("--as", dest="as_user", help="requester id (default: your login)")
    cr.add_argument("--role", action="append", help="requester role (repeatable; default operator)")
    cr.add_argument("--tenant")
    cr.set_defaults(fn=cmd_cron_create)

    rm = cron_sub.add_parser("delete", help="delete a cron (runs it started carry on)")
    rm.add_argument("cron_id")
    rm.add_argument("--tenant")
    rm.set_defaults(fn=cmd_cron_delete)
