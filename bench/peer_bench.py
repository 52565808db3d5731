"""Peer benchmark -> bench/results/peer.json: Steward against ``langgraph dev`` on the same graphs, in one run.

Both servers load the same project, ``bench/peer/project/langgraph.json`` (plain LangGraph: a 3-node graph
``three`` and a graph ``ask`` that interrupts once), each with its own defaults, and the same langgraph-sdk
client drives both, one server after the other (never both at once: they would share the 2 cores):

- ``steward``: ``steward up --config bench/peer/project/langgraph.json`` (embedded Temporal dev server, worker,
  API) in a fresh home. The model server is off (``STEWARD_LLM_EMBEDDED_SERVER=false``) and so is the
  credit-risk bootstrap: neither graph calls a model or a scoring model, and both would only load the CPU.
- ``peer``: ``langgraph dev --no-browser`` from ``bench/peer/.venv`` (``langgraph-cli[inmem]`` pinned in
  ``bench/peer/requirements.txt``), offline: no version check, no tracing, no analytics. It is not durable.

Measured for each, with the same client code (``measure``):

- ``*_p50_ms`` / ``*_p95_ms``: ``runs.wait`` on a fresh thread for ``three`` (request sent -> final values);
  ``*_interrupt_p50_ms``: the same for ``ask`` (request sent -> the run stops at its interrupt);
- ``*_first_event_ms``: ``runs.stream`` of ``three``: request sent -> first event after ``metadata`` (the
  first event carrying graph state), p50;
- ``*_resume_ms``: ``runs.wait(command={"resume": ...})`` sent -> the resumed run finished, p50;
- ``*_runs_per_s_{1,8,32}``: N concurrent clients (one SDK client each), each running ``three`` on its own
  threads back to back; runs finished / wall time;
- ``*_rss_mb``: the peak, over samples every 0.5 s during the measurements, of the summed RSS of the server's
  processes. Steward: API + worker + the ``steward up`` supervisor; the Temporal dev server is reported apart
  (``steward_temporal_rss_mb``). Peer: its whole process tree.

Every result is checked (the trail of nodes, the interrupt, the resumed answer); one wrong answer fails the
benchmark. Ratios are computed only from halves measured in this run. If the peer's virtualenv cannot be built
(offline without a cache), the peer half is skipped with the reason in ``peer_skipped`` and Steward's half is
still written. The machine is shared: the load average before and after each half is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, pct  # noqa: E402

PEER_DIR = ROOT / "bench" / "peer"
PROJECT = PEER_DIR / "project" / "langgraph.json"
PEER_VENV = PEER_DIR / ".venv"
PEER_REQUIREMENTS = PEER_DIR / "requirements.txt"
PEER_ENV = {"LANGGRAPH_NO_VERSION_CHECK": "true", "LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
"""Without these ``langgraph dev`` tries to reach the package index and LangSmith at start (offline here)."""
THREE_TRAIL = ["first", "second", "third"]
ASK_TRAIL = ["prepare", "ask", "finish"]
LEVELS = (1, 8, 32)


# -- pure parts (tests/unit/test_peer_bench.py) ----------------------------------------------------------------
def classify_steward_process(cmdline: list[str], is_root: bool) -> str:
    """Which part of ``steward up`` a process is, from its command line.

    The supervisor starts its children as ``python -c "from runtime.cli import main; main()" <command>`` and
    the Temporal dev server as the ``temporal`` binary; anything else in the tree is counted as ``other``.
    """
    if is_root:
        return "supervisor"
    if cmdline and Path(cmdline[0]).name == "temporal":
        return "temporal"
    command = cmdline[-1] if cmdline else ""
    return {"worker": "worker", "server": "api", "model-server": "model_server"}.get(command, "other")


STEWARD_SERVER_PARTS = ("supervisor", "api", "worker", "other")
"""What ``steward_rss_mb`` sums: everything Steward runs except the Temporal server and the model server,
which the issue asks to report apart (a deployment may use a cluster and GPU model servers instead)."""


def peak_rss_mb(samples: list[dict[str, float]], parts: tuple[str, ...]) -> float:
    """The largest sum of ``parts`` within one sample (MiB): parts are summed at the same instant."""
    return round(max((sum(s.get(p, 0.0) for p in parts) for s in samples), default=0.0), 1)


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50/p95 of a list of milliseconds, rounded the way every result file rounds them."""
    return {"p50": round(pct(values, 0.5), 1), "p95": round(pct(values, 0.95), 1)}


