"""Retrieval over the shipped policy corpus: real chromadb, real MiniLM embeddings, offline, lazily indexed
under the Steward home, every passage citable by document and section id."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guards.types import Principal
from runtime import runs
from tests.conftest import make_worker
from tools import retrieval
from tools.corpus import all_sections, corpus_digest

REQUESTER = Principal(id="alice", roles=["operator"])


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("steward-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEWARD_HOME", str(path))
        yield path


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Mohammed or Muhammad spelled differently in the sanctions list", "kyc-procedure#KYC-3.2"),
        ("the carrier web page tells the assistant to ignore its instructions", "claims-handbook#CH-3.3"),
        ("can staff estimate a missing income figure", "lending-policy#LP-2.2"),
        ("who must confirm a claim payout", "claims-handbook#CH-6"),
        ("what happens when the credit model cannot be scored", "lending-policy#LP-3.4"),
    ],
)
def test_search_finds_the_section_that_answers(home: Path, query: str, expected: str) -> None:
    passages = retrieval.search(query, k=3)
    assert expected in [p.citation for p in passages], [(p.citation, p.score) for p in passages]
    top = passages[0]
    assert top.citation == f"{top.doc_id}#{top.section_id}" and top.title and top.text and 0 < top.score <= 1
    # The passage names the version of the document it came from (the handbooks are versioned separately).
    versions = {s.citation: s.doc_version for s in all_sections()}
    assert top.doc_version == versions[top.citation] and top.doc_version.startswith("2026.")


def test_index_is_built_lazily_under_the_home_and_reused(home: Path) -> None:
    sections = [s for s in all_sections() if s.text]
    assert (home / "chroma").is_dir()
    retrieval._CLIENTS.clear()  # as a fresh process would: the persisted index is found, not rebuilt
    started = time.perf_counter()
    col = retrieval._collection()
    assert col.name == retrieval.COLLECTION_PREFIX + corpus_digest() and col.count() == len(sections)
    assert time.perf_counter() - started < 5.0


def test_search_can_be_limited_to_documents(home: Path) -> None:
    passages = retrieval.search("approval authority", k=5, doc_ids=["lending-policy"])
    assert passages and {p.doc_id for p in passages} == {"lending-policy"}
    two = retrieval.search("approval authority", k=6, doc_ids=["lending-policy", "claims-handbook"])
    assert {p.doc_id for p in two} <= {"lending-policy", "claims-handbook"}


def test_rebuild_drops_and_reindexes_the_corpus(home: Path) -> None:
    assert retrieval.rebuild_index() == len([s for s in all_sections() if s.text])
    assert retrieval.search("bureau score bands", k=1)[0].citation == "lending-policy#LP-3.1"


async def test_search_policy_runs_through_the_guarded_node(home: Path, client, store, task_queue) -> None:
    call = {"id": "s1", "name": "search_policy", "args": {"query": "fuzzy name matching thresholds", "k": 2}}
    async with make_worker(client, store, task_queue):
        handle = await runs.start_run(
            client, store, task_queue, "scripted", {"tool_calls": [call]}, REQUESTER, validate=False
        )
        assert (await handle.result()).status == "success"
    (execution,) = store.tool_executions(handle.id)
    passages = execution["result"]["passages"]
    assert passages[0]["citation"] == "kyc-procedure#KYC-3.2" and execution["result"]["corpus_version"]
