"""Cardholder and personal data planted through the real HTTP API never comes back out, anywhere.

Every assistant in the registry gets one run whose every free-text input field (a string the input schema
leaves open: no enum, const, format or pattern) holds a card number with its security code, an IBAN and a US
SSN. The runs go through the API (uvicorn on loopback, a real worker, the real Temporal dev server), approvals
are decided over the API, and then the planted values are searched for **literally** (each card number in
every separator variant and as bare digits, each code as a standalone token, the IBAN spaced and compact, the
SSN with and without dashes) in:

* every table of the app store (every row of every table, found from ``sqlite_master``) and the raw bytes of
  the SQLite files (main database and WAL), so a value written and later overwritten still counts;
* every event of every run;
* every API response the test received: run creation streams, thread state, thread, run, run list, the
  joined stream replayed from the start, approvals, audit records, decisions;
* everything logged by the worker and the server (a root logging handler) and written to the process's
  stdout/stderr (pytest's ``capfd``);
* the Temporal workflow history of every run, fetched with the client, with every payload decoded (base64
  inside JSON inside base64 too).

A third test runs ``steward eval run`` (the real CLI, ``--no-model``) on a suite written here whose cases carry
the planted values in their free-text input fields, into a temporary MLflow store, and searches every file
under the MLflow artifact root, every row and the raw bytes of the MLflow SQLite database, the eval journal
and the command's output the same way. The count comes from this literal search, not from the guards or
detectors under test.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GOOD_APPLICATION, make_worker, wait_for

pytestmark = pytest.mark.timeout(300)

PANS = ["4111111111111111", "5555555555554444", "4012888888881881", "6011111111111117"]
SEPARATORS = [" ", "-", ".", ""]
CODES = ["2931", "8317", "6402", "5719"]
IBAN = "GB82 WEST 1234 5698 7654 32"
SSN = "078-05-1120"

EXAMPLES: dict[str, dict[str, Any]] = {
    "loan_triage": GOOD_APPLICATION,
    "kyc_review": {
        "case": {
            "case_id": "KYC-LEAK",
            "customer": {"customer_id": "C-LEAK", "name": "Anna Berg", "type": "person", "country": "FR"},
            "related_parties": [{"party_id": "RP-1", "name": "Ben Berg", "role": "director"}],
            "documents_provided": ["photo_id", "proof_of_address"],
        }
    },
    "claims": {
        "claim": {
            "claim_id": "CLM-LEAK",
            "policy_id": "CP-1002",
            "claimant_id": "H-001",
            "shipment": {"carrier": "demo", "tracking_number": "DM-0001"},
            "currency": "EUR",
            "reported_on": "2026-10-20",
            "claim_type": "loss",
            "declared_value": 400,
            "amount_claimed": 300,
            "incident_on": "2026-10-01",
        }
    },
}


def grouped(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4)) if sep else digits


def plant(i: int, max_length: int | None) -> str:
    """PAN (separator variant i % 4) + its code, an IBAN and an SSN. A field too short for all of them (a
    40-character carrier name) gets as many as fit, the card first: the other fields carry the rest."""
    pan, code = grouped(PANS[i % 4], SEPARATORS[i % 4]), CODES[i % 4]
    # Half the codes are labelled, half follow the card number directly.
    card = f"{pan} cvv {code}" if i % 2 == 0 else f"{pan} {code}"
    compact = IBAN.replace(" ", "")
    for text in (f"{card} {IBAN} {SSN}", f"{card} {compact} {SSN}", f"{card} {compact}", f"{card} {SSN}", card):
        if max_length is None or len(text) <= max_length:
            return text
    raise AssertionError(f"a {max_length}-character field cannot hold a card number and its code")


def forbidden() -> list[tuple[str, re.Pattern[str]]]:
    """What must appear nowhere: literal strings, codes as standalone tokens (not inside ids or numbers)."""
    out = [(f"PAN {grouped(p, s)}", re.compile(re.escape(grouped(p, s)))) for p in PANS for s in SEPARATORS]
    out += [(f"code {c}", re.compile(rf"(?<![\w.\-*]){c}(?![\w.\-])")) for c in CODES]
    out += [("IBAN", re.compile(re.escape(IBAN))), ("IBAN compact", re.compile(re.escape(IBAN.replace(" ", ""))))]
    out += [("SSN", re.compile(re.escape(SSN))), ("SSN digits", re.compile(r"(?<!\d)078051120(?!\d)"))]
    return out


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return dict(schema.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {}))
    return node


def free_text_fields(
    schema: dict[str, Any], node: dict[str, Any] | None = None, path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], int | None]]:
    """(path, maxLength) of every free-text string field in an input schema; list items as index 0. Written here
    from the schema, independently of the guard code's own walker."""
    node = _resolve(schema, node if node is not None else schema)
    out: list[tuple[tuple[Any, ...], int | None]] = []
    for sub in node.get("anyOf", []):
        sub = _resolve(schema, sub)
        if sub.get("type") != "null":
            out += free_text_fields(schema, sub, path)
    if node.get("type") == "string" and not {"enum", "const", "format", "pattern"} & set(node):
        out.append((path, node.get("maxLength")))
    for name, sub in (node.get("properties") or {}).items():
        out += free_text_fields(schema, sub, (*path, name))
    if isinstance(node.get("items"), dict):
        out += free_text_fields(schema, node["items"], (*path, 0))
    return out


