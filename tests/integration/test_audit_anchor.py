"""The audit chain's keyed anchor, attacked as someone who can write the database but lacks the key.

Each attack edits the real SQLite file with plain SQL (what such a person would do) and is judged by the real
``steward audit verify`` command in a child process: truncating the last N records, deleting the one record
written right after a checkpoint, recomputing the chain (with and without rewriting the head), deleting the
head, forging a checkpoint, and rolling the whole log back to an older validly anchored state (caught by the
exported checkpoints). The untouched log verifies.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.audit import create_checkpoint
from runtime.store import Store, _audit_hash, _dumps

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose store holds 10 audit records written by the store's own append path."""
    home = tmp_path / "home"
    store = Store(home / "steward.db")
    for i in range(10):
        store.append_audit("acme", "alice", "run.started", {"i": i}, run_id=f"run-{i}", key=f"k{i}")
    store.close()
    yield home


def verify(home: Path, *extra: str) -> tuple[int, str]:
    env = {**os.environ, "STEWARD_HOME": str(home)}
    env.pop("STEWARD_DB_PATH", None)
    p = subprocess.run(
        [sys.executable, "-c", "from runtime.cli import main; main()", "audit", "verify", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    return p.returncode, p.stdout + p.stderr


def sql(home: Path, *statements: str) -> None:
    with sqlite3.connect(home / "steward.db") as c:
        for s in statements:
            c.execute(s)


def test_untouched_log_verifies(home: Path) -> None:
    rc, out = verify(home)
    assert rc == 0, out
    assert out.strip() == "10 audit records verified"


def test_deleting_the_last_n_records_is_detected(home: Path) -> None:
    sql(home, "DELETE FROM audit WHERE seq > 7")
    rc, out = verify(home)
    assert rc == 1, out
    assert "8..10 are missing" in out and "tail truncated" in out


def test_deleting_the_record_written_right_after_a_checkpoint_is_detected(home: Path) -> None:
    store = Store(home / "steward.db")
    cp = create_checkpoint(store)
    assert cp is not None and cp.seq == 10
    store.append_audit("acme", "bob", "approval.decided", {"action": "approve"}, key="after-cp")
    store.close()
    sql(home, "DELETE FROM audit WHERE seq = 11")
    rc, out = verify(home)
    assert rc == 1, out
    assert "11..11 are missing" in out


def _recompute_from(home: Path, seq: int, new_data: dict[str, object]) -> str:
    """Alter record ``seq`` and recompute every later hash, as someone with the code but not the key can."""
    c = sqlite3.connect(home / "steward.db")
    c.row_factory = sqlite3.Row
    rows = c.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    prev = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
    for r in rows[seq - 1 :]:
        data = _dumps(new_data) if r["seq"] == seq else r["data"]
        digest = _audit_hash(prev, r["ts"], r["tenant"], r["actor"], r["action"], r["run_id"], data)
        c.execute("UPDATE audit SET data=?, prev_hash=?, hash=? WHERE seq=?", (data, prev, digest, r["seq"]))
        prev = digest
    c.commit()
    c.close()
    return prev


def test_a_recomputed_chain_is_detected(home: Path) -> None:
    _recompute_from(home, 3, {"i": 3, "approved_by": "mallory"})
    rc, out = verify(home)
    assert rc == 1, out
    assert "chain was recomputed" in out


def test_a_recomputed_chain_with_a_rewritten_head_is_detected(home: Path) -> None:
    last = _recompute_from(home, 3, {"i": 3, "approved_by": "mallory"})
    sql(home, f"UPDATE audit_head SET hash='{last}'")
    rc, out = verify(home)
    assert rc == 1, out
    assert "MAC is invalid" in out


def test_deleting_the_head_anchor_is_detected(home: Path) -> None:
    sql(home, "DELETE FROM audit_head")
    rc, out = verify(home)
    assert rc == 1, out
    assert "head anchor is missing" in out


def test_a_forged_checkpoint_is_detected(home: Path) -> None:
    store = Store(home / "steward.db")
    create_checkpoint(store)
    store.close()
    sql(home, "UPDATE audit_checkpoints SET mac='" + "0" * 64 + "'")
    rc, out = verify(home)
    assert rc == 1, out
    assert "checkpoint at record 10" in out and "MAC is invalid" in out


def test_a_rollback_to_an_older_anchored_state_is_caught_by_exported_checkpoints(home: Path, tmp_path: Path) -> None:
    c = sqlite3.connect(home / "steward.db")
    saved_head = c.execute("SELECT id, seq, hash, count, ts, mac FROM audit_head").fetchone()
    c.close()
    store = Store(home / "steward.db")
    for i in range(3):
        store.append_audit("acme", "bob", "approval.decided", {"i": i}, key=f"late{i}")
    create_checkpoint(store)
    store.close()
    exported = tmp_path / "checkpoints.jsonl"
    env = {**os.environ, "STEWARD_HOME": str(home)}
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "from runtime.cli import main; main()",
            "audit",
            "checkpoint",
            "export",
            "--out",
            str(exported),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert p.returncode == 0, p.stderr
    assert [json.loads(line)["seq"] for line in exported.read_text().splitlines()] == [13]
    # Roll back: drop the later records and their checkpoint, put the saved (validly MAC'd) head back.
    sql(
        home,
        "DELETE FROM audit WHERE seq > 10",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_head",
        "INSERT INTO audit_head(id, seq, hash, count, ts, mac) VALUES ({}, {}, '{}', {}, {!r}, '{}')".format(
            *saved_head
        ),
    )
    rc, out = verify(home)
    assert rc == 0, out  # the database alone cannot show a rollback: that is what external retention is for
    rc, out = verify(home, "--checkpoints", str(exported))
    assert rc == 1, out
    assert "exported checkpoint at record 13" in out and "records up to 13 were removed" in out


def test_a_key_file_inside_the_data_directory_is_refused(home: Path) -> None:
    env = {**os.environ, "STEWARD_HOME": str(home), "STEWARD_AUDIT_KEY_FILE": str(home / "audit.key")}
    (home / "audit.key").write_text("k" * 64)
    p = subprocess.run(
        [sys.executable, "-c", "from runtime.cli import main; main()", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert p.returncode != 0
    assert "inside the data directory" in p.stderr


def test_a_different_key_cannot_vouch_for_the_log(home: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_text("x" * 64)
    env_key = {"STEWARD_AUDIT_KEY_FILE": str(other)}
    rc, out = _verify_env(home, env_key)
    assert rc == 1 and "MAC is invalid" in out


def _verify_env(home: Path, extra_env: dict[str, str]) -> tuple[int, str]:
    env = {**os.environ, "STEWARD_HOME": str(home), **extra_env}
    p = subprocess.run(
        [sys.executable, "-c", "from runtime.cli import main; main()", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    return p.returncode, p.stdout + p.stderr


def test_the_default_key_is_generated_outside_the_data_with_mode_0600_and_announced(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_AUDIT_KEY")}
    env.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), "STEWARD_HOME": str(tmp_path / "home")})
    code = (
        "import logging; logging.basicConfig();"
        "from runtime.store import Store;"
        f"Store({str(tmp_path / 'home' / 'steward.db')!r}).append_audit('t', 'alice', 'act', {{}})"
    )
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stderr
    key = tmp_path / "config" / "steward" / "audit.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert f"generated the audit MAC key at {key}" in p.stderr
    rc, out = verify(tmp_path / "home")  # this test session's key is another key: the anchor does not verify
    assert rc == 1 and "MAC is invalid" in out
    rc, out = _verify_env(
        tmp_path / "home", {"XDG_CONFIG_HOME": str(tmp_path / "config")} | {"STEWARD_AUDIT_KEY_FILE": str(key)}
    )
    assert rc == 0 and out.strip() == "1 audit records verified", out


def test_appends_in_one_transaction_chain_anchor_and_checkpoint_as_separate_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that appends several records reads the head once and anchors once (``Store._AuditTx``):
    the chain, the head anchor and the checkpoints come out as if each record had been appended on its own."""
    from runtime.settings import get_settings

    monkeypatch.setattr(get_settings(), "audit_checkpoint_every", 3)
    batched, single = tmp_path / "batched", tmp_path / "single"
    for home, together in ((batched, True), (single, False)):
        store = Store(home / "steward.db")
        store.append_audit("acme", "alice", "run.started", {"i": -1}, run_id="run-0", key="first")
        if together:
            with store.batch():
                for i in range(7):
                    store.append_audit("acme", "alice", "run.step", {"i": i}, run_id="run-1", key=f"k{i}")
                assert store.append_audit("acme", "alice", "run.step", {"i": 0}, key="k0") is None  # keyed: once
        else:
            for i in range(7):
                store.append_audit("acme", "alice", "run.step", {"i": i}, run_id="run-1", key=f"k{i}")
        store.close()
    for home in (batched, single):
        with sqlite3.connect(home / "steward.db") as c:
            seqs = [r[0] for r in c.execute("SELECT seq FROM audit ORDER BY seq")]
            head = c.execute("SELECT seq, count FROM audit_head").fetchone()
            checkpoints = [r[0] for r in c.execute("SELECT seq FROM audit_checkpoints ORDER BY seq")]
        assert seqs == list(range(1, 9)) and head == (8, 8) and checkpoints == [3, 6], home
        rc, out = verify(home)
        assert rc == 0, out
