"""LLM serving benchmark -> bench/results/llm.json.

In one run, on this machine: bare ``llama_cpp.Llama`` decode speed on the default model vs the same model
through Steward's model server over HTTP; time to first token; aggregate tokens/s with 1 and 4 concurrent
clients (continuous batching); tool-call validity over varied prompts; tool-choice accuracy on a small
labelled set for every catalog model whose weights are present; the server's RSS; cold start to first token.

The machine is shared (2 cores here, other work running), so paired measurements are interleaved and the
median of the rounds is reported, with the load average recorded next to them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import httpx  # noqa: E402
import jsonschema  # noqa: E402
import psutil  # noqa: E402

from bench._common import machine, pct  # noqa: E402
from runtime.devserver import free_port  # noqa: E402
from runtime.llm import prompting  # noqa: E402
from runtime.llm.catalog import build_catalog, model_status, resolve_weights  # noqa: E402
from runtime.settings import Settings  # noqa: E402

DEFAULT_MODEL = "gemma3-270m"
STORY = "Write a long story about a lighthouse keeper and the sea."


# -- tools and labelled prompts ---------------------------------------------------------------------------
def _fn(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


APP_ID = {"type": "string", "maxLength": 16}
TOOLS = [
    _fn(
        "credit_check",
        "Run a credit check on an applicant before any decision.",
        {"applicant_id": APP_ID, "amount": {"type": "number"}},
        ["applicant_id", "amount"],
    ),
    _fn(
        "approve_loan",
        "Approve a loan application that passed the checks.",
        {"application_id": APP_ID, "amount": {"type": "number"}},
        ["application_id", "amount"],
    ),
    _fn(
        "decline_loan",
        "Decline a loan application, giving a reason.",
        {"application_id": APP_ID, "reason": {"type": "string", "maxLength": 60}},
        ["application_id", "reason"],
    ),
    _fn(
        "refer_to_underwriter",
        "Send a borderline application to a human underwriter.",
        {"application_id": APP_ID, "reason": {"type": "string", "maxLength": 60}},
        ["application_id", "reason"],
    ),
    _fn(
        "notify_customer",
        "Send the customer a short message.",
        {"applicant_id": APP_ID, "message": {"type": "string", "maxLength": 80}},
        ["applicant_id", "message"],
    ),
    _fn(
        "request_documents",
        "Ask the applicant for missing documents.",
        {
            "applicant_id": APP_ID,
            "documents": {"type": "array", "items": {"type": "string", "maxLength": 24}, "maxItems": 4},
        },
        ["applicant_id", "documents"],
    ),
]
BY_NAME = {t["function"]["name"]: t for t in TOOLS}

LABELLED = [
    ("Application L-1 from applicant P-1 for 12000 has arrived. No checks have run yet.", "credit_check"),
    ("Applicant P-2 asks for 5000. Start by checking their credit.", "credit_check"),
    ("Credit check for L-3 came back band A, income verified. Approve the 8000 loan.", "approve_loan"),
    ("L-4 passed every check with band B; the 3000 loan can be approved now.", "approve_loan"),
    ("L-5 has credit band D and two recent defaults. Decline it.", "decline_loan"),
    ("Reject application L-6: the applicant's score is far below policy.", "decline_loan"),
    ("L-7 is band C, borderline; a human underwriter should look at it.", "refer_to_underwriter"),
    ("The rules cannot decide L-8 (self-employed, band C). Escalate it to underwriting.", "refer_to_underwriter"),
    ("Tell applicant P-9 by message that their application was received.", "notify_customer"),
    ("Let customer P-10 know that their loan was approved.", "notify_customer"),
    ("Applicant P-11 did not send a payslip or ID. Ask them for these documents.", "request_documents"),
    ("P-12's bank statements are missing; request them from the applicant.", "request_documents"),
]
VARIED = [
    "Applicant {a} wants {n} for a car.",
    "Please handle application {a} ({n} requested).",
    "New request: {a}, amount {n}, purpose home repair.",
    "{a} has band {b}. What next?",
    "Customer {a} emailed asking about their {n} loan.",
    "Application {a} is missing an ID document.",
    "Underwriting asked for a summary of {a}.",
    "Credit band {b} for {a}; amount {n}.",
    "Process {a} quickly, the amount is {n}.",
    "Check {a} before deciding on {n}.",
]


def varied_prompts(count: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """Prompts with different wording, numbers and offered tool subsets (2-6 tools each)."""
    out = []
    for i in range(count):
        text = VARIED[i % len(VARIED)].format(a=f"A-{100 + i}", n=1000 * (i + 3), b="ABCD"[i % 4])
        k = 2 + i % 5
        tools = [TOOLS[(i + j) % len(TOOLS)] for j in range(k)]
        out.append((text, tools))
    return out


# -- server process -----------------------------------------------------------------------------------------
class Server:
    def __init__(self, home: Path, models: list[str]) -> None:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/v1/chat/completions"
        env = {**os.environ, "STEWARD_HOME": str(home)}
        argv = [sys.executable, "-c", "from runtime.cli import main; main()", "model-server", "--port", str(self.port)]
        for m in models:
            argv += ["--model", m]
        self.log = (home / "server.log").open("wb")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("model server exited; see its log")
            try:
                if httpx.get(f"{self.root}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("model server did not start")

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def stream_one(client: httpx.AsyncClient, url: str, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    """One streamed completion: client-side time to first token and decode speed after it."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
    }
    t0 = time.perf_counter()
    first = None
    usage: dict[str, Any] = {}
    async with client.stream("POST", url, json=body) as r:
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                usage = data["usage"]
            if first is None and data["choices"] and data["choices"][0]["delta"].get("content"):
                first = time.perf_counter()
    end = time.perf_counter()
    n = int(usage.get("completion_tokens", 0))
    first = first or end
    return {
        "ttft_s": first - t0,
        "total_s": end - t0,
        "tokens": n,
        "decode_tok_s": (n - 1) / (end - first) if n > 1 and end > first else 0.0,
    }


