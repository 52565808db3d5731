"""The transformers backend on the real Gemma 3 270M GGUF (``gguf_file``): loads and generates on CPU.

Slow by nature (~60 s here: transformers dequantizes the GGUF to fp32), so it is one short test.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from runtime.llm.catalog import ModelSpec, build_catalog, resolve_weights
from runtime.llm.engine import EngineRequest, Finished, Generation, GenerationParams
from runtime.settings import Settings

pytestmark = pytest.mark.skipif(os.environ.get("STEWARD_SKIP_SLOW_LLM") == "1", reason="STEWARD_SKIP_SLOW_LLM=1")


async def test_transformers_loads_the_gemma_gguf_and_generates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from runtime.llm.hf_backend import TransformersEngine

    settings = Settings(home=tmp_path)
    gguf = resolve_weights(build_catalog(settings)["gemma3-270m"], settings)
    spec = ModelSpec(name="gemma3-270m-hf", backend="transformers", path=gguf, chat_format="gemma")
    engine = TransformersEngine(spec, gguf)
    engine.start()
    try:
        assert engine.describe()["device"] == "cpu"
        gen = Generation(asyncio.get_running_loop())
        prompt = engine.render([{"role": "user", "content": "What is the capital of France?"}])
        engine.submit(EngineRequest(engine.tokenize(prompt), GenerationParams(max_tokens=6), gen))
        text = ""
        async for item in gen:
            if isinstance(item, Finished):
                assert item.error is None and item.completion_tokens == 6
                break
            text += item.text
        assert text.strip()
    finally:
        engine.stop()
