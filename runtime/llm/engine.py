"""What every backend shares: a request, a streaming handle, and one dedicated thread per model.

The HTTP loop never touches a model: it puts an ``EngineRequest`` on the model's bounded queue and reads
the ``Generation`` handle. One thread drives each model because llama.cpp calls from several threads behind
a lock are ~20 % slower (OpenMP spin-wait), and a full queue answers 503 instead of growing memory.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from runtime.llm.catalog import ModelSpec
from runtime.llm.metrics import REGISTRY

log = logging.getLogger(__name__)


STREAM_INTERVAL_S = 0.04
"""Most time between two deliveries of a stream's tokens: 25 updates a second read as continuous."""


class QueueFull(RuntimeError):
    """The model's queue is at its bound; the caller should back off (HTTP 503)."""


class ModelStopped(RuntimeError):
    """The model's thread is not running (stopped, or died); the server answers 503."""


class ContextOverflow(ValueError):
    """The prompt does not fit the model's context (HTTP 400)."""


@dataclass
class GenerationParams:
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    grammar: str | None = None
    """GBNF text constraining every token (llama.cpp backends)."""


@dataclass
class TokenChunk:
    text: str


@dataclass
class Finished:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    queue_s: float
    ttft_s: float | None
    total_s: float
    cost_usd: float
    error: str | None = None


class Generation:
    """A request's output stream, fed by the model thread and read on the event loop.

    ``cancel()`` (a client that went away) frees the sequence slot at the model's next step.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[TokenChunk | Finished] = asyncio.Queue()
        self._cancelled = threading.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def put_local(self, item: TokenChunk | Finished) -> None:
        """On the loop's own thread (see ``Outbox``)."""
        self._queue.put_nowait(item)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    async def __aiter__(self) -> AsyncIterator[TokenChunk | Finished]:
        while True:
            item = await self._queue.get()
            yield item
            if isinstance(item, Finished):
                return


class Outbox:
    """Collects the model thread's output and hands it to each event loop in few wake-ups.

    On a small machine every wake-up of the HTTP loop (and every SSE event a client parses) takes a core
    from llama.cpp's threads, which wait for each other at every barrier. So tokens are delivered at most
    every ``interval_s`` (first tokens and ends at once, so time to first token is unchanged), and a
    stream's tokens in one delivery are merged into one chunk.
    """

    def __init__(self, interval_s: float = 0.0) -> None:
        self.interval_s = interval_s
        self._items: dict[asyncio.AbstractEventLoop, list[tuple[Generation, TokenChunk | Finished]]] = {}
        self._last = 0.0
        self._urgent = False

    def put(self, generation: Generation, item: TokenChunk | Finished, urgent: bool = False) -> None:
        self._items.setdefault(generation.loop, []).append((generation, item))
        if urgent or isinstance(item, Finished):
            self._urgent = True

    def flush(self, force: bool = False) -> None:
        if not self._items:
            return
        now = time.perf_counter()
        if not (force or self._urgent or now - self._last >= self.interval_s):
            return
        self._last, self._urgent = now, False
        items, self._items = self._items, {}
        for loop, batch in items.items():
            try:
                loop.call_soon_threadsafe(_deliver, _merge(batch))
            except RuntimeError:  # that loop closed: nobody is listening any more
                for gen, _ in batch:
                    gen.cancel()


def _merge(
    batch: list[tuple[Generation, TokenChunk | Finished]],
) -> list[tuple[Generation, TokenChunk | Finished]]:
    """One text chunk per stream (before its end, if it ended), order within each stream kept."""
    out: list[tuple[Generation, TokenChunk | Finished]] = []
    pending: dict[int, tuple[Generation, list[str]]] = {}
    for gen, item in batch:
        if isinstance(item, TokenChunk):
            pending.setdefault(id(gen), (gen, []))[1].append(item.text)
            continue
        if id(gen) in pending:
            out.append((gen, TokenChunk("".join(pending.pop(id(gen))[1]))))
        out.append((gen, item))
    out.extend((gen, TokenChunk("".join(parts))) for gen, parts in pending.values())
    return out