def bare_run(llm: Any, prompt: str, max_tokens: int) -> dict[str, Any]:
    """The same measurement on bare llama-cpp-python (high-level ``Llama``, streaming)."""
    t0 = time.perf_counter()
    first, n = None, 0
    for chunk in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0, stream=True):
        if chunk["choices"][0]["text"] and first is None:
            first = time.perf_counter()
        n += 1
    end = time.perf_counter()
    first = first or end
    return {"ttft_s": first - t0, "tokens": n, "decode_tok_s": (n - 1) / (end - first) if n > 1 else 0.0}


async def aggregate(url: str, model: str, clients: int, per_client: int, max_tokens: int) -> float:
    async with httpx.AsyncClient(timeout=300) as client:

        async def worker(c: int) -> int:
            total = 0
            for i in range(per_client):
                total += (await stream_one(client, url, model, f"{STORY} Version {c}.{i}.", max_tokens))["tokens"]
            return total

        t0 = time.perf_counter()
        tokens = sum(await asyncio.gather(*[worker(c) for c in range(clients)]))
        return tokens / (time.perf_counter() - t0)


async def engine_aggregate(engine: Any, clients: int, per_client: int, max_tokens: int) -> float:
    """The HTTP aggregate's load on the engine itself, in process: the same prompts, rendering and budget,
    submitted straight to the model thread. Beside the HTTP figure it shows what the HTTP layer costs."""
    from runtime.llm.engine import EngineRequest, Finished, Generation, GenerationParams

    loop = asyncio.get_running_loop()

    async def one(prompt: str) -> int:
        gen = Generation(loop)
        tokens = engine.tokenize(engine.render([{"role": "user", "content": prompt}]))
        engine.submit(EngineRequest(tokens, GenerationParams(max_tokens=max_tokens), gen))
        async for item in gen:
            if isinstance(item, Finished):
                return int(item.completion_tokens)
        return 0

    async def worker(c: int) -> int:
        return sum([await one(f"{STORY} Version {c}.{i}.") for i in range(per_client)])

    t0 = time.perf_counter()
    tokens = sum(await asyncio.gather(*[worker(c) for c in range(clients)]))
    return tokens / (time.perf_counter() - t0)


