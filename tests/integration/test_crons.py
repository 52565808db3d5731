"""Crons on Temporal Schedules, on the real dev server: created through langgraph-sdk, fired (Temporal's
trigger, under the cron's overlap policy) into an ordinary run that a worker executes, listed, updated,
deleted; and the ``steward cron`` commands."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from temporalio.client import ScheduleOverlapPolicy
from temporalio.service import RPCError

from tests.conftest import GOOD_APPLICATION, wait_for

pytestmark = pytest.mark.timeout(120)

BAND_C = {"application": {**GOOD_APPLICATION["application"], "application_id": "A-CRON", "credit_score": 600}}


@dataclass
class Server:
    url: str
    operator: str
    other_tenant: str


@pytest.fixture
async def server(client, store, task_queue, worker, tmp_path: Path) -> AsyncIterator[Server]:  # type: ignore[no-untyped-def]
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    async with serve_app(app) as running:
        yield Server(
            url=running.base_url,
            operator=store.create_api_key("olivia", "acme", ["operator"])[1],
            other_tenant=store.create_api_key("mallory", "globex", ["operator"])[1],
        )


async def test_a_cron_is_a_temporal_schedule_whose_firing_is_an_ordinary_run(server: Server, client, store) -> None:  # type: ignore[no-untyped-def]
    sdk: Any = get_client(url=server.url, api_key=server.operator)
    cron = await sdk.crons.create("loan_triage", schedule="0 3 * * *", input=BAND_C, metadata={"team": "risk"})
    cron_id = cron["cron_id"]
    assert cron_id.startswith("cron-") and cron["schedule"] == "0 3 * * *" and cron["enabled"] is True
    assert cron["next_run_date"] is not None and cron["thread_id"] is None
    assert cron["payload"]["input"]["application"]["application_id"] == "A-CRON"

    # Durable and visible: it is a schedule in Temporal, with the overlap policy of the default strategy.
    desc = await client.get_schedule_handle(cron_id).describe()
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    first = desc.info.next_action_times[0]
    assert (first.hour, first.minute) == (3, 0)  # Temporal keeps the cron expression as a calendar spec

    # Fire it now: the workflow id Temporal gives the firing is the run id, and the run is an ordinary run.
    await client.get_schedule_handle(cron_id).trigger()
    run = await wait_for(
        lambda: next((r for r in store.list_runs(limit=50) if r["run_id"].startswith(f"run-{cron_id}-")), None)
    )
    done = await wait_for(lambda: (r := store.get_run(run["run_id"])) and r["status"] == "success" and r, timeout=60)
    assert done["assistant_id"] == "loan_triage" and done["requester"] == "olivia" and done["tenant"] == "acme"
    assert done["output"]["decision"] == "referred"
    assert done["thread_id"] == f"thread-{run['run_id']}"  # a stateless cron: a new thread per run
    listed = await sdk.runs.list(done["thread_id"])
    assert [r["run_id"] for r in listed] == [run["run_id"]] and listed[0]["status"] == "success"
    refreshed = next(c for c in await sdk.crons.search(assistant_id="loan_triage") if c["cron_id"] == cron_id)
    assert run["run_id"] in refreshed["recent_run_ids"]

    # Search, count and update; another tenant sees none of it.
    assert [c["cron_id"] for c in await sdk.crons.search(metadata={"team": "risk"})] == [cron_id]
    assert await sdk.crons.count(assistant_id="loan_triage") == 1
    updated = await sdk.crons.update(cron_id, schedule="30 4 * * 1", enabled=False)
    assert updated["schedule"] == "30 4 * * 1" and updated["enabled"] is False
    desc = await client.get_schedule_handle(cron_id).describe()
    assert desc.schedule.state.paused
    assert [(t.hour, t.minute, t.isoweekday()) for t in desc.info.next_action_times[:1]] in ([(4, 30, 1)], [])
    intruder: Any = get_client(url=server.url, api_key=server.other_tenant)
    assert await intruder.crons.search() == []
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await intruder.crons.delete(cron_id)
    assert refused.value.response.status_code == 404

    await sdk.crons.delete(cron_id)
    with pytest.raises(RPCError):
        await client.get_schedule_handle(cron_id).describe()
    assert await sdk.crons.search() == []


async def test_a_thread_cron_continues_its_thread_and_honours_interrupt(server: Server, client, store) -> None:  # type: ignore[no-untyped-def]
    sdk: Any = get_client(url=server.url, api_key=server.operator)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    cron = await sdk.crons.create_for_thread(
        tid, "loan_triage", schedule="0 3 * * *", input=BAND_C, multitask_strategy="interrupt"
    )
    try:
        assert cron["thread_id"] == tid
        desc = await client.get_schedule_handle(cron["cron_id"]).describe()
        assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.CANCEL_OTHER
        await client.get_schedule_handle(cron["cron_id"]).trigger()
        run = await wait_for(lambda: next(iter(store.list_runs(tid, limit=5)), None))
        await wait_for(lambda: (r := store.get_run(run["run_id"])) and r["status"] == "success", timeout=60)
        state = await sdk.threads.get_state(tid)
        assert state["values"]["outcome"]["decision"] == "referred"
    finally:
        await sdk.crons.delete(cron["cron_id"])


async def test_bad_cron_input_is_a_4xx_naming_the_field(server: Server) -> None:
    sdk: Any = get_client(url=server.url, api_key=server.operator)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"schedule": "every day"}, "schedule"),
        ({"schedule": "0 3 * * *", "input": {"application": {"amount": "lots"}}}, "input.application"),
        ({"schedule": "0 3 * * *", "input": BAND_C, "multitask_strategy": "rollback"}, "multitask_strategy"),
        ({"schedule": "0 3 * * *", "input": BAND_C, "webhook": "http://x"}, "webhook"),
        ({"schedule": "0 3 * * *", "input": BAND_C, "timezone": "Mars/Olympus"}, "schedule"),
    ]
    for body, field in cases:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await sdk.crons.create("loan_triage", **body)
        assert refused.value.response.status_code == 422, body
        assert field in refused.value.response.json()["detail"], (body, refused.value.response.text)
    with pytest.raises(httpx.HTTPStatusError) as missing:
        await sdk.crons.delete("cron-nope")
    assert missing.value.response.status_code == 404


async def test_steward_cron_create_list_delete_through_the_api_as_the_keys_principal(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.cli import build_parser
    from runtime.settings import get_settings

    async def steward(*argv: str) -> tuple[int, str]:
        """The command in a thread: it calls the API, which is served on this test's event loop."""
        get_settings.cache_clear()
        args = build_parser().parse_args(list(argv))
        code = await asyncio.to_thread(args.fn, args)
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no saved login
    monkeypatch.setenv("STEWARD_API_URL", server.url)
    monkeypatch.delenv("STEWARD_API_KEY", raising=False)
    payload = tmp_path / "input.json"
    payload.write_text(
        '{"application": {"application_id": "A-1", "applicant_id": "P-1", "amount": 1000, '
        '"annual_income": 50000, "credit_score": 700, "purpose": "car"}}'
    )
    create = ("cron", "create", "loan_triage", "15 6 * * *", "--input", str(payload), "--multitask-strategy", "enqueue")
    code, out = await steward(*create)  # no key: refused with how to get one, nothing scheduled
    assert code == 2 and "STEWARD_API_KEY" in out and "steward login" in out
    with pytest.raises(SystemExit):  # nobody declares who they are on the command line
        build_parser().parse_args([*create, "--as", "someone-else"])

    monkeypatch.setenv("STEWARD_API_KEY", server.operator)
    code, out = await steward(*create)
    assert code == 0, out
    cron_id = re.search(r"created (cron-[0-9a-f-]+)", out).group(1)  # type: ignore[union-attr]
    assert "overlap BUFFER_ALL" in out

    code, out = await steward("cron", "list", "--json")
    assert code == 0
    (mine,) = [c for c in json.loads(out) if c["cron_id"] == cron_id]
    assert mine["user_id"] == "olivia"  # the key's principal requests the scheduled runs
    monkeypatch.setenv("STEWARD_API_KEY", server.other_tenant)
    code, out = await steward("cron", "list")
    assert code == 0 and cron_id not in out  # another tenant's key does not see it

    monkeypatch.setenv("STEWARD_API_KEY", server.operator)
    code, out = await steward("cron", "delete", cron_id)
    assert code == 0 and f"deleted {cron_id}" in out
    code, out = await steward("cron", "list")
    assert cron_id not in out
