"""API keys: ``steward keys create``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli._common import _fail, _settings


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


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_cmd", required=True)
    kc = keys.add_parser("create", help="create an API key (hashed at rest; shown once)")
    kc.add_argument("--principal", required=True)
    kc.add_argument("--tenant", default="default")
    kc.add_argument("--role", action="append", required=True)
    kc.set_defaults(fn=cmd_keys_create)