def decode_steps_ms(engine: Any, steps: int = 30) -> dict[str, float]:
    """Median time of one ``llama_decode`` step at each batch width, one token per sequence (in order), on a
    loaded engine whose model thread was never started: how much a 4-wide step costs against a 1-wide one
    bounds the batching gain on this CPU whatever the serving layer does (gain <= 4 * step(1) / step(4)).
    Run in a process of its own (``--decode-steps``): a process whose threads compute on two OpenMP pools is
    slower on both."""
    import llama_cpp

    b, out = engine.batch.batch, {}
    for width in range(1, engine.spec.parallel + 1):
        llama_cpp.llama_memory_clear(engine.memory, True)
        times = []
        for pos in range(steps + 10):
            for i in range(width):
                b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = 1000 + i, pos, 1, True
                b.seq_id[i][0] = i
            b.n_tokens = width
            t0 = time.perf_counter()
            engine.ctx.decode(engine.batch)
            if pos >= 10:  # the first positions warm caches
                times.append(time.perf_counter() - t0)
        out[str(width)] = round(statistics.median(times) * 1000, 2)
    llama_cpp.llama_memory_clear(engine.memory, True)
    return out


class EngineRunner:
    """The default model's engine in a child process (``--engine-runner``), driven over stdin/stdout.

    Not in this process: here the bare ``Llama`` decodes on the main thread, and a second thread computing
    with llama.cpp in the same process (a second OpenMP pool) slows both."""

    def __init__(self, home: Path) -> None:
        env = {**os.environ, "STEWARD_HOME": str(home)}
        self.log = (home / "engine-runner.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--engine-runner"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self._read()  # "ready"

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("engine runner exited; see engine-runner.log")
        return dict(json.loads(line))

    async def aggregate(self, clients: int, per_client: int, max_tokens: int) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{clients} {per_client} {max_tokens}\n")
        self.proc.stdin.flush()
        return float((await asyncio.to_thread(self._read))["tok_s"])

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


async def _engine_runner() -> None:
    from runtime.llm.server import make_engine

    settings = Settings()
    engine = make_engine(build_catalog(settings)[DEFAULT_MODEL], settings)
    engine.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        clients, per_client, max_tokens = (int(x) for x in line.split())
        print(json.dumps({"tok_s": await engine_aggregate(engine, clients, per_client, max_tokens)}), flush=True)
    engine.stop()


def _decode_steps() -> None:
    from runtime.llm.server import make_engine

    settings = Settings()
    engine = make_engine(build_catalog(settings)[DEFAULT_MODEL], settings)
    engine.load()
    print(json.dumps(decode_steps_ms(engine)), flush=True)


def measure_decode_steps(home: Path) -> dict[str, float]:
    env = {**os.environ, "STEWARD_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, __file__, "--decode-steps"], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def tool_request(model: str, prompt: str, tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": model,
        "tool_choice": "required",
        "tools": tools,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You are a loan-triage assistant. Pick the right tool."},
            {"role": "user", "content": prompt},
        ],
    }


def valid_call(resp: dict[str, Any], tools: list[dict[str, Any]]) -> tuple[bool, str | None]:
    """Parseable, names an offered tool, and its arguments validate against that tool's schema."""
    try:
        call = resp["choices"][0]["message"]["tool_calls"][0]["function"]
        offered = {t["function"]["name"]: t for t in tools}
        args = json.loads(call["arguments"])
        jsonschema.validate(args, offered[call["name"]]["function"]["parameters"])
        return True, call["name"]
    except (KeyError, IndexError, TypeError, json.JSONDecodeError, jsonschema.ValidationError):
        return False, None


async def tool_calls(
    url: str, model: str, cases: list[tuple[str, list[dict[str, Any]]]], concurrency: int = 4
) -> list[tuple[bool, str | None]]:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=300) as client:

        async def one(prompt: str, tools: list[dict[str, Any]]) -> tuple[bool, str | None]:
            async with sem:
                r = await client.post(url, json=tool_request(model, prompt, tools))
                return valid_call(r.json(), tools) if r.status_code == 200 else (False, None)

        return await asyncio.gather(*[one(p, t) for p, t in cases])