RATIO_KEYS = {
    "p50": ("steward_p50_ms", "peer_p50_ms"),
    "interrupt_p50": ("steward_interrupt_p50_ms", "peer_interrupt_p50_ms"),
    "first_event": ("steward_first_event_ms", "peer_first_event_ms"),
    "resume": ("steward_resume_ms", "peer_resume_ms"),
    "runs_per_s_1": ("steward_runs_per_s_1", "peer_runs_per_s_1"),
    "runs_per_s_8": ("steward_runs_per_s_8", "peer_runs_per_s_8"),
    "runs_per_s_32": ("steward_runs_per_s_32", "peer_runs_per_s_32"),
    "rss": ("steward_rss_mb", "peer_rss_mb"),
}


def ratios(result: dict[str, Any]) -> dict[str, float] | None:
    """Steward / peer for each figure, or None when the peer half is missing from this run.

    Only halves from the same run are divided: a ratio against a peer figure from another run or another
    machine would compare the noise of two different moments.
    """
    if result.get("peer_skipped") or "peer_p50_ms" not in result:
        return None
    out: dict[str, float] = {}
    for name, (mine, theirs) in RATIO_KEYS.items():
        a, b = result.get(mine), result.get(theirs)
        if isinstance(a, int | float) and isinstance(b, int | float) and b:
            out[name] = round(a / b, 3)
    return out


def check_three(values: Any) -> None:
    """A finished ``three`` run: every node ran once, in order."""
    if not isinstance(values, dict) or values.get("trail") != THREE_TRAIL:
        raise AssertionError(f"three: expected trail {THREE_TRAIL}, got {values!r}")


def check_interrupted(values: Any) -> None:
    """An ``ask`` run stopped at its interrupt, carrying the question."""
    interrupts = values.get("__interrupt__") if isinstance(values, dict) else None
    if not interrupts or "question" not in (interrupts[0].get("value") or {}):
        raise AssertionError(f"ask: expected an interrupt with a question, got {values!r}")


def check_resumed(values: Any, answer: str) -> None:
    """A resumed ``ask`` run finished with the answer it was handed."""
    if not isinstance(values, dict) or values.get("answer") != answer or values.get("trail") != ASK_TRAIL:
        raise AssertionError(f"ask: expected answer {answer!r} and trail {ASK_TRAIL}, got {values!r}")


# -- processes ---------------------------------------------------------------------------------------------------
@dataclass
class Server:
    """A server under test: its URL, key, process group and how to name each of its processes."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    classify: Callable[[list[str], bool], str]
    api_key: str | None = None
    samples: list[dict[str, float]] = field(default_factory=list)
    max_processes: int = 0

    def _sum_by_part(self, measure: Callable[[Any], float]) -> dict[str, float]:
        """``measure(process)`` summed over each part of the server's process tree (a process that exits
        meanwhile is skipped)."""
        import psutil

        parts: dict[str, float] = {}
        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return parts
        self.max_processes = max(self.max_processes, len(procs))
        for p in procs:
            try:
                part = self.classify(p.cmdline(), p.pid == root.pid)
                parts[part] = parts.get(part, 0.0) + measure(p)
            except psutil.NoSuchProcess:
                continue
        return parts

    def rss_by_part(self) -> dict[str, float]:
        return self._sum_by_part(lambda p: float(p.memory_info().rss) / 2**20)

    def cpu_s_by_part(self) -> dict[str, float]:
        """CPU seconds (user + system) so far of each part of the server's process tree."""
        return self._sum_by_part(lambda p: float(p.cpu_times().user + p.cpu_times().system))

    @contextlib.contextmanager
    def sampling(self, every_s: float = 0.5) -> Iterator[None]:
        """Sample RSS in a thread while the measurements run (a load peak is what sizing needs)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.samples.append(self.rss_by_part())
                stop.wait(every_s)

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()
            self.samples.append(self.rss_by_part())

    def stop(self) -> None:
        """SIGTERM to the process group we started (children included), SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child
    # Its own session: one killpg stops the whole tree (the peer spawns a multiprocessing worker).
    return subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


