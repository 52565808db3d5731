"""The audit trail: ``steward audit verify``, ``audit export``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runtime.cli._common import _settings


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from runtime.store import open_store

    ok, message = open_store(_settings().resolved_db_path).verify_audit()
    print(message)
    return 0 if ok else 1


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
    audit.add_parser("verify", help="verify the hash chain").set_defaults(fn=cmd_audit_verify)
    ex = audit.add_parser("export", help="export audit records as JSONL")
    ex.add_argument("--out", help="file (default: stdout)")
    ex.add_argument("--run", help="only this run")
    ex.add_argument("--tenant", help="only this tenant")
    ex.set_defaults(fn=cmd_audit_export)
