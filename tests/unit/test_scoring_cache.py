"""The credit model cache loads a model once per process, however many credit checks ask for it at once (a
cold worker handed many runs used to load it in every thread; see tests/integration/test_scale.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from tools import scoring


def test_concurrent_cold_lookups_load_the_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    lock = threading.Lock()

    def load_model(uri: str) -> object:
        time.sleep(0.2)  # a real load takes seconds: every concurrent caller arrives while it runs
        with lock:
            loads.append(uri)
        return object()

    version = SimpleNamespace(version="3")
    fake: Any = SimpleNamespace(
        MlflowClient=lambda: SimpleNamespace(get_model_version_by_alias=lambda name, alias: version),
        sklearn=SimpleNamespace(load_model=load_model),
    )
    monkeypatch.setenv("STEWARD_CREDIT_MODEL_URI", "postgresql://registry.invalid/mlflow")
    monkeypatch.setattr(scoring, "_mlflow", lambda: fake)
    monkeypatch.setattr(scoring, "_LOADED", {})
    start = threading.Barrier(16)

    def lookup() -> tuple[str, Any]:
        start.wait()
        return scoring.load_alias("champion")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: lookup(), range(16)))
    assert loads == [f"models:/{scoring.MODEL_NAME}/3"], f"{len(loads)} loads for 16 concurrent lookups"
    assert len({id(model) for _, model in results}) == 1 and {v for v, _ in results} == {"3"}
