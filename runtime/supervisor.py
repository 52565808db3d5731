"""``steward up``: one process tree for the embedded stack.

Temporal dev server (unless a cluster is configured), the worker and the API + console run as child
processes. Children get PDEATHSIG, so even a kill -9 of the supervisor leaves no orphans; Ctrl-C or SIGTERM
stops them in reverse order. A child that dies unexpectedly is restarted with backoff, the embedded Temporal
dev server included: it reopens the same SQLite file, so workflow history (runs waiting for approval) survives,
and the worker and API ride over the gap (their Temporal clients retry) instead of crash-looping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runtime.devserver import DevServer, _set_pdeathsig, history_file, port_open, start_dev_server
from runtime.errors import UserError
from runtime.settings import Settings

STABLE_AFTER_S = 60.0
"""A child that ran this long before dying starts its backoff afresh: one crash a day is not a crash loop."""


def restart_backoff(restarts: int) -> float:
    """Seconds to wait before restart number ``restarts`` (1, 2, 4, ... capped at 30 s)."""
    return min(30.0, 0.5 * 2 ** min(max(restarts, 1), 6))


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    restart_at: float | None = None
    """When a scheduled restart is due (monotonic); None while the child runs. Scheduling instead of
    sleeping keeps the loop watching the other children and Ctrl-C during a long backoff."""
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

    def exit_code(self) -> int | None:
        """The exit status of a child we started that has died since; None while it runs (or if not ours)."""
        p = self.process
        if p is None or self.restart_at is not None:
            return None
        return p.poll()

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


class TemporalChild(Child):
    """The embedded Temporal dev server as a supervised child.

    Every (re)start goes through ``start_dev_server`` with the same home, so it opens the same SQLite file
    (``<home>/temporal.db``) and waits until the server reports SERVING. If something else already answers
    on the port, that server is used and not supervised (``process`` is None): it is not ours to restart.
    """

    def __init__(self, home: Path, port: int, ui_port: int) -> None:
        super().__init__("temporal", argv=[], log_path=home / "temporal.log")
        self.home = home
        self.port = port
        self.ui_port = ui_port
        self.server: DevServer | None = None

    def start(self) -> None:
        self.server = start_dev_server(self.home, port=self.port, ui_port=self.ui_port)
        self.process = self.server.process
        self.started_at = time.monotonic()


def supervise_once(children: list[Child], say: Callable[[str], None], now: float | None = None) -> None:
    """One pass of the supervision loop: schedule a restart (with backoff) for each child that died, and
    start each child whose restart is due. A restart that fails (the dev server refuses to start) is
    scheduled again with a longer backoff instead of ending the supervisor."""
    for c in children:
        t = time.monotonic() if now is None else now
        if c.restart_at is not None:
            if t < c.restart_at:
                continue
            c.restart_at = None
            try:
                c.start()
            except (UserError, OSError) as exc:
                c.restarts += 1
                backoff = restart_backoff(c.restarts)
                c.restart_at = t + backoff
                say(f"{c.name} failed to restart: {exc}; retrying in {backoff:.1f}s")
                continue
            say(f"{c.name} restarted (restart {c.restarts}; pid {c.process.pid if c.process else '-'})")
            continue
        code = c.exit_code()
        if code is None:
            continue
        if t - c.started_at >= STABLE_AFTER_S:
            c.restarts = 0
        c.restarts += 1
        backoff = restart_backoff(c.restarts)
        c.restart_at = t + backoff
        extra = f"; history kept in {history_file(c.home)}" if isinstance(c, TemporalChild) else ""
        say(f"{c.name} exited with {code}; restarting in {backoff:.1f}s (see {c.log_path}{extra})")


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

    def _say_now(line: str) -> None:
        # up.log is a pipe or file under tests and services: a restart line must not sit in a buffer.
        say(line)
        sys.stdout.flush()

    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    env = {"STEWARD_HOME": str(home)}
    children: list[Child] = []
    if settings.embedded_temporal:
        temporal = TemporalChild(home, port=settings.temporal_dev_port, ui_port=settings.temporal_ui_port)
        temporal.start()  # first in the list: started first, stopped last
        dev = temporal.server
        assert dev is not None
        if dev.process is None:
            how = "reused the one already listening; not supervised"
        else:
            how = f"log {dev.log_path}; restarted if it dies"
            children.append(temporal)
        say(f"temporal   {dev.address}  (embedded dev server; {how})")
        say(f"temporal UI {dev.ui_url}")
    else:
        say(f"temporal   {settings.temporal_address} namespace={settings.temporal_namespace}")
    children.append(Child("worker", _steward_argv("worker"), home / "worker.log", env=env))
    if with_api:
        children.append(Child("api", _steward_argv("server"), home / "api.log", env=env))
    if settings.llm_embedded_server and settings.llm_base_url is None:
        children.append(Child("model-server", _steward_argv("model-server"), home / "model-server.log", env=env))
    for c in children:
        if c.process is None:
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
            supervise_once(children, _say_now)
            time.sleep(0.2)
    finally:
        say("stopping...")
        for c in reversed(children):
            c.stop()
        say("stopped.")
    return 0
