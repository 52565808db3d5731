"""The model server beyond loopback: it refuses to start without ``STEWARD_LLM_API_KEY``; with one, every
request but ``/health`` needs the Bearer key, and Steward's own client (``StewardChatModel.from_settings``)
sends it. Real ``steward model-server`` processes, the real Gemma 3 270M, real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import HumanMessage

from runtime.devserver import free_port
from runtime.errors import UserError
from runtime.llm.breaker import reset_breakers
from runtime.llm.chat_model import StewardChatModel
from runtime.settings import Settings

pytestmark = pytest.mark.timeout(180)
MODEL = "gemma3-270m"
KEY = "llm-test-key-" + "k" * 40


def _argv(*extra: str) -> list[str]:
    return [sys.executable, "-c", "from runtime.cli import main; main()", "model-server", *extra]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "STEWARD_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra}
    env.pop("STEWARD_LLM_API_KEY", None)
    env.update(extra)
    return env


def test_refuses_to_bind_beyond_loopback_without_a_key(tmp_path: Path) -> None:
    p = subprocess.run(
        _argv("--host", "0.0.0.0", "--port", str(free_port()), "--model", MODEL),  # noqa: S104 - the point
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert p.returncode != 0
    assert "STEWARD_LLM_API_KEY" in p.stderr and "0.0.0.0" in p.stderr


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("llm-auth")
    port = free_port()
    log = home / "server.log"
    process = subprocess.Popen(
        _argv("--host", "0.0.0.0", "--port", str(port), "--model", MODEL),  # noqa: S104 - the point
        env=_env(home, STEWARD_LLM_API_KEY=KEY),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"model server exited: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"model server did not come up: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{root}/health", timeout=1).json()["models"].get(MODEL):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield root
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _chat(root: str, headers: dict[str, str]) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4}
    return httpx.post(f"{root}/v1/chat/completions", json=body, headers=headers, timeout=60)


def test_requests_without_the_key_are_refused(keyed_server: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        r = _chat(keyed_server, headers)
        assert r.status_code == 401, r.text
        assert "Bearer" in r.json()["detail"]
    assert httpx.get(f"{keyed_server}/v1/models", timeout=10).status_code == 401
    assert httpx.get(f"{keyed_server}/metrics", timeout=10).status_code == 401


def test_requests_with_the_key_are_served(keyed_server: str) -> None:
    r = _chat(keyed_server, {"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] > 0


def test_stewards_client_sends_the_key_from_settings(keyed_server: str) -> None:
    reset_breakers()
    settings = Settings(llm_base_url=f"{keyed_server}/v1", llm_api_key=KEY)  # type: ignore[arg-type]
    reply = StewardChatModel.from_settings(settings, max_tokens=4).invoke([HumanMessage("Say hello.")])
    assert isinstance(reply.content, str)  # answered: a refused request raises UserError (HTTP 401)
    keyless = StewardChatModel.from_settings(Settings(llm_base_url=f"{keyed_server}/v1"), max_tokens=4, max_retries=0)
    with pytest.raises(UserError, match="HTTP 401"):
        keyless.invoke([HumanMessage("Say hello.")])
