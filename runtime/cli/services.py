"""Process commands: ``steward up``, ``worker``, ``server``, ``dev-server``, ``model-server``."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from runtime.cli._common import _fail, _settings


def cmd_up(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from runtime.cli.project import apply_config
    from runtime.settings import get_settings
    from runtime.supervisor import up

    if args.config:
        # Children (worker, API) read it from the environment: STEWARD_CONFIG is a Settings field.
        os.environ["STEWARD_CONFIG"] = str(Path(args.config).resolve())
        get_settings.cache_clear()  # settings are cached per process; this one just changed
        # Refuse a broken project file at start, naming file, key and why.
        if (failed := apply_config()) is not None:
            return failed
    return up(_settings(), with_api=not args.no_api)


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from runtime.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker(_settings()))
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    import uvicorn

    from runtime.worker import install_chat_model

    s = _settings()
    install_chat_model(s)  # follow-up answers (/threads/{id}/ask) are phrased by the same model as the agents'
    uvicorn.run("server.app:app", host=args.host or s.api_host, port=args.port or s.api_port, log_level="info")
    return 0


def cmd_dev_server(args: argparse.Namespace) -> int:
    import signal

    from runtime.devserver import start_dev_server

    s = _settings()
    ds = start_dev_server(s.home, port=s.temporal_dev_port, ui_port=s.temporal_ui_port)
    print(f"temporal dev server on {ds.address}, UI {ds.ui_url}")
    if ds.process is None:
        print("(already running; nothing to supervise)")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: ds.stop())
    try:
        ds.process.wait()
    except KeyboardInterrupt:
        ds.stop()
    return 0


def cmd_model_server(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from runtime.errors import StewardError
    from runtime.llm.server import check_bind, create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    s = _settings()
    preload = args.model or [s.llm_default_model]
    try:
        check_bind(args.host or s.llm_host, s)
        app = create_app(s, preload=preload)
    except StewardError as exc:
        return _fail(str(exc))
    uvicorn.run(app, host=args.host or s.llm_host, port=args.port or s.llm_port, log_level="warning")
    return 0


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="start Temporal dev server, worker and API + console (Ctrl-C stops all)")
    up.add_argument("--no-api", action="store_true", help="worker and Temporal only")
    up.add_argument("--config", help="project file (langgraph.json) to serve; default: $STEWARD_CONFIG or the repo's")
    up.set_defaults(fn=cmd_up)
    sub.add_parser("worker", help="run a worker (AgentRun workflow + activities)").set_defaults(fn=cmd_worker)
    srv = sub.add_parser("server", help="run the HTTP API + console")
    srv.add_argument("--host")
    srv.add_argument("--port", type=int)
    srv.set_defaults(fn=cmd_server)
    sub.add_parser("dev-server", help="run only the embedded Temporal dev server").set_defaults(fn=cmd_dev_server)
    ms = sub.add_parser("model-server", help="serve catalog models (OpenAI-compatible /v1/chat/completions)")
    ms.add_argument("--host")
    ms.add_argument("--port", type=int)
    ms.add_argument("--model", action="append", help="catalog model to load at start (repeatable)")
    ms.set_defaults(fn=cmd_model_server)