async def main(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="steward-llm-bench-"))
    settings = Settings(home=home)
    catalog = build_catalog(settings)
    spec = catalog[DEFAULT_MODEL]
    weights = resolve_weights(spec, settings)  # assembled (sha256-checked) before the clock starts
    load_start = os.getloadavg()

    # Cold start: process launch -> model loaded -> first streamed token.
    server = Server(home, [DEFAULT_MODEL])
    server.wait_ready()
    async with httpx.AsyncClient(timeout=300) as client:
        await stream_one(client, server.url, DEFAULT_MODEL, "Hello.", 1)
    cold_start_s = time.perf_counter() - server.t0

    from llama_cpp import Llama

    threads = os.cpu_count() or 1
    bare = Llama(str(weights), n_ctx=spec.n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
    bare_prompt = prompting.render_gemma([{"role": "user", "content": STORY}])
    bare_run(bare, bare_prompt, 8)  # warm-up

    # Bare vs Steward, interleaved rounds on the same prompt and token budget.
    bare_rates, steward_rates, ttfts = [], [], []
    async with httpx.AsyncClient(timeout=300) as client:
        await stream_one(client, server.url, DEFAULT_MODEL, STORY, 8)
        for _ in range(args.rounds):
            bare_rates.append(bare_run(bare, bare_prompt, args.max_tokens)["decode_tok_s"])
            steward_rates.append(
                (await stream_one(client, server.url, DEFAULT_MODEL, STORY, args.max_tokens))["decode_tok_s"]
            )
        del bare
        for i in range(args.ttft_runs):
            r = await stream_one(client, server.url, DEFAULT_MODEL, f"Name a fruit ({i}).", 4)
            ttfts.append(r["ttft_s"] * 1000)

    # The same engine without HTTP, in a child process (the server idles meanwhile); decode step time per batch
    # width in another.
    steps_ms = measure_decode_steps(home)
    engine = EngineRunner(home)

    # Aggregate throughput, 1 vs 4 concurrent clients, over HTTP and in process, interleaved.
    agg1, agg4, eng1, eng4 = [], [], [], []
    for _ in range(args.agg_rounds):
        agg1.append(await aggregate(server.url, DEFAULT_MODEL, 1, 2, args.agg_tokens))
        agg4.append(await aggregate(server.url, DEFAULT_MODEL, 4, 2, args.agg_tokens))
        eng1.append(await engine.aggregate(1, 2, args.agg_tokens))
        eng4.append(await engine.aggregate(4, 2, args.agg_tokens))
    engine.stop()
    # Short replies: each request's prompt prefill and round trip weigh more, so batching gains less.
    short1, short4 = [], []
    for _ in range(args.short_rounds):
        short1.append(await aggregate(server.url, DEFAULT_MODEL, 1, 2, args.short_tokens))
        short4.append(await aggregate(server.url, DEFAULT_MODEL, 4, 2, args.short_tokens))

    # Tool-call validity on varied prompts and tool subsets.
    validity = await tool_calls(server.url, DEFAULT_MODEL, varied_prompts(args.tool_prompts))
    server_rss = server.rss_mb()
    server.stop()

    # Tool-choice accuracy for every catalog model whose weights are here (its own server each).
    accuracy: dict[str, Any] = {}
    for name, mspec in sorted(catalog.items()):
        if mspec.backend != "llama_cpp" or not model_status(mspec, settings)["present"]:
            accuracy[name] = {
                "skipped": "weights not present"
                if mspec.backend == "llama_cpp"
                else "no constrained decoding on this backend"
            }
            continue
        s = Server(home, [name])
        s.wait_ready()
        try:
            got = await tool_calls(s.url, name, [(p, TOOLS) for p, _ in LABELLED])
        finally:
            s.stop()
        correct = sum(1 for (ok, chosen), (_, want) in zip(got, LABELLED, strict=True) if ok and chosen == want)
        accuracy[name] = {
            "correct": correct,
            "total": len(LABELLED),
            "accuracy": round(correct / len(LABELLED), 3),
            "chosen": [c for _, c in got],
            "weights": model_status(mspec, settings)["path"],
        }

    bare_tok_s = statistics.median(bare_rates)
    steward_tok_s = statistics.median(steward_rates)
    a1, a4 = statistics.median(agg1), statistics.median(agg4)
    valid = sum(1 for ok, _ in validity if ok)
    return {
        "model": DEFAULT_MODEL,
        "bare_tok_s": round(bare_tok_s, 1),
        "steward_tok_s": round(steward_tok_s, 1),
        # Paired per round (each round runs both, back to back), so drift in the machine's load cancels.
        "ratio_to_bare": round(statistics.median(s / b for s, b in zip(steward_rates, bare_rates, strict=True)), 3),
        "ttft_p50_ms": round(pct(ttfts, 0.5), 1),
        "ttft_p95_ms": round(pct(ttfts, 0.95), 1),
        "agg_tok_s_1": round(a1, 1),
        "agg_tok_s_4": round(a4, 1),
        "concurrency_gain": round(statistics.median(f / o for f, o in zip(agg4, agg1, strict=True)), 3),
        "engine_alone": {
            "agg_tok_s_1": round(statistics.median(eng1), 1),
            "agg_tok_s_4": round(statistics.median(eng4), 1),
            "concurrency_gain": round(statistics.median(f / o for f, o in zip(eng4, eng1, strict=True)), 3),
            "decode_step_ms": steps_ms,
            "gain_ceiling": round(4 * steps_ms["1"] / steps_ms["4"], 3),
        },
        "short_replies": {
            "tokens": args.short_tokens,
            "agg_tok_s_1": round(statistics.median(short1), 1),
            "agg_tok_s_4": round(statistics.median(short4), 1),
            "concurrency_gain": round(statistics.median(f / o for f, o in zip(short4, short1, strict=True)), 3),
        },
        "tool_call_valid_rate": round(valid / len(validity), 3),
        "tool_call_prompts": len(validity),
        "tool_choice_accuracy": accuracy,
        "server_rss_mb": round(server_rss, 1),
        "cold_start_s": round(cold_start_s, 2),
        "machine": machine(),
        "gpu": None,
        "load_average_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        "best_rounds": {
            "bare_tok_s": round(max(bare_rates), 1),
            "steward_tok_s": round(max(steward_rates), 1),
            "ratio_to_bare": round(max(steward_rates) / max(bare_rates), 3),
            "agg_tok_s_1": round(max(agg1), 1),
            "agg_tok_s_4": round(max(agg4), 1),
            "concurrency_gain": round(max(agg4) / max(agg1), 3),
        },
        "rounds": {
            "bare_tok_s": [round(x, 1) for x in bare_rates],
            "steward_tok_s": [round(x, 1) for x in steward_rates],
            "agg_tok_s_1": [round(x, 1) for x in agg1],
            "agg_tok_s_4": [round(x, 1) for x in agg4],
            "engine_agg_tok_s_1": [round(x, 1) for x in eng1],
            "engine_agg_tok_s_4": [round(x, 1) for x in eng4],
        },
        "notes": (
            f"decode tokens/s after the first token, greedy, {args.max_tokens} tokens, {args.rounds} rounds, each "
            "running bare then Steward back to back; bare = llama_cpp.Llama.create_completion(stream=True) with "
            "the same threads and prompt, Steward = HTTP streaming through the model server (a separate process); "
            "ratio_to_bare and concurrency_gain are "
            "medians of the per-round ratios, the tok/s figures medians of the rounds; ttft = client-side, short "
            f"prompts, one at a time; aggregate = 2 requests per client of {args.agg_tokens} tokens, 1 client then "
            f"4 clients per round, {args.agg_rounds} rounds, wall time (short_replies: the same with "
            f"{args.short_tokens}-token replies); engine_alone = the same aggregate load submitted to the same engine "
            "in the benchmark's process (no HTTP), interleaved with the HTTP rounds; decode_step_ms = median "
            "llama_decode time of one token per sequence at each batch width, gain_ceiling = 4 x step(1) / "
            "step(4), the most 4-wide batching can give on this CPU; tool calls with tool_choice=required, "
            "valid = parses, names an offered tool, arguments validate against its schema; server RSS after the "
            "load test; cold start = process launch to first streamed token. The machine is shared with other "
            "work (see load_average_start_end); best_rounds = the least disturbed round of each. No GPU was "
            "available: no GPU figures."
        ),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--ttft-runs", type=int, default=20)
    ap.add_argument("--agg-rounds", type=int, default=8)
    ap.add_argument("--agg-tokens", type=int, default=96)
    ap.add_argument("--short-rounds", type=int, default=6)
    ap.add_argument("--short-tokens", type=int, default=32)
    ap.add_argument("--tool-prompts", type=int, default=50)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "llm.json"))
    ap.add_argument("--engine-runner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--decode-steps", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.engine_runner:
        asyncio.run(_engine_runner())
        sys.exit(0)
    if a.decode_steps:
        _decode_steps()
        sys.exit(0)
    out = asyncio.run(main(a))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
