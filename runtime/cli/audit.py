"""The audit trail: ``steward audit verify``, ``audit export``, ``audit checkpoint create|export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runtime.cli._common import _fail, _settings


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """The chain, its keyed head anchor and checkpoints; with ``--checkpoints`` also an external export (which
    catches a rollback of the whole database to an older, validly anchored state)."""
    from runtime.audit import load_exported, verify_anchor
    from runtime.errors import UserError
    from runtime.store import open_store

    try:
        store = open_store(_settings().resolved_db_path)
        ok, message = store.verify_audit()
        if ok and args.checkpoints:
            external = load_exported(Path(args.checkpoints))
            last_seq, last_hash = store.audit_last()
            ok, message = verify_anchor(store, last_seq, last_hash, external)
    except (UserError, OSError) as exc:
        return _fail(str(exc))
    print(message)
    return 0 if ok else 1


def cmd_checkpoint_create(args: argparse.Namespace) -> int:
    from runtime.audit import create_checkpoint
    from runtime.errors import UserError
    from runtime.store import open_store

    try:
        cp = create_checkpoint(open_store(_settings().resolved_db_path))
    except UserError as exc:
        return _fail(str(exc))
    print("audit log is empty: nothing to checkpoint" if cp is None else f"checkpoint at record {cp.seq}")
    return 0


def cmd_checkpoint_export(args: argparse.Namespace) -> int:
    """MAC'd checkpoints as JSONL, for retention outside this system (where the database's writers can't reach)."""
    from runtime.audit import export_checkpoints
    from runtime.errors import UserError
    from runtime.store import open_store

    try:
        rows = export_checkpoints(open_store(_settings().resolved_db_path))
    except UserError as exc:
        return _fail(str(exc))
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    if args.out:
        Path(args.out).write_text(text)
        print(f"{len(rows)} audit checkpoints -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
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


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_cmd", required=True)
    ver = audit.add_parser("verify", help="verify the hash chain, its keyed head anchor and checkpoints")
    ver.add_argument("--checkpoints", help="also verify against exported checkpoints (JSONL)")
    ver.set_defaults(fn=cmd_audit_verify)
    cp = audit.add_parser("checkpoint", help="MAC'd checkpoints of the chain's head").add_subparsers(
        dest="checkpoint_cmd", required=True
    )
    cp.add_parser("create", help="checkpoint the current head").set_defaults(fn=cmd_checkpoint_create)
    cpx = cp.add_parser("export", help="export checkpoints as JSONL for external retention")
    cpx.add_argument("--out", help="file (default: stdout)")
    cpx.set_defaults(fn=cmd_checkpoint_export)
    ex = audit.add_parser("export", help="export audit records as JSONL")
    ex.add_argument("--out", help="file (default: stdout)")
    ex.add_argument("--run", help="only this run")
    ex.add_argument("--tenant", help="only this tenant")
    ex.set_defaults(fn=cmd_audit_export)