def set_path(value: Any, path: tuple[Any, ...], text: str) -> bool:
    """Set a leaf, creating missing objects; a list path is planted only where the example has an item."""
    for i, key in enumerate(path[:-1]):
        if isinstance(key, int):
            if not isinstance(value, list) or len(value) <= key:
                return False
            value = value[key]
        else:
            value = value.setdefault(key, [] if isinstance(path[i + 1], int) else {})
    if isinstance(path[-1], int):
        return False
    value[path[-1]] = text
    return True


def planted_input(assistant_id: str, schema: dict[str, Any], offset: int = 0) -> tuple[dict[str, Any], list[str]]:
    """The assistant's example input with every free-text field planted (``offset`` shifts the card variants)."""
    data = copy.deepcopy(EXAMPLES[assistant_id])
    fields = []
    for i, (path, max_length) in enumerate(free_text_fields(schema)):
        if set_path(data, path, plant(i + offset, max_length)):
            fields.append(".".join(str(p) for p in path))
    return data, fields


def expand(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a value, plus whatever base64 strings decode to (Temporal payloads, pickled blobs)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from expand(v, depth)
    elif isinstance(value, list):
        for v in value:
            yield from expand(v, depth)
    elif isinstance(value, str):
        yield value
        if depth < 4 and len(value) >= 16 and re.fullmatch(r"[A-Za-z0-9+/=_-]+", value):
            try:
                raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if "-" in value else None)
            except (binascii.Error, ValueError):
                return
            text = raw.decode("utf-8", "replace")
            yield text
            try:
                yield from expand(json.loads(text), depth + 1)
            except ValueError:
                yield from expand(re.findall(r"[A-Za-z0-9+/=]{16,}", text), depth + 1)


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a log line that cannot format is still searched by its message
            self.lines.append(str(record.msg))


@pytest.fixture
def logs() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


