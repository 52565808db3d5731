"""The JavaScript LangGraph SDK (``@langchain/langgraph-sdk`` from npm, locked in tests/js/package-lock.json
and installed by ``.ci/system-deps`` with ``npm ci``) driving Steward as a chat front end does: create a
thread, stream a run, read state and history, list runs, rejoin the stream, resume the interrupts with
Agent Inbox's HumanResponse. Skipped only where ``node`` is missing; a missing ``npm ci`` is a failure."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import GOOD_APPLICATION

pytestmark = pytest.mark.timeout(180)
JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture
async def api(client, store, task_queue, worker, tmp_path: Path) -> AsyncIterator[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    async with serve_app(app) as running:
        yield (
            running.base_url,
            store.create_api_key("olivia", "acme", ["operator"])[1],
            store.create_api_key("arthur", "acme", ["approver"])[1],
        )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_js_sdk_drives_a_chat_turn_and_resumes_the_interrupts(api: tuple[str, str, str]) -> None:
    assert (JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk").is_dir(), (
        "the JS SDK is not installed: run `npm ci` in tests/js (.ci/system-deps does)"
    )
    url, operator, approver = api
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / "chat_frontend.mjs"),
        url,
        operator,
        approver,
        json.dumps(GOOD_APPLICATION),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=150)
    assert proc.returncode == 0, err.decode()[-3000:]
    report = json.loads(out)

    tid = report["thread"]["thread_id"]
    assert report["first_events"][0] == "metadata" and report["first_events"][-1] == "end"
    assert "Credit band A" in report["tokens"]
    assert {i["value"]["action_request"]["action"] for i in report["streamed_interrupts"]} == {
        "approve_loan",
        "notify_customer",
    }
    assert report["state"]["next"] == ["tools"] and len(report["state"]["interrupts"]) == 2
    assert all(i["value"]["config"]["allow_accept"] for i in report["state"]["interrupts"])
    assert len(report["history"]) == 1 and report["history"][0]["checkpoint"]["thread_id"] == tid
    assert [r["run_id"] for r in report["runs"]] == [report["run_id"]]
    assert report["rejoined_events"][0] == "metadata" and report["rejoined_events"][-1] == "end"
    assert "values" in report["rejoined_events"]

    assert report["resumed_events"][-1] == "end"
    assert report["final_values"]["outcome"]["decision"] == "approved"
    assert report["final_state"]["values"]["outcome"]["decided_by"] == "arthur"
    assert report["final_state"]["interrupts"] == []
    assert report["final_history"][0]["checkpoint"]["checkpoint_id"] == report["run_id"]
