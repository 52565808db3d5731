"""Decisions only through authentication: the ``decide`` Update accepts a decision only with a proof the API
minted for an authenticated principal, and the CLI decides only through the API with an API key.

Real Temporal dev server, real worker, real HTTP (uvicorn on loopback), the real ``steward`` CLI in a
subprocess. Every refusal below is sent straight to Temporal, the way anyone with Temporal access could.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.errors import Forbidden
from runtime.proofs import DecisionSigner
from runtime.settings import get_settings
from tests.conftest import GOOD_APPLICATION, make_worker, pending_approvals, wait_for

REQUESTER = Principal(id="alice", roles=["operator"])
BOB = Principal(id="bob", roles=["approver"])
CALL: dict[str, Any] = {
    "id": "c1",
    "name": "approve_loan",
    "args": {"application_id": "A-1", "amount": 100, "reason": "band A"},
}


@pytest.fixture
async def scripted_worker(client, store, task_queue) -> AsyncIterator[object]:
    async with make_worker(client, store, task_queue) as w:
        yield w


async def waiting_run(client: Any, store: Any, task_queue: str, calls: int = 1) -> tuple[Any, list[dict[str, Any]]]:
    """A run of the scripted assistant stopped at ``calls`` approve_loan approvals."""
    tool_calls = [{**CALL, "id": f"c{i}", "args": {**CALL["args"], "application_id": f"A-{i}"}} for i in range(calls)]
    handle = await runs.start_run(
        client, store, task_queue, "scripted", {"tool_calls": tool_calls}, REQUESTER, validate=False
    )
    return handle, await pending_approvals(store, handle.id, calls)


def signer() -> DecisionSigner:
    """The signer the API uses (the test session's key, from settings)."""
    return DecisionSigner.from_settings(get_settings())


async def send_raw(client: Any, run_id: str, decision: ApprovalDecision) -> dict[str, Any]:
    """Straight to the workflow's Update, no API in between."""
    return await client.get_workflow_handle(run_id).execute_update("decide", decision, result_type=dict)


async def refused(client: Any, run_id: str, decision: ApprovalDecision) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await send_raw(client, run_id, decision)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "Unauthorized", cause
    return cause.message


def approve(row: dict[str, Any], principal: Principal = BOB, **fields: Any) -> ApprovalDecision:
    return ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=principal, **fields)


async def test_a_decision_without_a_proof_is_refused(client, store, task_queue, scripted_worker) -> None:
    handle, [row] = await waiting_run(client, store, task_queue)
    message = await refused(client, handle.id, approve(row))
    assert "no proof" in message
    # An approval id the run does not know is refused at once too (the proof comes before everything else).
    t0 = time.monotonic()
    await refused(client, handle.id, ApprovalDecision(approval_id="apr_unknown", action="approve", principal=BOB))
    assert time.monotonic() - t0 < 10
    assert store.get_approval(row["approval_id"])["status"] == "pending"
    assert store.tool_executions(handle.id) == []
    # The same decision with the API's proof goes through: the refusals were about the proof alone.
    out = await send_raw(client, handle.id, signer().sign(approve(row)))
    assert out["status"] == "approved" and out["decided_by"] == "bob"
    assert (await handle.result()).status == "success"


async def test_forged_expired_and_misdirected_proofs_are_refused(client, store, task_queue, scripted_worker) -> None:
    handle, rows = await waiting_run(client, store, task_queue, calls=2)
    first, second = rows
    good = signer()

    forged = DecisionSigner(Ed25519PrivateKey.generate())
    assert "does not trust" in await refused(client, handle.id, forged.sign(approve(first)))

    expired = good.sign(approve(first), now=time.time() - good.ttl_s - 5)
    assert "expired" in await refused(client, handle.id, expired)

    # A valid proof for the other approval, moved onto this one.
    other = good.sign(approve(second))
    moved = other.model_copy(update={"approval_id": first["approval_id"]})
    assert "approval id differs" in await refused(client, handle.id, moved)

    # A tampered signature over the same claims.
    body, sig = good.mint(approve(first)).split(".")
    tampered = approve(first, proof=f"{body}.{sig[:-4]}AAAA")
    assert "does not verify" in await refused(client, handle.id, tampered)

    assert all(store.get_approval(r["approval_id"])["status"] == "pending" for r in rows)
    assert store.tool_executions(handle.id) == []


