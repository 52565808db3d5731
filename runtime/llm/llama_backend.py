"""llama.cpp backend with continuous batching on the low-level API.

The high-level ``llama_cpp.Llama`` decodes one sequence at a time. Here one context holds ``spec.parallel``
sequences (``n_seq_max``); each step the model thread puts the next token of every running sequence, plus
prompt chunks of newly admitted ones, into one ``llama_batch`` and calls ``llama_decode`` once. A request
joins at the next step and leaves when it ends, so a slow request never holds up a new one.

Sampling is llama.cpp's sampler chain per sequence: the grammar sampler first (JSON schema -> GBNF), then
greedy or temperature/top-p. Imported only when a llama.cpp model is loaded (``import runtime.llm`` does not
load llama.cpp).
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import _logger as llama_logger
from llama_cpp._internals import LlamaBatch, LlamaContext, LlamaModel, LlamaTokenDataArray

from runtime.llm import prompting
from runtime.llm.catalog import ModelSpec
from runtime.llm.engine import EngineRequest, GenerationParams, ModelEngine, StopMatcher, TokenChunk
from runtime.llm.metrics import REGISTRY

log = logging.getLogger(__name__)
_BACKEND_READY = False


def default_gpu_layers() -> int:
    """All layers on the GPU when this llama.cpp build can offload (CUDA/Metal/Vulkan), else none."""
    return -1 if llama_cpp.llama_supports_gpu_offload() else 0


def _init_backend() -> None:
    global _BACKEND_READY
    if not _BACKEND_READY:
        llama_logger.set_verbose(False)
        llama_cpp.llama_backend_init()
        _BACKEND_READY = True


class _Sampler:
    """llama.cpp sampler chain of one sequence, with the grammar checked lazily.

    Applying a grammar to Gemma's 262k-token vocabulary every step is slow (~11 tok/s here), so, like
    llama.cpp's own common sampler, the token is drawn without the grammar first and the grammar only
    checks that one token; only when it is rejected is the whole vocabulary masked and the draw repeated.
    """

    def __init__(self, vocab: Any, params: GenerationParams, scratch: Any) -> None:
        self.scratch = scratch
        self.greedy = params.temperature <= 0
        self.grammar = None
        self.chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        try:
            if params.grammar:
                self.grammar = llama_cpp.llama_sampler_init_grammar(vocab, params.grammar.encode(), b"root")
                if not self.grammar:
                    raise ValueError("llama.cpp rejected the grammar")
            if params.temperature <= 0:
                llama_cpp.llama_sampler_chain_add(self.chain, llama_cpp.llama_sampler_init_greedy())
            else:
                seed = params.seed if params.seed is not None else random.randrange(2**31)
                for smpl in (
                    llama_cpp.llama_sampler_init_top_k(40),
                    llama_cpp.llama_sampler_init_top_p(params.top_p, 1),
                    llama_cpp.llama_sampler_init_temp(params.temperature),
                    llama_cpp.llama_sampler_init_dist(seed),
                ):
                    llama_cpp.llama_sampler_chain_add(self.chain, smpl)
        except Exception:
            self.free()
            raise

    def sample(self, ctx: Any, idx: int) -> int:
        if self.greedy:
            # numpy's argmax over the logits is ~10x cheaper than the C chain, which first copies all
            # 262k candidates into a fresh array on every call.
            logits = llama_cpp.llama_get_logits_ith(ctx, idx)
            token = int(np.ctypeslib.as_array(logits, shape=(self.scratch.n_vocab,)).argmax())
        else:
            token = int(llama_cpp.llama_sampler_sample(self.chain, ctx, idx))
        if not self.grammar:
            return token
        one = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 1.0, 0.0))
        single = llama_cpp.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(single))
        if one[0].logit != float("-inf"):
            llama_cpp.llama_sampler_accept(self.grammar, token)
            return token
        arr = self.scratch
        logits = llama_cpp.llama_get_logits_ith(ctx, idx)
        arr.copy_logits(np.ctypeslib.as_array(logits, shape=(arr.n_vocab,)))
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(arr.candidates))
        llama_cpp.llama_sampler_apply(self.chain, ctypes.byref(arr.candidates))
        token = int(arr.candidates_data.id[arr.candidates.selected])
        llama_cpp.llama_sampler_accept(self.grammar, token)
        return token

    def free(self) -> None:
        if self.chain:
            llama_cpp.llama_sampler_free(self.chain)
            self.chain = None
        if self.grammar:
            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None


@dataclass
class _Slot:
    seq_id: int
    req: EngineRequest
    sampler: _Sampler
    stop: StopMatcher
    started_at: float
    n_past: int = 0
    n_gen: int = 0
    last_token: int = -1
    first_token_at: float | None = None
    engine_s: float = 0.0
    step_tokens: int = 0
    logits_idx: int = -1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prefilling(self) -> bool:
        return self.n_past < len(self.req.prompt_tokens)


class LlamaCppEngine(ModelEngine):
    """GGUF models through llama.cpp, several sequences decoded per step."""

    def __init__(
        self, spec: ModelSpec, path: Path, queue_size: int = 64, n_threads: int | None = None, n_batch: int = 512
    ) -> None:
        super().__init__(spec, queue_size)
        self.path = path
        self.n_threads = n_threads or os.cpu_count() or 1
        self.n_batch = n_batch
        self.n_gpu_layers = spec.n_gpu_layers
        self._pieces: dict[int, bytes] = {}

    # -- loading --------------------------------------------------------------------------------------
    def load(self) -> None:
        _init_backend()
        mparams = llama_cpp.llama_model_default_params()
        if self.n_gpu_layers is None:
            self.n_gpu_layers = default_gpu_layers()
        mparams.n_gpu_layers = self.n_gpu_layers
        self.model = LlamaModel(path_model=str(self.path), params=mparams, verbose=False)
        cparams = llama_cpp.llama_context_default_params()
        n_seq = self.spec.parallel
        # Each sequence gets the full catalog context: the KV cache is split per sequence (non-unified).
        cparams.n_ctx = self.spec.n_ctx * n_seq
        cparams.n_batch = self.n_batch
        cparams.n_ubatch = self.n_batch
        cparams.n_seq_max = n_seq
        cparams.n_threads = self.n_threads
        cparams.n_threads_batch = self.n_threads
        cparams.kv_unified = False
        self.ctx = LlamaContext(model=self.model, params=cparams, verbose=False)
        self.memory = llama_cpp.llama_get_memory(self.ctx.ctx)
        self.batch = LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=n_seq, verbose=False)
        self.vocab = self.model.vocab
        self.scratch = LlamaTokenDataArray(n_vocab=self.model.n_vocab())
        meta = self.model.metadata()
        self.template = meta.get("tokenizer.chat_template")
        self.bos_text = self.model.token_get_text(self.model.token_bos()) if self.model.token_bos() >= 0 else ""
        self.eos_text = self.model.token_get_text(self.model.token_eos()) if self.model.token_eos() >= 0 else ""
        self.add_bos = bool(self.model.add_bos_token())
        self._n_ctx_seq = int(llama_cpp.llama_n_ctx_seq(self.ctx.ctx))
        self.metadata = {k: v for k, v in meta.items() if not k.startswith("tokenizer.ggml.")}
        self._warm_up()

    def _warm_up(self) -> None:
        """Decode one token in every sequence once: the first wide step builds compute graphs (~2x slower)."""
        b = self.batch.batch
        for width in sorted({1, self.spec.parallel}):
            for i in range(width):
                b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = max(self.model.token_bos(), 0), 0, 1, True
                b.seq_id[i][0] = i
            b.n_tokens = width
            self.ctx.decode(self.batch)
            llama_cpp.llama_memory_clear(self.memory, True)

    @property
    def n_ctx(self) -> int:
        return getattr(self, "_n_ctx_seq", self.spec.n_ctx)

    @property
    def supports_grammar(self) -> bool:
        return True

    def render(self, messages: list[dict[str, str]]) -> str:
        return prompting.render(
            messages, chat_format=self.spec.chat_format, template=self.template, bos=self.bos_text, eos=self.eos_text
        )

    def tokenize(self, text: str) -> list[int]:
        # A template that writes the BOS text itself must not get a second BOS from the tokenizer.
        add_bos = self.add_bos and not (self.bos_text and text.startswith(self.bos_text))
        return self.model.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(128)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 128, 0, False)
            piece = buf.raw[: max(0, n)]
            self._pieces[token] = piece
        return piece

    # -- the model thread -----------------------------------------------------------------------------
    def _admit(self, slots: list[_Slot], free: list[int]) -> None:
        while free:
            try:
                req = self.queue.get(timeout=0.05) if not slots else self.queue.get_nowait()
            except queue.Empty:
                return
            now = time.perf_counter()
            if req.generation.cancelled:
                self._finish(req, "cancelled", 0, None, 0.0, started_at=now)
                continue
            try:
                sampler = _Sampler(self.vocab, req.params, self.scratch)
            except Exception as exc:
                self._finish(req, "error", 0, None, 0.0, error=str(exc), started_at=now)
                continue
            # The lowest free sequence and slots kept in sequence order: llama.cpp decodes a batch for a split
            # (non-unified) KV cache in one pass only when its sequences are consecutive and in order; otherwise
            # it splits the batch. Measured here, a 4-wide step in the order 1, 0, 2, 3 took 66-77 ms against
            # 43-49 ms for 0, 1, 2, 3; before this, the order drifted as requests ended and new ones took the
            # freed sequence.
            seq_id = min(free)
            free.remove(seq_id)
            slots.append(
                _Slot(seq_id=seq_id, req=req, sampler=sampler, stop=StopMatcher(req.params.stop), started_at=now)
            )
            slots.sort(key=lambda s: s.seq_id)

    def _release(self, slot: _Slot, slots: list[_Slot], free: list[int], reason: str, error: str | None = None) -> None:
        if reason != "cancelled" and error is None:
            tail = slot.stop.flush() if not slot.stop.stopped else ""
            if tail:
                self.outbox.put(slot.req.generation, TokenChunk(tail))
        llama_cpp.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
        slot.sampler.free()
        slots.remove(slot)
        free.append(slot.seq_id)
        self._finish(
            slot.req, reason, slot.n_gen, slot.first_token_at, slot.engine_s, error=error, started_at=slot.started_at
        )

    def _fill_batch(self, slots: list[_Slot]) -> int:
        b = self.batch.batch
        n = 0

        def add(token: int, pos: int, seq: int, logits: bool) -> None:
            nonlocal n
            b.token[n] = token
            b.pos[n] = pos
            b.n_seq_id[n] = 1
            b.seq_id[n][0] = seq
            b.logits[n] = logits
            n += 1

        # Running sequences first, one token each, so a long new prompt never stalls their streams.
        for s in slots:
            s.logits_idx, s.step_tokens = -1, 0
            if not s.prefilling:
                s.logits_idx = n
                s.step_tokens = 1
                add(s.last_token, s.n_past, s.seq_id, True)
        for s in slots:
            if not s.prefilling:
                continue
            room = self.n_batch - n
            if room <= 0:
                break
            prompt = s.req.prompt_tokens
            chunk = prompt[s.n_past : s.n_past + room]
            for i, tok in enumerate(chunk):
                last = s.n_past + i == len(prompt) - 1
                if last:
                    s.logits_idx = n
                add(tok, s.n_past + i, s.seq_id, last)
            s.step_tokens = len(chunk)
        b.n_tokens = n
        return n

    def _serve(self) -> None:
        slots: list[_Slot] = []
        free = list(range(self.spec.parallel))
        while not self._stopping.is_set():
            try:
                self._step(slots, free)
            except Exception as exc:  # a failed step fails its sequences, never the model thread
                log.exception("model step failed")
                for s in list(slots):
                    self._release(s, slots, free, "error", error=f"{type(exc).__name__}: {exc}")
                llama_cpp.llama_memory_clear(self.memory, True)
        for s in list(slots):
            self._release(s, slots, free, "error", error="model server stopping")
        self.outbox.flush(force=True)

    def _step(self, slots: list[_Slot], free: list[int]) -> None:
        """Admit waiting requests, decode one token of every sequence (or a prompt chunk), sample, emit."""
        name = self.spec.name
        self.outbox.flush()
        self._admit(slots, free)
        REGISTRY.set("steward_llm_queue_depth", self.queue.qsize(), model=name)
        REGISTRY.set("steward_llm_active_sequences", len(slots), model=name)
        for s in [s for s in slots if s.req.generation.cancelled]:
            self._release(s, slots, free, "cancelled")
        if not slots:
            return
        n = self._fill_batch(slots)
        self.largest_batch = max(self.largest_batch, len(slots))
        t0 = time.perf_counter()
        self.ctx.decode(self.batch)
        now = time.perf_counter()
        dt = now - t0
        for s in list(slots):
            if s.step_tokens == 0:
                continue
            s.engine_s += dt * s.step_tokens / n
            s.n_past += s.step_tokens
            if s.logits_idx < 0:
                continue
            token = s.sampler.sample(self.ctx.ctx, s.logits_idx)
            if s.first_token_at is None:
                s.first_token_at = now
            if llama_cpp.llama_vocab_is_eog(self.vocab, token):
                self._release(s, slots, free, "stop")
                continue
            s.n_gen += 1
            s.last_token = token
            text = s.stop.feed(self._piece(token))
            if text:
                self.outbox.put(s.req.generation, TokenChunk(text), urgent=s.n_gen == 1)
            if s.stop.stopped:
                self._release(s, slots, free, "stop")
            elif s.n_gen >= s.req.params.max_tokens or s.n_past + 1 >= self.n_ctx:
                self._release(s, slots, free, "length")
        REGISTRY.set("steward_llm_active_sequences", len(slots), model=name)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "backend": "llama_cpp",
            "n_gpu_layers": self.n_gpu_layers,
            "parallel": self.spec.parallel,
            "n_threads": self.n_threads,
        }
