"""SSE rejoin: a client that drops mid-stream and reconnects with ``Last-Event-ID`` gets every frame exactly
once, also when it dropped in the middle of one event's frames, and also after the API process was killed and
a new one (with a new store connection on the same file) took over. The reference is a fresh full read of
the same run once it has finished: reconnected reads must equal it frame for frame (id, event, data)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GOOD_APPLICATION
from tests.integration import deciding

pytestmark = pytest.mark.timeout(120)

Frame = tuple[str | None, str, str]  # (id, event, data)


async def read_frames(
    http: httpx.AsyncClient,
    url: str,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    params: Any = None,
) -> list[Frame]:
    """Read SSE frames until the server ends the stream or ``stop_after`` frames arrived (then hang up)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    frames: list[Frame] = []
    async with http.stream("GET", url, headers=headers, params=params) as r:
        assert r.status_code == 200, await r.aread()
        fields: dict[str, str] = {}
        async for line in r.aiter_lines():
            if line.startswith(":"):
                continue
            if line == "":
                if "event" in fields:
                    frames.append((fields.get("id"), fields["event"], fields.get("data", "")))
                    if stop_after is not None and len(frames) >= stop_after:
                        break
                fields = {}
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
    return frames


async def until(predicate: Any, timeout: float = 30.0) -> Any:
    for _ in range(int(timeout / 0.02)):
        if value := predicate():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


def last_id(frames: list[Frame]) -> str:
    return next(f[0] for f in reversed(frames) if f[0] is not None)


def without_metadata(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f[1] != "metadata"]