async def test_a_proof_binds_the_decision_args_and_principal(client, store, task_queue, scripted_worker) -> None:
    handle, [row] = await waiting_run(client, store, task_queue)
    good = signer()
    edit = ApprovalDecision(
        approval_id=row["approval_id"], action="edit", principal=BOB, args={**row["args"], "amount": 50}
    )
    signed_edit = good.sign(edit)
    # Same proof, other arguments.
    other_args = signed_edit.model_copy(update={"args": {**row["args"], "amount": 5000}})
    assert "edited arguments differs" in await refused(client, handle.id, other_args)
    # Same proof, another decision.
    as_reject = good.sign(approve(row)).model_copy(update={"action": "reject"})
    assert "action differs" in await refused(client, handle.id, as_reject)
    # Same proof, a principal with more roles, or another name.
    promoted = good.sign(approve(row)).model_copy(
        update={"principal": Principal(id="bob", roles=["approver", "senior_approver"])}
    )
    assert "roles differs" in await refused(client, handle.id, promoted)
    impostor = good.sign(approve(row)).model_copy(update={"principal": Principal(id="carol", roles=["approver"])})
    assert "principal differs" in await refused(client, handle.id, impostor)
    # A different comment is a different decision too.
    reworded = good.sign(approve(row, comment="ok")).model_copy(update={"comment": "approved by the CEO"})
    assert "comment or response differs" in await refused(client, handle.id, reworded)
    assert store.get_approval(row["approval_id"])["status"] == "pending"

    out = await send_raw(client, handle.id, signed_edit)
    assert out["status"] == "edited"
    await handle.result()
    [done] = store.tool_executions(handle.id)
    assert done["args"]["amount"] == 50


async def test_checks_after_the_proof_use_its_principal(client, store, task_queue, scripted_worker) -> None:
    """A genuine proof does not lift the role and separation-of-duties checks: the requester's own key is
    refused as before, by the same validator."""
    handle, [row] = await waiting_run(client, store, task_queue)
    requester_key = store.create_api_key("alice", "default", ["operator", "approver"])[1]
    with pytest.raises(Forbidden, match="separation of duties"):
        await runs.decide_with_key(client, store, requester_key, row["approval_id"], "approve")
    viewer_key = store.create_api_key("vera", "default", ["viewer"])[1]
    with pytest.raises(Forbidden, match="lacks role"):
        await runs.decide_with_key(client, store, viewer_key, row["approval_id"], "approve")
    with pytest.raises(Forbidden, match="invalid or revoked API key"):
        await runs.decide_with_key(client, store, "stw_not_a_key", row["approval_id"], "approve")
    bob_key = store.create_api_key("bob", "default", ["approver"])[1]
    out = await runs.decide_with_key(client, store, bob_key, row["approval_id"], "approve")
    assert out["decided_by"] == "bob"
    await handle.result()


# -- the CLI: through the API, with a key ------------------------------------------------------------------
@pytest.fixture
async def api(client, store, task_queue, scripted_worker, tmp_path: Path) -> AsyncIterator[str]:
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(Settings(home=tmp_path / "api-home", task_queue=task_queue), store=store, client=client)
    async with serve_app(app) as running:
        yield running.base_url