@pytest.fixture
async def api(client, store, task_queue, tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    keys = {
        name: store.create_api_key(name, "acme", roles)[1]
        for name, roles in (
            ("alice", ["operator"]),
            ("bob", ["approver"]),
            ("carol", ["senior_approver"]),
            ("root", ["admin"]),
        )
    }
    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    async with make_worker(client, store, task_queue), serve_app(app) as running:
        yield running.base_url, keys


async def _drive(base: str, keys: dict[str, str], assistant_id: str, data: dict[str, Any], texts: list[str]) -> str:
    """Start the run over the API, decide every approval it asks for, collect every response; returns run id."""
    import asyncio

    def http(who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {keys[who]}"}, timeout=60)

    async with http("alice") as alice, http("bob") as bob, http("carol") as carol, http("root") as root:
        thread = await alice.post("/threads", json={})
        texts.append(thread.text)
        tid = thread.json()["thread_id"]
        r = await alice.post(
            f"/threads/{tid}/runs/stream",
            json={
                "assistant_id": assistant_id,
                "input": data,
                "stream_mode": ["values", "updates", "messages", "events"],
            },
        )
        texts.append(r.text)
        assert r.status_code == 200, r.text
        runs = (await alice.get(f"/threads/{tid}/runs")).json()
        run_id = runs[0]["run_id"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while loop.time() < deadline:
            run = await alice.get(f"/threads/{tid}/runs/{run_id}")
            texts.append(run.text)
            status = run.json()["status"]
            if status in ("success", "error", "timeout", "cancelled"):
                break
            pending = await bob.get("/approvals", params={"status": "pending"})
            texts.append(pending.text)
            for approval in pending.json():
                if approval["run_id"] != run_id:
                    continue
                for approver in (bob, carol):
                    d = await approver.post(
                        f"/approvals/{approval['approval_id']}/decision", json={"action": "approve"}
                    )
                    texts.append(d.text)
            await asyncio.sleep(0.2)
        for path in (
            f"/threads/{tid}",
            f"/threads/{tid}/state",
            f"/threads/{tid}/runs",
            f"/threads/{tid}/runs/{run_id}",
            f"/threads/{tid}/runs/{run_id}/join",
        ):
            r = await alice.get(path, timeout=10)
            texts.append(r.text)
        async with alice.stream("GET", f"/threads/{tid}/runs/{run_id}/stream", headers={"Last-Event-ID": "0"}) as s:
            texts.append("".join([chunk async for chunk in s.aiter_text()]))
        for path, params in (("/audit", {"run_id": run_id}), ("/audit", {}), ("/approvals", {})):
            r = await root.get(path, params=params)
            texts.append(r.text)
    return run_id


def _sqlite_texts(db: Path) -> dict[str, str]:
    out = {}
    c = sqlite3.connect(db)
    for (table,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        rows = c.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 - table names from sqlite_master
        out[f"table {table}"] = "\n".join(repr(r) for r in rows)
    c.close()
    # The database, its WAL and shared-memory files (not the folder of notification sockets beside them).
    for f in sorted(p for p in db.parent.glob(db.name + "*") if p.is_file()):
        out[f"file {f.name}"] = f.read_bytes().decode("latin-1")
    return out


async def test_planted_cardholder_and_personal_data_leak_nowhere(
    api: tuple[str, dict[str, str]],
    store,
    client,
    logs: Captured,
    capfd: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    from agents.registry import list_assistants

    base, keys = api
    responses: list[str] = []
    run_ids: dict[str, str] = {}
    planted: dict[str, list[str]] = {}
    for spec in list_assistants():
        assert spec.name in EXAMPLES, f"no example input for assistant {spec.name!r}: add one to EXAMPLES"
        data, fields = planted_input(spec.name, spec.input_schema)
        assert fields, f"{spec.name}: no free-text field found to plant in"
        planted[spec.name] = fields
        run_ids[spec.name] = await _drive(base, keys, spec.name, data, responses)

    surfaces: dict[str, str] = {"API responses": "\n".join(responses)}
    surfaces.update(_sqlite_texts(Path(store.path)))
    for name, run_id in run_ids.items():
        surfaces[f"events {name}"] = json.dumps(store.events_after(run_id, 0, limit=100000))
        history = await client.get_workflow_handle(run_id).fetch_history()
        surfaces[f"temporal history {name}"] = "\n".join(expand(json.loads(history.to_json())))
    captured = capfd.readouterr()
    surfaces["logs"] = "\n".join(logs.lines)
    surfaces["stdout/stderr"] = captured.out + captured.err

    leaks = [
        f"{label} in {surface}"
        for surface, text in surfaces.items()
        for label, pattern in forbidden()
        if pattern.search(text)
    ]
    assert leaks == [], f"{len(leaks)} leaks (planted in {planted}):\n" + "\n".join(leaks)
    # The search can see: the planted values arrived, masked, in what the API returns, in the store and in
    # the decoded workflow histories (a search that cannot see the masked form proves nothing).
    masked = "411111******1111"
    assert masked in surfaces["API responses"], "the planted values never reached the API's answers"
    assert masked in surfaces["table runs"] and masked in surfaces["table events"]
    for name in run_ids:
        assert masked in surfaces[f"temporal history {name}"], f"{name}: payloads were not decoded"


async def test_a_workflow_started_around_the_api_still_stores_no_card_number(client, store, task_queue) -> None:  # type: ignore[no-untyped-def]
    """Defence in depth: a client that starts ``AgentRun`` directly (no API, no CLI, no intake masking) still
    gets nothing unmasked into the app store: the begin step and every event append go through the store,
    which masks on write. (Temporal's history holds what that client sent: only intake can keep it out.)"""
    import uuid

    from runtime.workflow import WORKFLOW_NAME, AgentRunInput

    app = {**GOOD_APPLICATION["application"], "credit_score": 600, "purpose": f"{grouped(PANS[1], '-')} cvv 2931"}
    run_id = f"run-{uuid.uuid4()}"
    async with make_worker(client, store, task_queue):
        handle = await client.start_workflow(
            WORKFLOW_NAME,
            AgentRunInput(
                run_id=run_id,
                thread_id=f"thread-{uuid.uuid4()}",
                assistant_id="loan_triage",
                input={"application": app},
                requester={"id": "alice", "tenant": "default", "roles": ["operator"]},
            ),
            id=run_id,
            task_queue=task_queue,
        )
        settled = ("interrupted", "success", "error")
        await wait_for(lambda: (store.get_run(run_id) or {}).get("status") in settled, timeout=90)
        if store.get_run(run_id)["status"] == "interrupted":
            await handle.cancel()
        with contextlib.suppress(Exception):  # cancelled or failed: either way the run is over
            await handle.result()
    texts = _sqlite_texts(Path(store.path))
    assert any("555555******4444" in t for t in texts.values()), "the run never reached the store"
    leaks = [
        f"{label} in {surface}"
        for surface, text in texts.items()
        for label, pattern in forbidden()
        if label in ("PAN 5555-5555-5555-4444", "PAN 5555555555554444", "code 2931") and pattern.search(text)
    ]
    assert leaks == []


def _tree_texts(root: Path) -> dict[str, str]:
    """Every file under ``root``, as bytes decoded 1:1 (latin-1), plus its decoded JSON strings where it is JSON."""
    out = {}
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = f.read_bytes()
        text = raw.decode("latin-1")
        with contextlib.suppress(ValueError):
            text += "\n" + "\n".join(expand(json.loads(raw.decode("utf-8"))))
        out[f"file {f.relative_to(root)}"] = text
    return out


def test_an_eval_run_keeps_no_card_data_in_mlflow(tmp_path: Path) -> None:
    """``steward eval run`` on cases whose free-text input holds cardholder data: the MLflow run (params, metrics,
    tags, per-case table, traces, artifacts) and the eval journal hold none of it."""
    import os
    import subprocess
    import sys

    from agents.registry import get_assistant
    from runtime.devserver import free_port

    spec = get_assistant("loan_triage")
    cases, planted = [], []
    for k in range(2):  # two cases: all four card separator variants between them
        data, fields = planted_input("loan_triage", spec.input_schema, offset=2 * k)
        planted += fields
        cases.append(
            {
                "id": f"leak-{k}",
                "input": data,
                "decisions": {"approve_loan": "approve", "notify_customer": "approve"},
                "default_decision": {"action": "approve"},
                "expected": {"status": "success"},
            }
        )
    assert planted, "no free-text field found to plant in"
    suite = tmp_path / "leaks.jsonl"
    suite.write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    home, mlflow_db, artifacts = tmp_path / "home", tmp_path / "mlflow" / "mlflow.db", tmp_path / "mlflow" / "artifacts"
    mlflow_db.parent.mkdir()
    env = {
        **os.environ,
        "STEWARD_HOME": str(home),
        "STEWARD_TEMPORAL_DEV_PORT": str(free_port()),
        "STEWARD_TEMPORAL_UI_PORT": str(free_port()),
        "STEWARD_MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_db}",
        "STEWARD_MLFLOW_ARTIFACT_ROOT": str(artifacts),
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "-c", "from runtime.cli import main; main()", "eval", "run", str(suite)]
    cmd += ["--assistant", "loan_triage", "--no-model", "--concurrency", "1"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: a case scored below its expectation

    surfaces: dict[str, str] = {"eval stdout/stderr": done.stdout + done.stderr}
    surfaces.update({f"mlflow db {k}": v for k, v in _sqlite_texts(mlflow_db).items()})
    surfaces.update({f"mlflow artifacts {k}": v for k, v in _tree_texts(artifacts).items()})
    surfaces.update({f"eval journal {k}": v for k, v in _tree_texts(home / "evals").items()})
    leaks = [
        f"{label} in {surface}"
        for surface, text in surfaces.items()
        for label, pattern in forbidden()
        if pattern.search(text)
    ]
    assert leaks == [], f"{len(leaks)} leaks (planted in {planted}):\n" + "\n".join(leaks)
    # The search can see: the MLflow run exists with artifacts, and the masked card number reached it.
    assert any(k.startswith("mlflow artifacts") for k in surfaces), "the eval logged no artifact to search"
    assert any("411111******1111" in text for k, text in surfaces.items() if k.startswith("mlflow")), (
        "the planted values never reached MLflow (masked): the search proves nothing"
    )