@pytest.fixture
def slow_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens arrive over ~0.6 s per model step, so a client can drop in the middle of a run."""
    monkeypatch.setenv("STEWARD_STANDIN_DELAY_S", "0.6")


@pytest.fixture
async def setup(client, store, task_queue, worker, tmp_path: Path, slow_model: None) -> AsyncIterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from runtime.settings import Settings

    keys = {
        "operator": store.create_api_key("olivia", "acme", ["operator"])[1],
        "approver": store.create_api_key("arthur", "acme", ["approver"])[1],
    }
    yield {"settings": Settings(home=tmp_path, task_queue=task_queue), "keys": keys, "store": store, "client": client}


async def start_run(http: httpx.AsyncClient) -> tuple[str, str]:
    r = await http.post("/runs", json={"assistant_id": "loan_triage", "input": GOOD_APPLICATION})
    assert r.status_code == 200, r.text
    return r.json()["thread_id"], r.json()["run_id"]


async def approve_all(http: httpx.AsyncClient, thread_id: str, run_id: str) -> None:
    """Approve every approval the run asks for (the loan, then whatever follows it) until the run ends."""
    decided: set[str] = set()
    for _ in range(1200):
        pending = (await http.get("/approvals", params={"run_id": run_id})).json()
        for a in pending:
            if a["approval_id"] not in decided:
                r = await http.post(f"/approvals/{a['approval_id']}/decision", json={"action": "approve"})
                assert r.status_code == 200, r.text
                decided.add(a["approval_id"])
        run = (await http.get(f"/threads/{thread_id}/runs/{run_id}")).json() if decided else {}
        if run.get("status") in ("success", "error"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run did not finish; approved {sorted(decided)}")


async def test_reconnect_with_last_event_id_loses_nothing_and_repeats_nothing(setup: dict[str, Any]) -> None:
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(setup["settings"], store=setup["store"], client=setup["client"])
    async with serve_app(app) as api:
        op = httpx.AsyncClient(base_url=api.base_url, headers={"X-Api-Key": setup["keys"]["operator"]}, timeout=30)
        ap = httpx.AsyncClient(base_url=api.base_url, headers={"X-Api-Key": setup["keys"]["approver"]}, timeout=30)
        async with op, ap:
            tid, rid = await start_run(op)
            url = f"/threads/{tid}/runs/{rid}/stream"
            params = {"stream_mode": "custom", "follow": "true"}
            got = await read_frames(op, url, stop_after=6, params=params)  # metadata + 5 events, mid-run
            pieces = [got]
            approving = asyncio.create_task(approve_all(ap, tid, rid))
            while pieces[-1][-1][1] != "end":  # drop and rejoin every 7 frames until the run ends
                pieces.append(await read_frames(op, url, last_id(got), stop_after=7, params=params))
                got = pieces[-1]
                await asyncio.sleep(0.1)  # events keep arriving while we are away
            await approving
            joined = without_metadata([f for piece in pieces for f in piece])
            reference = without_metadata(await read_frames(op, url, params=params))
            assert joined == reference
            ids = [int(f[0]) for f in joined if f[0] is not None]
            events = setup["store"].events_after(rid, 0, limit=10_000)
            assert ids == [e["seq"] for e in events] == list(range(1, len(events) + 1))
            assert len(pieces) > 4


async def test_rejoin_in_the_middle_of_one_events_frames(setup: dict[str, Any]) -> None:
    """With several modes one event gives several frames (ids N.1, N.2 ... N); a drop between them resumes
    with the next frame of that event."""
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(setup["settings"], store=setup["store"], client=setup["client"])
    async with serve_app(app) as api:
        op = httpx.AsyncClient(base_url=api.base_url, headers={"X-Api-Key": setup["keys"]["operator"]}, timeout=30)
        ap = httpx.AsyncClient(base_url=api.base_url, headers={"X-Api-Key": setup["keys"]["approver"]}, timeout=30)
        async with op, ap:
            tid, rid = await start_run(op)
            url = f"/threads/{tid}/runs/{rid}/stream"
            params = [("stream_mode", m) for m in ("values", "messages", "updates", "events", "custom")] + [
                ("follow", "true")
            ]
            approving = asyncio.create_task(approve_all(ap, tid, rid))
            pieces: list[list[Frame]] = [[]]
            cursor: str | None = None
            partial_cuts = 0
            while not pieces[-1] or pieces[-1][-1][1] != "end":
                piece = await read_frames(op, url, cursor, stop_after=5, params=params)
                pieces.append(piece)
                if piece[-1][0] is not None:
                    cursor = piece[-1][0]
                    partial_cuts += "." in cursor
            await approving
            joined = without_metadata([f for piece in pieces for f in piece])
            assert partial_cuts > 0  # we really did cut inside events
            assert joined == without_metadata(await read_frames(op, url, params=params))


async def test_rejoin_after_the_api_process_is_killed_and_replaced(setup: dict[str, Any]) -> None:
    """Events written while no API runs at all (approvals decided directly, the run goes on in the worker)
    are delivered by the next API process, which opened its own store connection."""
    from guards.types import ApprovalDecision, Principal
    from runtime.store import Store
    from server.app import create_app
    from server.testing import start_app

    store = setup["store"]
    first = await start_app(create_app(setup["settings"], store=store, client=setup["client"]))
    op = httpx.AsyncClient(base_url=first.base_url, headers={"X-Api-Key": setup["keys"]["operator"]}, timeout=30)
    tid, rid = await start_run(op)
    url = f"/threads/{tid}/runs/{rid}/stream"
    params = {"stream_mode": ["custom", "values"], "follow": "true"}
    reader = asyncio.create_task(read_frames(op, url, params=params))
    await asyncio.sleep(1.0)
    await first.kill()  # mid-stream: the reader sees the connection drop
    with pytest.raises(httpx.HTTPError):
        await reader
    await op.aclose()

    # Meanwhile the run goes on without any API: decide its approvals through the runtime directly.
    decided: set[str] = set()

    async def decide_pending() -> bool:
        for a in store.list_approvals(run_id=rid, status="pending"):
            if a["approval_id"] not in decided:
                decided.add(a["approval_id"])
                await deciding.decide(
                    setup["client"],
                    store,
                    ApprovalDecision(
                        approval_id=a["approval_id"],
                        action="approve",
                        principal=Principal(id="arthur", tenant="acme", roles=["approver"]),
                    ),
                )
        return store.get_run(rid)["status"] == "success"

    for _ in range(1200):
        if await decide_pending():
            break
        await asyncio.sleep(0.05)
    assert decided and store.get_run(rid)["status"] == "success"

    fresh_store = Store(store.path)
    second = await start_app(create_app(setup["settings"], store=fresh_store, client=setup["client"]))
    try:
        async with httpx.AsyncClient(
            base_url=second.base_url, headers={"X-Api-Key": setup["keys"]["operator"]}, timeout=30
        ) as op2:
            reference = without_metadata(await read_frames(op2, url, params=params))
            cut = len(reference) // 3
            resumed = await read_frames(op2, url, last_id(reference[:cut]), params=params)
            assert reference[:cut] + resumed == reference
            assert resumed[-1][1] == "end" and all(f[1] != "metadata" for f in resumed)
    finally:
        await second.stop()
        fresh_store.close()


async def test_sdk_stream_survives_an_api_restart(setup: dict[str, Any]) -> None:
    """langgraph-sdk reconnects to ``Location`` with ``Last-Event-ID`` after a drop; the new API process on
    the same port continues the stream, so the client sees one uninterrupted, duplicate-free stream."""
    from langgraph_sdk import get_client

    from server.app import create_app
    from server.testing import free_port, start_app

    port = free_port()
    store = setup["store"]
    api = await start_app(create_app(setup["settings"], store=store, client=setup["client"]), port=port)
    sdk = get_client(url=api.base_url, api_key=setup["keys"]["operator"])
    parts: list[Any] = []
    restarted = asyncio.Event()

    async def restart_after_first_tokens() -> None:
        nonlocal api
        # The first message (the rules' note from assess; no model here, so no tokens): the run is mid-node.
        await until(lambda: sum(p.event == "messages" for p in parts) >= 1)
        await api.kill()
        api = await start_app(create_app(setup["settings"], store=store, client=setup["client"]), port=port)
        restarted.set()

    restarter = asyncio.create_task(restart_after_first_tokens())
    async for part in sdk.runs.stream(
        None, "loan_triage", input=GOOD_APPLICATION, stream_mode=["messages-tuple", "custom"]
    ):
        parts.append(part)
    await restarter
    try:
        assert restarted.is_set() and parts[-1].event == "end"
        customs = [p.data["seq"] for p in parts if p.event == "custom"]
        assert customs == list(range(1, len(customs) + 1))  # every event once, in order, across the restart
        assert customs[-1] == store.last_event_seq(parts[0].data["run_id"])
    finally:
        await api.stop()


async def test_an_idle_stream_gets_heartbeats(setup: dict[str, Any]) -> None:
    """A run waiting for people sends nothing for hours; heartbeat comments keep proxies from closing it."""
    from server.app import StreamOptions, create_app
    from server.testing import serve_app

    app = create_app(setup["settings"], store=setup["store"], client=setup["client"], stream=StreamOptions(ping_s=0.3))
    async with serve_app(app) as api:
        async with httpx.AsyncClient(
            base_url=api.base_url, headers={"X-Api-Key": setup["keys"]["operator"]}, timeout=30
        ) as op:
            tid, rid = await start_run(op)
            await until(lambda: len(setup["store"].list_approvals(run_id=rid, status="pending")) >= 1)
            pings = 0
            url = f"/threads/{tid}/runs/{rid}/stream"
            async with op.stream(
                "GET",
                url,
                params={"follow": "true"},
                headers={"Last-Event-ID": str(setup["store"].last_event_seq(rid))},
            ) as r:
                async for line in r.aiter_lines():
                    pings += line.startswith(": ping")
                    if pings >= 2:
                        break
            assert pings >= 2
