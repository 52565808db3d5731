"""transformers + accelerate backend: any HF model directory, or a GGUF through ``gguf_file``.

``device_map="auto"`` lets accelerate place the weights (GPU when present, CPU otherwise) and the dtype
follows the device: bf16/fp16 on CUDA, fp32 on CPU (fp16 matmuls are slow or missing there). Requests that
arrive together are batched natively (left padding, one ``generate`` call); a batch runs to its end, so
unlike the llama.cpp engine a newcomer waits for the current batch. Constrained decoding is not offered
here: tools and ``response_format`` need a llama.cpp model. Note that transformers dequantizes a GGUF to
full precision (Gemma 270M: ~47 s and 1.6 GB here); convert once and load the directory instead.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from runtime.llm import prompting
from runtime.llm.catalog import ModelSpec
from runtime.llm.engine import EngineRequest, ModelEngine, StopMatcher, TokenChunk
from runtime.llm.metrics import REGISTRY

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pick_device() -> tuple[str, Any]:
    """(device, dtype) for this machine: CUDA with bf16 (fp16 on older cards), else CPU with fp32."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "cpu", torch.float32


class _Row:
    def __init__(self, req: EngineRequest, started_at: float) -> None:
        self.req = req
        self.started_at = started_at
        self.tokens: list[int] = []
        self.text = ""
        self.stop = StopMatcher(req.params.stop)
        self.done = False
        self.reason = "length"
        self.first_token_at: float | None = None


class TransformersEngine(ModelEngine):
    """An HF causal LM driven by one thread, batching requests that arrive together."""

    def __init__(self, spec: ModelSpec, path: Path, queue_size: int = 64) -> None:
        super().__init__(spec, queue_size)
        self.path = path
        self._held: deque[EngineRequest] = deque()
        self._lock = threading.Lock()

    def load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device, self.dtype = pick_device()
        directory, gguf = (self.path.parent, self.path.name) if self.path.is_file() else (self.path, None)
        gguf = self.spec.gguf_file or gguf
        kwargs: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory), **kwargs)
        self.model = AutoModelForCausalLM.from_pretrained(str(directory), device_map="auto", dtype=self.dtype, **kwargs)
        self.model.eval()
        tok = self.tokenizer
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
        limit = getattr(self.model.config, "max_position_embeddings", None) or self.spec.n_ctx
        self._n_ctx = min(self.spec.n_ctx, int(limit))

    @property
    def n_ctx(self) -> int:
        return getattr(self, "_n_ctx", self.spec.n_ctx)

    def render(self, messages: list[dict[str, str]]) -> str:
        template = getattr(self.tokenizer, "chat_template", None)
        if template and not self.spec.chat_format:
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return prompting.render(messages, chat_format=self.spec.chat_format, template=None)

    def tokenize(self, text: str) -> list[int]:
        bos = self.tokenizer.bos_token or ""
        with self._lock:  # fast tokenizers are not safe to share across threads mid-call
            return list(self.tokenizer.encode(text, add_special_tokens=not (bos and text.startswith(bos))))

    # -- the model thread -----------------------------------------------------------------------------
    def _next_batch(self) -> list[EngineRequest]:
        first = self._held.popleft() if self._held else None
        if first is None:
            try:
                first = self.queue.get(timeout=0.05)
            except queue.Empty:
                return []
        batch = [first]
        key = (first.params.temperature, first.params.top_p)
        while len(batch) < self.spec.parallel:
            try:
                req = self.queue.get_nowait()
            except queue.Empty:
                break
            # One generate call has one sampling setup: others wait for the next batch.
            (batch if (req.params.temperature, req.params.top_p) == key else self._held).append(req)
        return batch

    def _serve(self) -> None:
        while not self._stopping.is_set():
            self.outbox.flush()
            batch = [r for r in self._next_batch() if not self._drop_cancelled(r)]
            REGISTRY.set("steward_llm_queue_depth", self.queue.qsize() + len(self._held), model=self.spec.name)
            if not batch:
                continue
            REGISTRY.set("steward_llm_active_sequences", len(batch), model=self.spec.name)
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                self._generate(batch)
            except Exception as exc:  # one bad batch fails its requests, never the thread
                for r in batch:
                    self._finish(r, "error", 0, None, 0.0, error=f"{type(exc).__name__}: {exc}")
            REGISTRY.set("steward_llm_active_sequences", 0, model=self.spec.name)
        self.outbox.flush(force=True)

    def _drop_cancelled(self, req: EngineRequest) -> bool:
        if req.generation.cancelled:
            self._finish(req, "cancelled", 0, None, 0.0)
            return True
        return False

    def _generate(self, batch: list[EngineRequest]) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        started = time.perf_counter()
        rows = [_Row(r, started) for r in batch]
        tok = self.tokenizer
        width = max(len(r.prompt_tokens) for r in batch)
        pad = tok.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r.prompt_tokens)) + r.prompt_tokens for r in batch])
        mask = torch.tensor([[0] * (width - len(r.prompt_tokens)) + [1] * len(r.prompt_tokens) for r in batch])
        device = self.model.device
        gen_eos = self.model.generation_config.eos_token_id
        eos = {*(gen_eos if isinstance(gen_eos, list) else [gen_eos]), tok.eos_token_id} - {None}
        engine = self

        class _Rows(StoppingCriteria):
            """Feeds each step's tokens to its row and tells generate which rows are finished."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                now = time.perf_counter()
                last = input_ids[:, -1].tolist()
                for row, token in zip(rows, last, strict=True):
                    if row.done:
                        continue
                    if row.first_token_at is None:
                        row.first_token_at = now
                    if token in eos:
                        row.done, row.reason = True, "stop"
                        continue
                    row.tokens.append(token)
                    full = str(tok.decode(row.tokens, skip_special_tokens=True))
                    if not full.endswith("\ufffd"):
                        out = row.stop.feed(full[len(row.text) :].encode())
                        row.text = full
                        if out:
                            engine.outbox.put(row.req.generation, TokenChunk(out), urgent=len(row.tokens) == 1)
                    if row.stop.stopped:
                        row.done, row.reason = True, "stop"
                    elif len(row.tokens) >= row.req.params.max_tokens:
                        row.done, row.reason = True, "length"
                    elif row.req.generation.cancelled:
                        row.done, row.reason = True, "cancelled"
                engine.outbox.flush()
                return torch.tensor([r.done for r in rows], device=input_ids.device)

        p = batch[0].params
        sampling: dict[str, Any] = {"do_sample": False}
        if p.temperature > 0:
            sampling = {"do_sample": True, "temperature": p.temperature, "top_p": p.top_p}
            if p.seed is not None:
                torch.manual_seed(p.seed)
        with torch.inference_mode():
            self.model.generate(  # type: ignore[misc]
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max(r.params.max_tokens for r in batch),
                stopping_criteria=StoppingCriteriaList([_Rows()]),
                pad_token_id=pad,
                **sampling,
            )
        share = (time.perf_counter() - started) / len(rows)
        for row in rows:
            if row.reason != "cancelled":
                tail = row.stop.flush() if not row.stop.stopped else ""
                if tail:
                    self.outbox.put(row.req.generation, TokenChunk(tail))
            self._finish(row.req, row.reason, len(row.tokens), row.first_token_at, share, started_at=started)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "backend": "transformers",
            "device": getattr(self, "device", None),
            "dtype": str(getattr(self, "dtype", "")),
        }
