"""The ``steward`` command: one module per command group, each exposing ``register(sub)``.

Heavy imports happen inside each command so ``steward --help`` stays instant. To add a group, write
``runtime/cli/<group>.py`` with ``register(sub)`` and append it to ``_GROUPS``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

for _k, _v in (
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
    ("HF_HUB_OFFLINE", "1"),
    ("ANONYMIZED_TELEMETRY", "False"),
):
    os.environ.setdefault(_k, _v)

_GROUPS = [
    "services",
    "approvals",
    "auth",
    "catalog",
    "audit",
    "evals",
    "cron",
    "project",
    "data",
]
"""Command-group modules under ``runtime.cli``, in ``--help`` order."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="steward", description="Steward: durable, guarded agents on local models.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in _GROUPS:
        importlib.import_module(f"runtime.cli.{group}").register(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if os.environ.get("STEWARD_CONFIG"):
        # Every command (run, eval, assistants, worker) serves the project STEWARD_CONFIG names, not the repo's.
        from runtime.cli.project import apply_config

        if (failed := apply_config()) is not None:
            sys.exit(failed)
    sys.exit(args.fn(args))
