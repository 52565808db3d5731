"""The audit chain's anchor: a keyed MAC over its head, so truncating or recomputing the chain is detected.

The hash chain in ``runtime.store`` (each record hashes its predecessor) shows that a record in the middle
was altered or removed, but on its own it cannot show that the newest records were deleted, and whoever can
write the database can rewrite every record and recompute every hash. Two things close those gaps:

* **A key outside the data.** HMAC-SHA256 with a key that lives neither in the database nor in the data
  directory: ``STEWARD_AUDIT_KEY``, or ``STEWARD_AUDIT_KEY_FILE`` (refused when it lies under
  ``STEWARD_HOME`` or beside the database), or by default ``~/.config/steward/audit.key`` (``$XDG_CONFIG_HOME``
  honoured), generated on first use with mode 0600. Deployments give each process that writes audit records
  (workers, API servers) the same key from their secret store.
* **A MAC'd head on every append.** The row ``audit_head`` (seq, hash, count, ts, mac) is rewritten in the
  same transaction as each record, so it always names the newest record. Deleting the last N records leaves
  a head that points past the end of the chain; deleting the record written right after a checkpoint does
  too (a checkpoint alone would still verify, which is why the head is anchored on every append, not only at
  checkpoints); recomputing the chain changes the newest hash, which the head's MAC no longer matches, and
  forging a new head needs the key.

**Checkpoints** (``audit_checkpoints``: seq, hash, count, ts, mac; both tables are migration
``0003_audit_anchor`` in ``runtime/db``) copy the head every
``STEWARD_AUDIT_CHECKPOINT_EVERY`` records and on ``steward audit checkpoint create``; ``steward audit
checkpoint export`` writes them as JSONL for retention outside this system (a WORM bucket, a ticket, a SIEM).
What the database alone cannot show is a *rollback*: someone who saved an old head row, deletes the records
after it and puts that row back. Verification against the exported checkpoints (``steward audit verify
--checkpoints FILE``) catches it: an exported checkpoint past the database's head means records were removed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from runtime.db.sql import upsert
from runtime.db.tables import audit, audit_checkpoints, audit_head
from runtime.errors import UserError

if TYPE_CHECKING:
    from runtime.store import Store

log = logging.getLogger("steward.audit")


@dataclass(frozen=True)
class AuditCheckpoint:
    """The chain's state at one record: what the MAC vouches for, and the form exported for retention."""

    seq: int
    hash: str
    count: int
    ts: float
    mac: str

    def message(self, kind: str) -> bytes:
        return json.dumps([kind, self.seq, self.hash, self.count, repr(self.ts)]).encode()


def _mac(key: bytes, kind: str, seq: int, digest: str, count: int, ts: float) -> str:
    material = AuditCheckpoint(seq, digest, count, ts, "").message(kind)
    return hmac.new(key, material, hashlib.sha256).hexdigest()


def _valid(key: bytes, kind: str, cp: AuditCheckpoint) -> bool:
    return hmac.compare_digest(_mac(key, kind, cp.seq, cp.hash, cp.count, cp.ts), cp.mac)


# -- the key ---------------------------------------------------------------------------------------
def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "steward" / "audit.key"


def audit_key(data_dirs: tuple[Path, ...] = ()) -> bytes:
    """The MAC key from settings; a key file inside a data directory is refused (it would sit beside the
    data it protects). The default key file is generated once, 0600, and its path logged."""
    from runtime.settings import get_settings

    s = get_settings()
    text = s.audit_key.get_secret_value() if s.audit_key is not None else None
    return _resolve_key(text, str(s.audit_key_file) if s.audit_key_file else None, str(s.home), data_dirs)


@lru_cache(maxsize=32)
def _resolve_key(text: str | None, key_file: str | None, home: str, data_dirs: tuple[Path, ...]) -> bytes:
    """Cached per configuration: every audit append needs the key, and resolving paths costs syscalls."""
    if text is not None:
        return _key_from_text(text, "STEWARD_AUDIT_KEY")
    path = (Path(key_file) if key_file else default_key_file()).expanduser().resolve()
    for d in (Path(home), *data_dirs):
        d = d.expanduser().resolve()
        if path == d or d in path.parents:
            raise UserError(
                f"STEWARD_AUDIT_KEY_FILE: {path} is inside the data directory {d}; keep the audit key where "
                "someone who can write the database cannot read it (default ~/.config/steward/audit.key)"
            )
    return _key_file(str(path), key_file is None)


@lru_cache(maxsize=8)
def _key_file(path_text: str, generate: bool) -> bytes:
    path = Path(path_text)
    if not path.exists():
        if not generate:
            raise UserError(f"STEWARD_AUDIT_KEY_FILE: {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        log.warning(
            "generated the audit MAC key at %s (mode 0600); back it up: without it the audit log's "
            "anchor cannot be verified",
            path,
        )
    return _key_from_text(path.read_text(), str(path))


def _key_from_text(text: str, where: str) -> bytes:
    key = text.strip().encode()
    if len(key) < 32:
        raise UserError(f"{where}: the audit key must be at least 32 characters (e.g. 64 hex digits)")
    return key


# -- writing ---------------------------------------------------------------------------------------
def checkpoint_due(seq: int) -> bool:
    """Whether record ``seq`` gets a checkpoint (every ``audit_checkpoint_every`` records)."""
    from runtime.settings import get_settings

    every = get_settings().audit_checkpoint_every
    return bool(every) and seq % every == 0


