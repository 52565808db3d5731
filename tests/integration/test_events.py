"""The event-driven path: a domain event starts the subscribed assistant; redelivery starts nothing twice;
unknown event types and bad bodies are 4xx naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import GOOD_APPLICATION, wait_for


async def test_domain_event_starts_the_subscribed_assistant(client, store, task_queue, worker, tmp_path: Path):
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    _, key = store.create_api_key("intake-bus", "acme", ["operator"])
    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    async with serve_app(app) as running:
        async with httpx.AsyncClient(base_url=running.base_url, headers={"X-Api-Key": key}, timeout=30) as http:
            event = {"type": "loan.application.received", "id": "evt-1", "data": GOOD_APPLICATION["application"]}
            r = await http.post("/events", json=event)
            assert r.status_code == 202, r.text
            (started,) = r.json()["runs"]
            assert started["assistant_id"] == "loan_triage" and not started["duplicate"]
            again = await http.post("/events", json=event)
            assert again.status_code == 202 and again.json()["runs"][0]["run_id"] == started["run_id"]
            assert again.json()["runs"][0]["duplicate"] is True

            unknown = await http.post("/events", json={"type": "cake.baked", "data": {}})
            assert unknown.status_code == 404 and "loan.application.received" in unknown.json()["detail"]
            bad = await http.post(
                "/events", json={"type": "loan.application.received", "data": {"application_id": "A"}}
            )
            assert bad.status_code == 422 and "input.application.applicant_id" in str(bad.json()["detail"])
    run = await wait_for(lambda: (r := store.get_run(started["run_id"])) and r["status"] == "interrupted" and r)
    assert run["tenant"] == "acme" and run["requester"] == "intake-bus"
    assert len(store.list_runs()) == 1
