"""The transformers backend on a tiny randomly initialised Llama saved to a temp dir (loads in milliseconds):
the real loading path (``from_pretrained`` with ``device_map="auto"``), batching and the HTTP surface."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest

from runtime.llm.catalog import ModelSpec
from runtime.llm.engine import EngineRequest, Finished, Generation, GenerationParams, TokenChunk
from runtime.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

WORDS = "hello world the loan is approved declined refer credit check amount applicant yes no".split()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("tiny-llama")
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.chat_template = (
        "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}assistant {% endif %}"
    )
    fast.save_pretrained(d)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    LlamaForCausalLM(config).save_pretrained(d)
    return d


def _spec(path: Path) -> ModelSpec:
    return ModelSpec(name="tiny", backend="transformers", path=path, n_ctx=128, parallel=4, price_per_hour=1.0)


def _submit(engine, text: str, max_tokens: int) -> Generation:  # type: ignore[no-untyped-def]
    gen = Generation(asyncio.get_running_loop())
    tokens = engine.tokenize(engine.render([{"role": "user", "content": text}]))
    engine.submit(EngineRequest(tokens, GenerationParams(max_tokens=max_tokens), gen))
    return gen


async def _collect(gen: Generation) -> tuple[str, Finished]:
    parts = []
    async for item in gen:
        if isinstance(item, TokenChunk):
            parts.append(item.text)
        else:
            return "".join(parts), item
    raise AssertionError("no Finished")


async def test_transformers_backend_loads_on_cpu_and_batches_concurrent_requests(tiny_model_dir: Path) -> None:
    from runtime.llm.hf_backend import TransformersEngine

    engine = TransformersEngine(_spec(tiny_model_dir), tiny_model_dir)
    engine.load()
    assert engine.describe()["device"] == "cpu" and engine.describe()["dtype"] == "torch.float32"
    assert engine.n_ctx == 128
    # Queued before the model thread starts, so all four are waiting when it takes its first batch.
    pending = [_submit(engine, f"hello loan {w}", 6) for w in WORDS[:4]]
    engine.start()
    try:
        results = await asyncio.gather(*[_collect(g) for g in pending])
        assert engine.largest_batch == 4
        for text, fin in results:
            assert fin.error is None
            assert fin.finish_reason in ("stop", "length")
            assert 0 < fin.completion_tokens <= 6 or fin.finish_reason == "stop"
            assert fin.cost_usd > 0
            assert all(w in WORDS for w in text.split())
    finally:
        engine.stop()


async def test_transformers_model_served_over_http_and_refuses_grammar(tiny_model_dir: Path, tmp_path: Path) -> None:
    from runtime.llm.server import ModelPool, create_app

    settings = Settings(home=tmp_path)
    pool = ModelPool(settings, catalog={"tiny": _spec(tiny_model_dir)})
    app = create_app(settings, pool=pool)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5}
            r = await client.post("/v1/chat/completions", json=body)
            assert r.status_code == 200, r.text
            assert r.json()["usage"]["completion_tokens"] <= 5
            r = await client.post("/v1/chat/completions", json={**body, "stream": True})
            lines = [ln for ln in r.text.splitlines() if ln.startswith("data: ")]
            assert lines[-1] == "data: [DONE]"
            assert json.loads(lines[-2][6:])["choices"][0]["finish_reason"] in ("stop", "length")
            r = await client.post(
                "/v1/chat/completions",
                json={**body, "response_format": {"type": "json_object", "schema": {"type": "object"}}},
            )
            assert r.status_code == 400 and "constrained decoding" in r.json()["detail"]
    finally:
        pool.close()
