"""The llama.cpp engine's continuous batching on the real Gemma GGUF, without HTTP."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from runtime.llm.catalog import build_catalog, resolve_weights
from runtime.llm.engine import EngineRequest, Finished, Generation, GenerationParams
from runtime.settings import Settings


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from runtime.llm.llama_backend import LlamaCppEngine

    settings = Settings(home=tmp_path_factory.mktemp("engine-home"))
    spec = build_catalog(settings)["gemma3-270m"]
    eng = LlamaCppEngine(spec, resolve_weights(spec, settings))
    eng.start()
    yield eng
    eng.stop()


async def _run(engine, prompt: str, max_tokens: int = 16) -> tuple[str, Finished]:  # type: ignore[no-untyped-def]
    gen = Generation(asyncio.get_running_loop())
    engine.submit(EngineRequest(engine.tokenize(prompt), GenerationParams(max_tokens=max_tokens), gen))
    text = ""
    async for item in gen:
        if isinstance(item, Finished):
            return text, item
        text += item.text
    raise AssertionError("no Finished")


async def test_batched_sequences_decode_like_one_alone(engine) -> None:  # type: ignore[no-untyped-def]
    # llama.cpp is not bit-identical across batch shapes (other matmul kernels), so a near-tie can flip a
    # greedy token; a strongly determined continuation must not change, and would if positions, sequence ids
    # or logit rows were mixed up between sequences.
    prompt = "1, 2, 3, 4, 5,"
    alone, _ = await _run(engine, prompt, 12)
    assert alone.startswith(" 6, 7, 8")
    together = await asyncio.gather(*[_run(engine, prompt, 12) for _ in range(4)])
    assert engine.largest_batch == 4
    assert [t for t, _ in together] == [alone] * 4


async def test_a_long_prompt_is_prefilled_in_chunks_beside_running_sequences(engine) -> None:  # type: ignore[no-untyped-def]
    long_prompt = "The history of the lighthouse. " * 150  # ~900 tokens: two 512-token prefill steps
    (short, f_short), (long, f_long) = await asyncio.gather(
        _run(engine, "1, 2, 3, 4,"), _run(engine, long_prompt + " Summary:")
    )
    assert f_long.prompt_tokens > 512 and f_long.completion_tokens == 16
    assert short.startswith(" 5, 6, 7")
    assert long.strip()


def test_prompt_beyond_the_context_is_refused(engine) -> None:  # type: ignore[no-untyped-def]
    from runtime.llm.engine import ContextOverflow

    with pytest.raises(ContextOverflow, match="context length is 2048"):
        engine.submit(EngineRequest([1] * 2048, GenerationParams(max_tokens=1), None))  # type: ignore[arg-type]


async def test_every_decode_runs_on_the_model_thread_with_its_sequences_in_order(engine) -> None:  # type: ignore[no-untyped-def]
    """Two things that each cost the 4-wide step 1.5-2x on a small CPU, checked on the real engine: a decode
    on any thread but the model's own (a second OpenMP pool: libgomp stops spinning at its barriers), and a
    batch whose sequences are out of order or skip a free lower one (llama.cpp splits it into several passes).
    Requests of different lengths end at different steps, so sequences are freed and taken again in between."""
    import threading

    seen: list[tuple[str, list[int]]] = []
    decode = engine.ctx.decode

    def recording(batch):  # type: ignore[no-untyped-def]
        b = batch.batch
        seen.append((threading.current_thread().name, [b.seq_id[i][0] for i in range(b.n_tokens)]))
        return decode(batch)

    engine.ctx.decode = recording
    try:
        first = [_run(engine, f"Count to ten, take {i}:", n) for i, n in enumerate((3, 9, 5, 14))]
        await asyncio.gather(*first, *[_run(engine, f"Name a colour, take {i}:", 6) for i in range(3)])
    finally:
        del engine.ctx.decode
    assert {name for name, _ in seen} == {f"llm-{engine.spec.name}"}
    steps = [sorted(set(ids)) for _, ids in seen]
    assert max(len(s) for s in steps) == 4
    # Running sequences' next tokens first, in ascending order, then new prompts' chunks, each in one piece and
    # in ascending order.
    for _, ids in seen:
        running = [i for i in ids if ids.count(i) == 1]
        prompts = [i for n, i in enumerate(ids) if ids.count(i) > 1 and (n == 0 or ids[n - 1] != i)]
        assert ids == running + [i for i in prompts for _ in range(ids.count(i))], ids
        assert running == sorted(running) and prompts == sorted(prompts), ids
    # A sequence that joins takes the lowest free one(s): the rest of that step's were still running.
    for before, now in itertools.pairwise(steps):
        joined = sorted(set(now) - set(before))
        still = set(now) - set(joined)
        free = sorted(set(range(engine.spec.parallel)) - still)
        assert joined == free[: len(joined)], (before, now)
