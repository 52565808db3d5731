"""Many writers, one run and one chain: event sequence numbers and the audit head stay gap-free and unique
when threads with their own connections (standing in for replicas and workers) append at once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from runtime.store import Store

WRITERS = 8
BATCHES = 6


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


def test_concurrent_appends_to_one_run_get_every_seq_once(store: Store) -> None:
    """Each writer appends batches of two events, and repeats one key (a retried activity) that must not land."""

    def writer(w: int) -> list[int]:
        got: list[int] = []
        for b in range(BATCHES):
            batch = [(f"w{w}-b{b}-{i}", "message", {"w": w, "b": b, "i": i}) for i in range(2)]
            got += store.append_events("run-1", batch)
            got += store.append_events("run-1", batch[:1])  # the retry: already there, skipped
        return got

    with ThreadPoolExecutor(WRITERS) as pool:
        returned = [s for seqs in pool.map(writer, range(WRITERS)) for s in seqs]
    expected = list(range(1, WRITERS * BATCHES * 2 + 1))
    assert sorted(returned) == expected, "each seq handed to exactly one writer"
    stored = store.events_after("run-1", limit=10_000)
    assert [e["seq"] for e in stored] == expected
    assert len({(e["data"]["w"], e["data"]["b"], e["data"]["i"]) for e in stored}) == len(expected)


def test_concurrent_audit_appends_keep_the_chain_verifiable(store: Store) -> None:
    def writer(w: int) -> list[int | None]:
        out = []
        for i in range(BATCHES):
            out.append(store.append_audit("t", f"actor-{w}", "act", {"w": w, "i": i}, key=f"k-{w}-{i}"))
            out.append(store.append_audit("t", f"actor-{w}", "act", {"w": w, "i": i}, key=f"k-{w}-{i}"))
        return out

    with ThreadPoolExecutor(WRITERS) as pool:
        seqs = [s for out in pool.map(writer, range(WRITERS)) for s in out]
    n = WRITERS * BATCHES
    assert sorted(s for s in seqs if s is not None) == list(range(1, n + 1))
    assert seqs.count(None) == n, "every repeated key was refused"
    assert store.verify_audit() == (True, f"{n} audit records verified")