def _deliver(batch: list[tuple[Generation, TokenChunk | Finished]]) -> None:
    for gen, item in batch:
        gen.put_local(item)


@dataclass
class EngineRequest:
    prompt_tokens: list[int]
    params: GenerationParams
    generation: Generation
    arrived: float = field(default_factory=time.perf_counter)


class StopMatcher:
    """Incremental detokenization plus stop strings, holding back text that may be a stop's prefix."""

    def __init__(self, stops: list[str]) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._pending = ""
        self.stopped = False

    def feed(self, piece: bytes) -> str:
        """Text safe to emit now; sets ``stopped`` when a stop string appeared (it is not emitted)."""
        self._pending += self._decoder.decode(piece)
        for s in self._stops:
            idx = self._pending.find(s)
            if idx >= 0:
                self.stopped = True
                out, self._pending = self._pending[:idx], ""
                return out
        if self._hold <= 0:
            out, self._pending = self._pending, ""
            return out
        cut = max(0, len(self._pending) - self._hold)
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out

    def flush(self) -> str:
        out = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return out


class ModelEngine(ABC):
    """A loaded model behind a bounded queue, driven by its own thread."""

    def __init__(self, spec: ModelSpec, queue_size: int = 64) -> None:
        self.spec = spec
        self.queue: queue.Queue[EngineRequest] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.load_s = 0.0
        self.busy_s = 0.0
        self.completion_tokens = 0
        self.outbox = Outbox(STREAM_INTERVAL_S)
        self.largest_batch = 0

    # -- what a backend provides --------------------------------------------------------------------
    @abstractmethod
    def load(self) -> None:
        """Load weights (called once, before the thread starts)."""

    @abstractmethod
    def render(self, messages: list[dict[str, str]]) -> str:
        """Prompt text for plain role/content messages."""

    @abstractmethod
    def tokenize(self, text: str) -> list[int]:
        """Token ids of a rendered prompt; must be safe to call from the HTTP threads."""

    @property
    @abstractmethod
    def n_ctx(self) -> int:
        """Context length of one sequence."""

    @property
    def supports_grammar(self) -> bool:
        return False

    @abstractmethod
    def _serve(self) -> None:
        """The model thread's loop: take requests from ``self.queue`` until ``self._stopping``."""

    # -- shared -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the model's thread, which loads the model (warm-up included) and then serves; returns once the
        model is loaded, raising what the load raised.

        Every llama.cpp (or torch) computation runs on that one thread, the warm-up too. OpenMP keeps a pool of
        worker threads per thread that computes: a warm-up on the caller's thread left a second, idle pool, and
        with more OpenMP threads than cores libgomp gives up spin-waiting at its barriers (one per graph node,
        ~760 per step here) and sleeps on a futex at each. Measured on 2 cores: a 1-wide step took 61.6 ms
        instead of 18.0, a 4-wide step 88.9 instead of 43.8, and the serving engine used about one core.
        """
        loaded = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                t0 = time.perf_counter()
                self.load()
                self.load_s = time.perf_counter() - t0
                # Before start() returns, so a caller never reads the gauges of a model it was told is loaded.
                REGISTRY.set("steward_llm_model_loaded", 1, model=self.spec.name)
                REGISTRY.set("steward_llm_load_seconds", self.load_s, model=self.spec.name)
            except BaseException as exc:
                failed.append(exc)
                return
            finally:
                loaded.set()
            self._serve_guarded()

        self._thread = threading.Thread(target=run, name=f"llm-{self.spec.name}", daemon=True)
        self._thread.start()
        loaded.wait()
        if failed:
            self._thread.join()
            raise failed[0]

    def _serve_guarded(self) -> None:
        try:
            self._serve()
        except Exception:
            log.exception("model thread of %s died", self.spec.name)
        finally:
            REGISTRY.set("steward_llm_model_loaded", 0, model=self.spec.name)
            # Nobody will serve what is still queued: answer it rather than leave clients waiting.
            while True:
                try:
                    req = self.queue.get_nowait()
                except queue.Empty:
                    break
                self._finish(req, "error", 0, None, 0.0, error=f"model {self.spec.name!r} stopped")
            self.outbox.flush(force=True)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, request: EngineRequest) -> None:
        if self._thread is not None and not self._thread.is_alive():
            raise ModelStopped(f"model {self.spec.name!r} is not running")
        if len(request.prompt_tokens) >= self.n_ctx:
            raise ContextOverflow(
                f"prompt is {len(request.prompt_tokens)} tokens; model {self.spec.name!r} context length is "
                f"{self.n_ctx}"
            )
        try:
            self.queue.put_nowait(request)
        except queue.Full:
            REGISTRY.inc("steward_llm_errors_total", model=self.spec.name, kind="queue_full")
            raise QueueFull(f"model {self.spec.name!r} queue is full ({self.queue.maxsize} waiting)") from None
        REGISTRY.set("steward_llm_queue_depth", self.queue.qsize(), model=self.spec.name)

    def _finish(
        self,
        req: EngineRequest,
        reason: str,
        completion_tokens: int,
        first_token_at: float | None,
        engine_s: float,
        error: str | None = None,
        started_at: float | None = None,
    ) -> None:
        """Report the end of a request and record its metrics; ``engine_s`` is its share of model time."""
        now = time.perf_counter()
        name = self.spec.name
        cost = self.spec.price_per_hour * engine_s / 3600.0
        ttft = (first_token_at - req.arrived) if first_token_at else None
        total = now - req.arrived
        self.outbox.put(
            req.generation,
            Finished(
                finish_reason=reason,
                prompt_tokens=len(req.prompt_tokens),
                completion_tokens=completion_tokens,
                queue_s=(started_at or now) - req.arrived,
                ttft_s=ttft,
                total_s=total,
                cost_usd=cost,
                error=error,
            ),
        )
        outcome = "error" if error else ("cancelled" if reason == "cancelled" else "ok")
        REGISTRY.inc("steward_llm_requests_total", model=name, outcome=outcome)
        if error:
            REGISTRY.inc("steward_llm_errors_total", model=name, kind="engine")
            return
        self.busy_s += engine_s
        self.completion_tokens += completion_tokens
        REGISTRY.observe("steward_llm_request_latency_seconds", total, model=name)
        if started_at is not None:
            REGISTRY.observe("steward_llm_queue_wait_seconds", started_at - req.arrived, model=name)
        if ttft is not None:
            REGISTRY.observe("steward_llm_time_to_first_token_seconds", ttft, model=name)
            gen_s = now - (first_token_at or now)
            if completion_tokens > 1 and gen_s > 0:
                REGISTRY.observe("steward_llm_tokens_per_second", (completion_tokens - 1) / gen_s, model=name)
        REGISTRY.inc("steward_llm_prompt_tokens_total", len(req.prompt_tokens), model=name)
        REGISTRY.inc("steward_llm_completion_tokens_total", completion_tokens, model=name)
        REGISTRY.observe("steward_llm_cost_per_prediction_usd", cost, model=name)
        REGISTRY.inc("steward_llm_cost_usd_total", cost, model=name)
        if self.completion_tokens:
            per_1k = self.spec.price_per_hour * self.busy_s / 3600.0 / self.completion_tokens * 1000
            REGISTRY.set("steward_llm_cost_per_1k_tokens_usd", per_1k, model=name)

    def describe(self) -> dict[str, Any]:
        return {
            "loaded": self.alive,
            "load_s": round(self.load_s, 3),
            "n_ctx": self.n_ctx,
            "queue_depth": self.queue.qsize(),
            "grammar": self.supports_grammar,
        }
