"""``steward up``: one process tree for the embedded stack.

Temporal dev server (unless a cluster is configured), the worker and the API + console run as child
processes. Children get PDEATHSIG, so even a kill -9 of the supervisor leaves no orphans; Ctrl-C or SIGTERM
stops them in reverse order. A child that dies unexpectedly is restarted with backoff.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime.devserver import DevServer, _set_pdeathsig, port_open, start_dev_server
from runtime.settings import Settings


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            preexec_fn=_set_pdeathsig,
        )
        self.started_at = time.monotonic()

    def stop(self, timeout: float = 10.0) -> None:
        p = self.process
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def _steward_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from runtime.cli import main; main()", *args]


def ensure_admin_key(settings: Settings) -> str:
    """A local admin key for the console: created once, kept (0600) under the Steward home."""
    from runtime.store import open_store

    path = settings.home / "admin.key"
    store = open_store(settings.resolved_db_path)
    if path.exists():
        secret = path.read_text().strip()
        if store.lookup_api_key(secret):
            return secret
    _, secret = store.create_api_key("local-admin", "default", ["admin"])
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def up(settings: Settings, with_api: bool = True, out: object = None) -> int:
    say = print
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    dev: DevServer | None = None
    env = {"STEWARD_HOME": str(home)}
    if settings.embedded_temporal:
        dev = start_dev_server(home, port=settings.temporal_dev_port, ui_port=settings.temporal_ui_port)
        how = "reused the one already listening" if dev.process is None else f"log {dev.log_path}"
        say(f"temporal   {dev.address}  (embedded dev server; {how})")
        say(f"temporal UI {dev.ui_url}")
    else:
        say(f"temporal   {settings.temporal_address} namespace={settings.temporal_namespace}")
    children = [Child("worker", _steward_argv("worker"), home / "worker.log", env=env)]
    if with_api:
        children.append(Child("api", _steward_argv("server"), home / "api.log", env=env))
    if settings.llm_embedded_server and settings.llm_base_url is None:
        children.append(Child("model-server", _steward_argv("model-server"), home / "model-server.log", env=env))
    for c in children:
        c.start()
    if with_api:
        key = ensure_admin_key(settings)
        base = f"http://{settings.api_host}:{settings.api_port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not port_open(settings.api_host, settings.api_port):
            time.sleep(0.1)
        say(f"api        {base}  (OpenAPI: {base}/docs)")
        say(f"console    {base}/console")
        say(f"admin key  {key}   (kept in {home / 'admin.key'})")
    if any(c.name == "model-server" for c in children):
        say(
            f"model      http://{settings.llm_host}:{settings.llm_port}/v1  ({settings.llm_default_model}; "
            f"log {home / 'model-server.log'})"
        )
    elif settings.llm_base_url:
        say(f"model      {settings.llm_base_url}")
    say(f"logs       {home}/worker.log {home}/api.log" if with_api else f"logs       {home}/worker.log")
    say("steward is up; Ctrl-C stops everything.")
    sys.stdout.flush()
    try:
        while not stopping:
            for c in children:
                if c.process is not None and c.process.poll() is not None and not stopping:
                    code = c.process.returncode
                    c.restarts += 1
                    backoff = min(30.0, 0.5 * 2 ** min(c.restarts, 6))
                    say(f"{c.name} exited with {code}; restarting in {backoff:.1f}s (see {c.log_path})")
                    time.sleep(backoff)
                    if not stopping:
                        c.start()
            time.sleep(0.2)
    finally:
        say("stopping...")
        for c in reversed(children):
            c.stop()
        if dev is not None:
            dev.stop()
        say("stopped.")
    return 0