async def _wait_http(server: Server, path: str, limit_s: float) -> None:
    import httpx

    t_end = time.monotonic() + limit_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < t_end:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {server.process.returncode}; see {server.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(server.url + path)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready in {limit_s:.0f} s; see {server.log_path}")


async def start_steward(home: Path) -> Server:
    port = _free_port()
    env = {
        "STEWARD_HOME": str(home),
        "STEWARD_API_PORT": str(port),
        "STEWARD_TEMPORAL_DEV_PORT": str(_free_port()),
        "STEWARD_TEMPORAL_UI_PORT": str(_free_port()),
        "STEWARD_LLM_EMBEDDED_SERVER": "false",
        "STEWARD_SCORING_BOOTSTRAP": "false",
    }
    argv = [sys.executable, "-c", "from runtime.cli import main; main()", "up", "--config", str(PROJECT)]
    proc = _spawn(argv, env, ROOT, home / "up.log")
    server = Server("steward", f"http://127.0.0.1:{port}", proc, home / "up.log", classify_steward_process)
    await _wait_http(server, "/health", 180)
    key_file = home / "admin.key"
    t_end = time.monotonic() + 60
    while not key_file.exists() and time.monotonic() < t_end:
        await asyncio.sleep(0.2)
    server.api_key = key_file.read_text().strip()
    return server


def ensure_peer_venv(say: Callable[[str], None]) -> str | None:
    """Build ``bench/peer/.venv`` from the pinned list if it is missing; the reason it can't be, or None."""
    langgraph = PEER_VENV / "bin" / "langgraph"
    if langgraph.exists():
        return None
    say(f"building the peer's virtualenv {PEER_VENV} from {PEER_REQUIREMENTS} ...")
    steps = [
        [sys.executable, "-m", "venv", str(PEER_VENV)],
        [str(PEER_VENV / "bin" / "pip"), "install", "-q", "-r", str(PEER_REQUIREMENTS)],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"could not build the peer's virtualenv ({' '.join(argv[:3])} ...): {' | '.join(tail)}"
    return None if langgraph.exists() else f"{langgraph} missing after install"


async def start_peer(home: Path) -> Server:
    port = _free_port()
    argv = [str(PEER_VENV / "bin" / "langgraph"), "dev", "--no-browser", "--host", "127.0.0.1", "--port", str(port)]
    proc = _spawn(argv, PEER_ENV, PROJECT.parent, home / "peer.log")
    server = Server("peer", f"http://127.0.0.1:{port}", proc, home / "peer.log", lambda _c, _r: "server")
    await _wait_http(server, "/ok", 120)
    return server


def peer_versions() -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in "
        "['langgraph-cli', 'langgraph-api', 'langgraph-runtime-inmem', 'langgraph', 'langchain-core']}))"
    )
    out = subprocess.run([str(PEER_VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def steward_versions() -> dict[str, str]:
    names = ["steward", "temporalio", "temporalio-langgraph", "langgraph", "langchain-core", "langgraph-sdk"]
    out: dict[str, str] = {}
    for n in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[n] = metadata.version(n)
    return out


# -- the measurements (the same code for both servers) ----------------------------------------------------------
async def _timed(call: Awaitable[Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = await call
    return (time.perf_counter() - t0) * 1000, value


async def measure(server: Server, runs: int, level_runs: dict[int, int]) -> dict[str, Any]:
    """Every figure for one server, with the same langgraph-sdk calls whatever the server."""
    from langgraph_sdk import get_client

    def sdk() -> Any:
        return get_client(url=server.url, api_key=server.api_key, timeout=300)

    client = sdk()

    async def three(c: Any, thread_id: str) -> float:
        ms, values = await _timed(c.runs.wait(thread_id, "three", input={"text": "hello"}))
        check_three(values)
        return ms

    async def thread() -> str:
        return str((await client.threads.create())["thread_id"])

    # Warm-up (imports, first workflow, first graph compile), the same for both servers.
    for _ in range(3):
        await three(client, await thread())

    single = [await three(client, await thread()) for _ in range(runs)]

    interrupt_ms: list[float] = []
    resume_ms: list[float] = []
    for i in range(runs):
        tid = await thread()
        ms, values = await _timed(client.runs.wait(tid, "ask", input={"text": f"case {i}"}))
        check_interrupted(values)
        interrupt_ms.append(ms)
        answer = f"yes-{i}"
        ms, values = await _timed(client.runs.wait(tid, "ask", command={"resume": answer}))
        check_resumed(values, answer)
        resume_ms.append(ms)

    first_ms: list[float] = []
    for _ in range(runs):
        tid = await thread()
        t0 = time.perf_counter()
        first: float | None = None
        last: Any = None
        async for part in client.runs.stream(tid, "three", input={"text": "hello"}, stream_mode="values"):
            if part.event == "values":
                last = part.data
            if first is None and part.event != "metadata":
                first = (time.perf_counter() - t0) * 1000
        check_three(last)
        assert first is not None, "the stream carried no event after metadata"
        first_ms.append(first)

    out: dict[str, Any] = {
        **{f"{k}_ms": v for k, v in summary_ms(single).items()},
        "interrupt_p50_ms": summary_ms(interrupt_ms)["p50"],
        "interrupt_p95_ms": summary_ms(interrupt_ms)["p95"],
        "first_event_ms": summary_ms(first_ms)["p50"],
        "first_event_p95_ms": summary_ms(first_ms)["p95"],
        "resume_ms": summary_ms(resume_ms)["p50"],
        "resume_p95_ms": summary_ms(resume_ms)["p95"],
    }
    for clients, total in level_runs.items():
        per_client = max(1, total // clients)
        sdks = [sdk() for _ in range(clients)]
        threads = [[await thread() for _ in range(per_client)] for _ in range(clients)]
        latencies: list[float] = []

        async def client_loop(c: Any, tids: list[str], into: list[float]) -> None:
            for tid in tids:
                into.append(await three(c, tid))

        cpu_before = server.cpu_s_by_part()
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(c, t, latencies) for c, t in zip(sdks, threads, strict=True)))
        wall = time.perf_counter() - t0
        cpu_after = server.cpu_s_by_part()
        out[f"runs_per_s_{clients}"] = round(clients * per_client / wall, 1)
        out[f"p50_ms_at_{clients}"] = summary_ms(latencies)["p50"]
        # Where the CPU went: on two cores, CPU per run sets the throughput ceiling.
        out[f"cpu_ms_per_run_at_{clients}"] = {
            part: round((cpu_after[part] - cpu_before.get(part, 0.0)) * 1000 / (clients * per_client), 1)
            for part in sorted(cpu_after)
        }
    return out


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def run_half(name: str, start: Callable[[Path], Awaitable[Server]], args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"peer-bench-{name}-"))
    load_before = _load()
    t0 = time.perf_counter()
    server = await start(home)
    ready_s = time.perf_counter() - t0
    try:
        with server.sampling():
            figures = await measure(server, args.runs, {c: args.runs_per_level * c for c in LEVELS})
    finally:
        server.stop()
    out = {f"{name}_{k}": v for k, v in figures.items()}
    out[f"{name}_ready_s"] = round(ready_s, 1)
    out[f"{name}_load_average_before_after"] = [load_before, _load()]
    if name == "steward":
        out["steward_rss_mb"] = peak_rss_mb(server.samples, STEWARD_SERVER_PARTS)
        out["steward_temporal_rss_mb"] = peak_rss_mb(server.samples, ("temporal",))
        out["steward_rss_by_process_mb"] = {
            p: peak_rss_mb(server.samples, (p,)) for p in ("supervisor", "api", "worker", "temporal", "other")
        }
    else:
        out["peer_rss_mb"] = peak_rss_mb(server.samples, ("server",))
    out[f"{name}_processes"] = server.max_processes
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    say = print
    result: dict[str, Any] = {"run_id": str(uuid.uuid4()), "machine": machine()}
    versions: dict[str, Any] = {"steward": steward_versions()}
    say("steward half ...")
    result.update(await run_half("steward", start_steward, args))
    skipped = None if not args.skip_peer else "--skip-peer given"
    skipped = skipped or ensure_peer_venv(say)
    if skipped is None:
        versions["peer"] = peer_versions()
        say("peer half (langgraph dev) ...")
        result.update(await run_half("peer", start_peer, args))
    else:
        say(f"peer half skipped: {skipped}")
    result["peer_skipped"] = skipped
    result["versions"] = versions
    result["ratios_steward_over_peer"] = ratios(result)
    result["runs"] = args.runs
    result["runs_per_client"] = args.runs_per_level
    result["notes"] = (
        "One run, one machine: Steward's half first, then the peer's (never both at once). Same langgraph-sdk "
        "client code for both; graphs three (3 nodes) and ask (interrupts once) from bench/peer/project, no "
        "Steward annotations. p50/p95: runs.wait on a fresh thread; first_event: runs.stream, first event "
        "after metadata; resume: runs.wait(command=resume) sent -> finished; runs_per_s_N: N clients (one SDK "
        "client each), runs_per_client runs each, back to back. RSS: peak of summed RSS sampled every 0.5 s; "
        "steward_rss_mb = API + worker + supervisor, Temporal dev server apart, model server not started (the "
        "graphs call no model). cpu_ms_per_run_at_N: CPU (user + system) of each server process per run at N "
        "clients. Steward places the graphs' nodes itself: these nodes only reshape their state, so "
        "agents.placement runs them in the workflow (no activity); a node that does I/O would be an activity. "
        "The peer (langgraph dev, in-memory) is not durable; every Steward run is a "
        "Temporal workflow with its event log. The machine is shared with other work: see the load averages."
    )
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20, help="runs per latency figure")
    ap.add_argument("--runs-per-level", type=int, default=40, help="runs per client in the throughput levels")
    ap.add_argument("--skip-peer", action="store_true", help="Steward's half only")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "peer.json"))
    a = ap.parse_args()
    out = asyncio.run(main(a))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