def anchor_append(c: Connection, data_dirs: tuple[Path, ...], seq: int, digest: str) -> None:
    """Re-anchor the head at the record just appended (same transaction), and checkpoint it every N records."""
    key = audit_key(data_dirs)
    ts = time.time()
    row = {"id": 1, "seq": seq, "hash": digest, "count": seq, "ts": ts, "mac": _mac(key, "head", seq, digest, seq, ts)}
    upsert(c, audit_head, row, ["id"], ["seq", "hash", "count", "ts", "mac"])
    if checkpoint_due(seq):
        _write_checkpoint(c, key, AuditCheckpoint(seq, digest, seq, ts, ""))


def _write_checkpoint(c: Connection, key: bytes, head: AuditCheckpoint) -> AuditCheckpoint:
    cp = AuditCheckpoint(head.seq, head.hash, head.count, head.ts, "")
    cp = AuditCheckpoint(cp.seq, cp.hash, cp.count, cp.ts, _mac(key, "checkpoint", cp.seq, cp.hash, cp.count, cp.ts))
    upsert(c, audit_checkpoints, asdict(cp), ["seq"], ["hash", "count", "ts", "mac"])
    return cp


def create_checkpoint(store: Store) -> AuditCheckpoint | None:
    """Checkpoint the current head (None while the log is empty). The head's own MAC is checked first: a
    checkpoint must never vouch for a head someone rewrote."""
    key = audit_key(store.data_dirs)
    with store._tx() as c:  # noqa: SLF001 - the anchor is the store's own table
        head = _head(c)
        if head is None:
            return None
        if not _valid(key, "head", head):
            raise UserError("audit head anchor has an invalid MAC; run `steward audit verify`")
        return _write_checkpoint(c, key, AuditCheckpoint(head.seq, head.hash, head.count, time.time(), ""))


def checkpoints(store: Store) -> list[AuditCheckpoint]:
    with store.engine.connect() as c:
        return _checkpoints(c)


def _checkpoints(c: Connection) -> list[AuditCheckpoint]:
    rows = c.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))
    return [AuditCheckpoint(**r._mapping) for r in rows]


def export_checkpoints(store: Store) -> list[dict[str, Any]]:
    """Checkpoints as plain dicts for JSONL export (external retention)."""
    return [asdict(cp) for cp in checkpoints(store)]


def _head(c: Connection) -> AuditCheckpoint | None:
    h = audit_head.c
    r = c.execute(select(h.seq, h.hash, h.count, h.ts, h.mac).where(h.id == 1)).first()
    return AuditCheckpoint(**r._mapping) if r else None


# -- verifying -------------------------------------------------------------------------------------
def verify_anchor(
    store: Store, last_seq: int, last_hash: str, external: list[AuditCheckpoint] | None = None
) -> tuple[bool, str]:
    """Check the head anchor and the checkpoints against a chain already verified up to ``last_seq``.

    Returns (ok, message naming what is wrong). A head past the chain's end means the tail was deleted
    (unless the missing records have just been appended and link up, which a concurrent writer does).
    """
    key = audit_key(store.data_dirs)
    with store.engine.connect() as c:
        head = _head(c)
        cps = _checkpoints(c)
    if head is None:
        if last_seq == 0:
            return True, "0 audit records verified"
        return False, f"audit head anchor is missing ({last_seq} records present): it was deleted"
    if not _valid(key, "head", head):
        return False, "audit head anchor's MAC is invalid: it was rewritten by someone without the audit key"
    if head.seq > last_seq:
        ok, last_seq, last_hash = _continues(store, last_seq, last_hash, head.seq)
        if not ok:
            return False, (
                f"audit records {last_seq + 1}..{head.seq} are missing: the anchored head is record {head.seq} "
                f"but the chain ends at {last_seq} (tail truncated)"
            )
    if head.seq < last_seq:
        return False, f"audit records {head.seq + 1}..{last_seq} are not anchored: written without the audit key"
    if head.hash != last_hash:
        return False, f"audit record {head.seq} differs from its anchored hash: the chain was recomputed"
    for label, items in (("checkpoint", cps), ("exported checkpoint", external or [])):
        for cp in items:
            problem = _check_checkpoint(store, key, cp, head.seq)
            if problem:
                return False, f"{label} at record {cp.seq}: {problem}"
    # The message is the chain's own ("N audit records verified"): the anchor adds checks, not a new vocabulary.
    return True, f"{head.seq} audit records verified"


def _continues(store: Store, seq: int, digest: str, upto: int) -> tuple[bool, int, str]:
    from runtime.store import _audit_hash

    for r in store.audit_chain(after=seq, upto=upto):
        if r.seq != seq + 1 or r.prev_hash != digest:
            return False, seq, digest
        if _audit_hash(digest, r.ts, r.tenant, r.actor, r.action, r.run_id, r.data) != r.hash:
            return False, seq, digest
        seq, digest = r.seq, r.hash
    return seq == upto, seq, digest


def _check_checkpoint(store: Store, key: bytes, cp: AuditCheckpoint, head_seq: int) -> str | None:
    if not _valid(key, "checkpoint", cp):
        return "MAC is invalid (forged, or made with another key)"
    if cp.seq > head_seq:
        return f"the log ends at record {head_seq}: records up to {cp.seq} were removed"
    with store.engine.connect() as c:
        found = c.execute(select(audit.c.hash).where(audit.c.seq == cp.seq)).scalar_one_or_none()
    if found is None:
        return "the record is missing"
    if found != cp.hash:
        return "the record's hash differs: the chain was recomputed"
    if cp.count != cp.seq:
        return f"count {cp.count} does not match seq {cp.seq}"
    return None


def load_exported(path: Path) -> list[AuditCheckpoint]:
    """Checkpoints from an export (JSONL); a malformed line is refused with its number."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(AuditCheckpoint(int(d["seq"]), str(d["hash"]), int(d["count"]), float(d["ts"]), str(d["mac"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}:{n}: not a checkpoint ({exc})") from None
    return out
