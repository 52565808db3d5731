"""``GET /ops/breakers`` shows every process's circuit breakers from the shared app store, over real HTTP:
the API's own model client, tripped by a model server that refuses connections, and a breaker of another
process (a worker started as a subprocess) that shares the database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx

from runtime.devserver import free_port

_WORKER = """
import sys
from runtime.db import make_engine, sqlite_url
from runtime.db.breaker_states import BreakerBoard
from runtime.db.leases import holder_id
from runtime.llm.breaker import breaker_for

board = BreakerBoard(make_engine(sqlite_url(sys.argv[1])), holder_id("worker"))
board.install()
breaker_for("http://10.0.0.9:8081/v1|gemma3-270m", "gemma3-270m").record_failure("ReadTimeout: 60 s")
print(board.holder)
"""


async def test_breakers_of_every_process_are_on_one_endpoint(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from langchain_core.messages import HumanMessage

    from runtime.llm.agent_model import AgentModel
    from runtime.llm.breaker import reset_breakers
    from runtime.llm.chat_model import StewardChatModel
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    reset_breakers()
    admin = store.create_api_key("root", "acme", ["admin"])[1]
    operator = store.create_api_key("olga", "acme", ["operator"])[1]
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: every call is a transport failure
    model = AgentModel(
        StewardChatModel(base_url=dead, model="tiny", failure_threshold=2, cooldown_s=300, max_retries=1, timeout_s=2)
    )
    app = create_app(Settings(home=tmp_path), store=store)
    async with serve_app(app) as running, httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
        worker = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _WORKER, str(store.path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        worker_holder = worker.stdout.strip().splitlines()[-1]

        reply = await model.respond([HumanMessage("hello")])
        assert reply.used_fallback, "a dead model server produced a reply"

        r = await http.get("/ops/breakers", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200, r.text
        rows = {(b["breaker"], b["holder"]): b for b in r.json()["breakers"]}
        mine = rows[(f"{dead}|tiny", app.state.dispatcher.holder)]
        assert mine["state"] == "open" and mine["failures"] == 2 and mine["kind"] == "model"
        assert "ConnectError" in mine["last_error"]
        assert mine["fallback"] and mine["fallback"].startswith("rules")
        assert abs(mine["opened_at"] - time.time()) < 60
        other = rows[("http://10.0.0.9:8081/v1|gemma3-270m", worker_holder)]
        assert other["state"] == "closed" and other["failures"] == 1 and other["fallback"] is None
        assert other["last_error"] == "ReadTimeout: 60 s"
        assert r.json()["breakers"][0]["state"] == "open", "open breakers are listed first"

        # A success closes the circuit, and the board says so.
        model.chat_model.breaker.record_success()
        r = await http.get("/ops/breakers", headers={"Authorization": f"Bearer {admin}"})
        mine = next(b for b in r.json()["breakers"] if b["holder"] == app.state.dispatcher.holder)
        assert (mine["state"], mine["failures"], mine["fallback"], mine["opened_at"]) == ("closed", 0, None, None)

        assert (await http.get("/ops/breakers")).status_code == 401
        forbidden = await http.get("/ops/breakers", headers={"Authorization": f"Bearer {operator}"})
        assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]
    # A clean shutdown withdraws the API's rows; the worker's stay until it withdraws its own.
    from runtime.db.breaker_states import read_breakers

    left = {b.holder for b in read_breakers(app.state.dispatcher.engine)}
    assert left == {worker_holder}
    reset_breakers()