async def steward(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The real CLI in a subprocess (this event loop keeps serving the API meanwhile)."""
    child_env = {k: v for k, v in os.environ.items() if k not in ("STEWARD_API_KEY", "STEWARD_API_URL")}
    child_env.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), "STEWARD_HOME": str(tmp_path / "cli-home")})
    child_env.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from runtime.cli import main; main()",
        *argv,
        env=child_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_decision_without_a_key_is_refused_with_how_to_get_one(
    client, store, task_queue, api, tmp_path
) -> None:
    handle, [row] = await waiting_run(client, store, task_queue)
    code, _, err = await steward(tmp_path, "approve", row["approval_id"], env={"STEWARD_API_URL": api})
    assert code == 2
    assert "STEWARD_API_KEY" in err and "steward login" in err and "steward keys create" in err
    # Self-declared identity is gone from the command line.
    code, _, err = await steward(
        tmp_path,
        "approve",
        row["approval_id"],
        "--as",
        "bob",
        "--role",
        "senior_approver",
        env={"STEWARD_API_URL": api},
    )
    assert code == 2 and "unrecognized arguments: --as" in err
    assert store.get_approval(row["approval_id"])["status"] == "pending"
    await handle.terminate()


async def test_cli_decides_through_the_api_with_a_key(client, store, task_queue, api, tmp_path) -> None:
    handle, rows = await waiting_run(client, store, task_queue, calls=2)
    first, second = rows
    bob_key = store.create_api_key("bob", "default", ["approver"])[1]

    code, _, err = await steward(tmp_path, "login", "--key", "stw_wrong", "--api-url", api)
    assert code == 2 and "refused this key" in err
    code, out, err = await steward(tmp_path, "login", "--key", bob_key, "--api-url", api)
    assert code == 0, err
    saved = tmp_path / "config" / "steward" / "credentials.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["api_key"] == bob_key

    # With the saved login: the API authenticates the key and signs; the workflow verifies.
    code, out, err = await steward(tmp_path, "approve", first["approval_id"], "--comment", "fine")
    assert code == 0, err
    assert json.loads(out)["decided_by"] == "bob"
    decided = store.get_approval(first["approval_id"])
    assert decided["status"] == "approved" and decided["decided_by"] == "bob"

    # With STEWARD_API_KEY (it wins over the saved login): a key whose principal lacks the role is refused.
    vera_key = store.create_api_key("vera", "default", ["viewer"])[1]
    code, _, err = await steward(tmp_path, "approve", second["approval_id"], env={"STEWARD_API_KEY": vera_key})
    assert code == 3 and "HTTP 403" in err
    carol_key = store.create_api_key("carol", "default", ["approver"])[1]
    code, out, err = await steward(
        tmp_path,
        "approve",
        second["approval_id"],
        "--action",
        "edit",
        "--args",
        json.dumps({**second["args"], "amount": 80}),
        env={"STEWARD_API_KEY": carol_key},
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "edited"
    assert (await handle.result()).status == "success"
    by_app = {e["args"]["application_id"]: e for e in store.tool_executions(handle.id)}
    assert by_app[second["args"]["application_id"]]["args"]["amount"] == 80
    assert store.get_approval(second["approval_id"])["decided_by"] == "carol"


# -- steward run: started through the API as the key's principal ---------------------------------------------
async def test_cli_run_without_a_key_is_refused_and_takes_no_self_declared_requester(
    client, store, task_queue, api, tmp_path
) -> None:
    app = tmp_path / "app.json"
    app.write_text(json.dumps(GOOD_APPLICATION))
    before = len(store.list_runs())
    code, _, err = await steward(tmp_path, "run", "loan_triage", "--input", str(app), env={"STEWARD_API_URL": api})
    assert code == 2
    assert "STEWARD_API_KEY" in err and "steward login" in err and "steward keys create" in err
    alice_key = store.create_api_key("alice", "default", ["operator"])[1]
    for flag in ("--as", "--role"):
        code, _, err = await steward(
            tmp_path,
            "run",
            "loan_triage",
            "--input",
            str(app),
            flag,
            "bob",
            env={"STEWARD_API_URL": api, "STEWARD_API_KEY": alice_key},
        )
        assert code == 2 and f"unrecognized arguments: {flag}" in err
    code, _, err = await steward(
        tmp_path, "run", "loan_triage", "--input", str(app), env={"STEWARD_API_URL": api, "STEWARD_API_KEY": "stw_no"}
    )
    assert code == 3 and "HTTP 401" in err
    assert len(store.list_runs()) == before, "a refused `steward run` started a run anyway"


async def test_cli_run_is_started_as_the_keys_principal_who_cannot_approve_it(
    client, store, task_queue, api, tmp_path
) -> None:
    """The run's requester is whoever the key belongs to; that principal's decisions are refused (separation of
    duties), another approver's complete the run, and the CLI streamed it all over the API's SSE."""
    import httpx

    app = tmp_path / "app.json"
    app.write_text(json.dumps(GOOD_APPLICATION))
    alice_key = store.create_api_key("alice", "default", ["operator", "approver"])[1]
    bob_key = store.create_api_key("bob", "default", ["approver"])[1]
    known = {r["run_id"] for r in store.list_runs()}
    cli = asyncio.ensure_future(
        steward(
            tmp_path,
            "run",
            "loan_triage",
            "--input",
            str(app),
            "--thread",
            "t-cli-run",
            "--no-prompt",
            env={"STEWARD_API_URL": api, "STEWARD_API_KEY": alice_key},
        )
    )
    run_id = await wait_for(
        lambda: next((r["run_id"] for r in store.list_runs("t-cli-run") if r["run_id"] not in known), None),
        timeout=60,
    )
    rows = await pending_approvals(store, run_id, 1, timeout=90)
    run = store.get_run(run_id)
    assert run["requester"] == "alice" and run["tenant"] == "default"
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        for row in rows:
            mine = await http.post(
                f"/approvals/{row['approval_id']}/decision",
                json={"action": "approve"},
                headers={"Authorization": f"Bearer {alice_key}"},
            )
            assert mine.status_code == 403, mine.text
        decided: set[str] = set()
        while not cli.done():
            for row in store.list_approvals(run_id=run_id, status="pending"):
                if row["approval_id"] in decided:
                    continue
                r = await http.post(
                    f"/approvals/{row['approval_id']}/decision",
                    json={"action": "approve"},
                    headers={"Authorization": f"Bearer {bob_key}"},
                )
                assert r.status_code == 200, r.text
                decided.add(row["approval_id"])
            await asyncio.sleep(0.2)
    code, out, err = await cli
    assert code == 0, err + out
    assert f"run {run_id} (thread t-cli-run)" in out
    for row in rows:
        assert f"WAITING for approval {row['approval_id']}" in out
        assert f"decide with: steward approve {row['approval_id']}" in out
        assert f"{row['approval_id']}: approved by bob" in out
    assert "run success" in out
    assert out.count("<- intake") == 1, "an event was printed twice across the stream's rejoin"
