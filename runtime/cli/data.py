"""Reference data: ``steward data load sanctions FILE`` validates a full sanctions list and makes it the one
screening reads.

The file is OpenSanctions FollowTheMoney JSON lines (``entities.ftm.json``). It is parsed completely before
anything is written; a bad line is named (line and field) and the active list stays as it was. A good list is
copied atomically to ``<STEWARD_HOME>/data/sanctions.ftm.jsonl`` with a manifest (source, digest, counts);
workers pick it up on their next screening (the list is re-read when the file changes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runtime.cli._common import _fail, _settings


def cmd_load_sanctions(args: Any) -> int:
    from tools.sanctions import SanctionsFormatError, install

    os.environ.setdefault("STEWARD_HOME", str(_settings().home))  # the home the workers' screening reads
    target = Path(args.target) if args.target else None
    try:
        parsed, path = install(args.file, target)
    except SanctionsFormatError as exc:
        return _fail(f"sanctions list refused, nothing loaded: {exc}")
    counts = parsed.counts()
    print(json.dumps({"loaded": str(path), "version": parsed.version, "sha256": parsed.sha256, **counts}, indent=1))
    if os.environ.get("STEWARD_SANCTIONS_FILE"):
        print(f"note: STEWARD_SANCTIONS_FILE={os.environ['STEWARD_SANCTIONS_FILE']} overrides the loaded list")
    return 0


def register(sub: Any) -> None:
    data = sub.add_parser("data", help="reference data (sanctions lists)").add_subparsers(
        dest="data_cmd", required=True
    )
    load = data.add_parser("load", help="validate and load a reference data file").add_subparsers(
        dest="data_kind", required=True
    )
    s = load.add_parser("sanctions", help="a sanctions list in OpenSanctions FollowTheMoney JSON lines")
    s.add_argument("file", help="entities.ftm.json (one FtM entity per line)")
    s.add_argument("--target", help="where to install it (default <STEWARD_HOME>/data/sanctions.ftm.jsonl)")
    s.set_defaults(fn=cmd_load_sanctions)
