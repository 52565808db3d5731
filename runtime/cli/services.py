"""Process commands: ``steward up``, ``worker``, ``server``, ``dev-server``, ``model-server``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
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
    s = _settings()
    event_loop_runner(s.worker_uvloop)(run_worker(s))
    return 0


def event_loop_runner(uvloop_wanted: bool) -> Callable[[Coroutine[Any, Any, None]], None]:
    """``uvloop.run`` where wanted and installed, else ``asyncio.run``.

    Why uvloop for the worker: its loop relays every activation and activity between Temporal's Rust core
    (``call_soon_threadsafe``) and the executors (``run_in_executor``), a few times per workflow task. In 6
    alternating rounds of 8 clients on the peer bench's 3-node graph (2 cores), the worker's CPU per run was
    0.89 of the Temporal server's on uvloop against 0.93 on asyncio's loop (medians): about 5 % less, measured
    against a process the change does not touch, since this VM's speed drifts more than that between rounds.
    Workflow code is unaffected: each workflow runs on the SDK's own deterministic loop.
    """
    if uvloop_wanted:
        try:
            import uvloop
        except ImportError:  # a platform uvloop does not support (Windows)
            pass
        else:
            return uvloop.run
    return asyncio.run


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
