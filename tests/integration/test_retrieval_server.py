"""Retrieval against a real Chroma server (``chroma run``, the server chromadb ships): with ``STEWARD_CHROMA_URL``
set, the policy index lives on the server, shared by every worker, and nothing is written under the home.
The embeddings are still computed locally (MiniLM from its package), so nothing downloads."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runtime.devserver import free_port
from tools import retrieval
from tools.corpus import all_sections, corpus_digest

CHROMA = Path(sys.executable).with_name("chroma")


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMA.exists() and shutil.which("chroma") is None:
        pytest.fail("chromadb's `chroma` server command is missing from the venv")
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [str(CHROMA if CHROMA.exists() else "chroma"), "run", "--path", str(data / "db"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (data / "server.log").read_text()
            assert time.monotonic() < deadline, "chroma server did not start"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def server_home(chroma_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    monkeypatch.setenv("STEWARD_HOME", str(tmp_path))
    monkeypatch.setenv("STEWARD_CHROMA_URL", chroma_server)
    retrieval._CLIENTS.clear()
    yield chroma_server, tmp_path
    retrieval._CLIENTS.clear()


def test_the_index_lives_on_the_chroma_server_and_answers_with_citations(server_home: tuple[str, Path]) -> None:
    url, home = server_home
    passages = retrieval.search("what happens when the credit model cannot be scored", k=3)
    assert "lending-policy#LP-3.4" in [p.citation for p in passages], [p.citation for p in passages]
    assert not (home / "chroma").exists(), "with a server, nothing is indexed under the home"

    # Another process (a second worker) sees the same collection on the server, complete, without building it.
    import chromadb

    port = int(url.rsplit(":", 1)[1])
    other = chromadb.HttpClient(host="127.0.0.1", port=port)
    names = [c if isinstance(c, str) else c.name for c in other.list_collections()]
    assert retrieval.COLLECTION_PREFIX + corpus_digest() in names
    col = other.get_collection(retrieval.COLLECTION_PREFIX + corpus_digest())
    assert col.count() == len([s for s in all_sections() if s.text])


def test_a_bad_chroma_url_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STEWARD_HOME", str(tmp_path))
    monkeypatch.setenv("STEWARD_CHROMA_URL", "chroma.internal:8000/index")
    retrieval._CLIENTS.clear()
    with pytest.raises(ValueError, match="STEWARD_CHROMA_URL"):
        retrieval.search("anything")
    retrieval._CLIENTS.clear()
