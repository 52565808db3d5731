"""A model is loaded, warmed up and run on one thread, its own: OpenMP keeps a worker pool per computing thread,
and a second pool (a warm-up on the caller's thread) made every llama.cpp step 2-4x slower on a small CPU."""

from __future__ import annotations

import threading
import time

import pytest

from runtime.llm.catalog import ModelSpec
from runtime.llm.engine import ModelEngine
from runtime.llm.metrics import REGISTRY


class RecordingEngine(ModelEngine):
    def __init__(self, fail: bool = False) -> None:
        super().__init__(ModelSpec(name="recorder"))
        self.fail = fail
        self.threads: dict[str, str] = {}

    def load(self) -> None:
        self.threads["load"] = threading.current_thread().name
        time.sleep(0.05)  # start() must wait for this
        if self.fail:
            raise RuntimeError("weights unreadable")
        self.threads["loaded"] = "yes"

    def render(self, messages: list[dict[str, str]]) -> str:
        return ""

    def tokenize(self, text: str) -> list[int]:
        return []

    @property
    def n_ctx(self) -> int:
        return 16

    def _serve(self) -> None:
        self.threads["serve"] = threading.current_thread().name
        self._stopping.wait()


def test_load_and_serving_share_the_model_thread_and_start_returns_once_loaded() -> None:
    engine = RecordingEngine()
    engine.start()
    try:
        assert engine.threads["loaded"] == "yes" and engine.load_s >= 0.05
        assert engine.alive
        assert 'steward_llm_model_loaded{model="recorder"} 1' in REGISTRY.render()
        for _ in range(100):
            if "serve" in engine.threads:
                break
            time.sleep(0.01)
        assert engine.threads["load"] == engine.threads["serve"] == "llm-recorder"
        assert threading.current_thread().name != "llm-recorder"
    finally:
        engine.stop()
    assert not engine.alive


def test_a_failed_load_is_raised_by_start_and_leaves_no_thread() -> None:
    engine = RecordingEngine(fail=True)
    with pytest.raises(RuntimeError, match="weights unreadable"):
        engine.start()
    assert engine.threads["load"] == "llm-recorder" and "serve" not in engine.threads
    assert not engine.alive
