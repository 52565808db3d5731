"""The operator console in a real headless Chromium (Debian ``chromium``, driven by Playwright), on the real
runtime: an operator triggers a run and watches tokens and steps stream in; an approver, in a second browser
context, approves both requests from the inbox; the operator's page shows the run finish. A second test points
the actions at a webhook that is down: the outbox panel and the run view show them queued, retried, with the
error. Screenshots are kept under ``tests/artifacts/``. Skipped where Chromium or Playwright is not installed."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GOOD_APPLICATION

pytestmark = pytest.mark.timeout(180)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def console(
    client,
    store,
    task_queue,
    worker,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[dict[str, Any]]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: .ci/system-deps installs Debian chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.async_api")
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    monkeypatch.setenv("STEWARD_STANDIN_DELAY_S", "1.0")  # nodes take a second: steps visibly arrive in turn
    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    async with serve_app(app) as api:
        yield {
            "url": f"{api.base_url}/console/",
            "operator": store.create_api_key("olivia", "acme", ["operator"])[1],
            "approver": store.create_api_key("arthur", "acme", ["approver"])[1],
            "store": store,
        }


async def sign_in(page: Any, url: str, key: str) -> None:
    await page.goto(url)
    await page.fill("#key", key)
    await page.click("#key-form button[type=submit]")
    await page.wait_for_function("document.querySelector('#whoami').textContent.includes('@ acme')")


async def test_trigger_a_run_watch_tokens_approve_in_the_inbox_and_see_it_finish(console: dict[str, Any]) -> None:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            operator = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
            errors: list[str] = []
            operator.on("pageerror", lambda exc: errors.append(str(exc)))
            await sign_in(operator, console["url"], console["operator"])
            await operator.wait_for_selector("#assistant option[value=loan_triage]", state="attached")
            await operator.select_option("#assistant", "loan_triage")  # not the only assistant any more
            await operator.click("#tab-json")  # the structured input is the chat's "Advanced (JSON)" tab
            await operator.fill("#input", json.dumps(GOOD_APPLICATION))
            await operator.click("#send")

            # What the rules wrote arrives whole, labelled as the rules', never as a streaming (model) bubble.
            await operator.wait_for_function(
                "[...document.querySelectorAll('#messages li.by-rules')].some(li => "
                "li.textContent.includes('Credit band A: the rules support approval; an approver must confirm.'))",
                timeout=30_000,
            )
            assert await operator.locator("#messages li.streaming").count() == 0
            await operator.wait_for_function(
                "document.querySelector('#timeline').textContent.includes('waits for approver')", timeout=30_000
            )
            assert (await operator.inner_text("#run-status")) == "interrupted"
            timeline = await operator.inner_text("#timeline")
            assert "proposes credit_check" in timeline and "guard/policy: allow" in timeline
            assert "credit_check →" in timeline
            await operator.screenshot(path=str(ARTIFACTS / "console-operator-waiting.png"), full_page=True)

            approver = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
            approver.on("pageerror", lambda exc: errors.append(str(exc)))
            await sign_in(approver, console["url"], console["approver"])
            cards = approver.locator("#approvals article.approval")
            await cards.nth(0).wait_for(timeout=15_000)
            # Only the decision waits for a person; the notice of what ran follows it, templated (LP-6.1).
            assert await cards.count() == 1
            assert {await c.locator(".tool").inner_text() for c in await cards.all()} == {"approve_loan"}
            await approver.screenshot(path=str(ARTIFACTS / "console-approver-inbox.png"), full_page=True)
            # By approval id, not position: a decided card leaves the inbox, which shifts the others' positions.
            ids = [await c.get_attribute("data-id") for c in await cards.all()]
            for approval_id in ids:
                card = approver.locator(f"#approvals article.approval[data-id='{approval_id}']")
                await card.locator(".comment").fill("checked in the browser")
                await card.locator("button[data-action=approve]").click()
                await card.locator(".result").filter(has_text="approved by arthur").wait_for(timeout=15_000)

            await operator.wait_for_function(
                "document.querySelector('#run-status').textContent === 'success'", timeout=30_000
            )
            timeline = await operator.inner_text("#timeline")
            assert "approved by arthur “checked in the browser”" in timeline
            assert "approve_loan →" in timeline and "run success: {" in timeline
            # The run view says where each action went: this worker's actions are simulated, and labelled so.
            assert "[simulated]" in timeline
            actions = await operator.inner_text("#run-actions")
            assert "approve_loan" in actions and "notify_customer" in actions
            assert actions.count("simulated") >= 4 and "delivered" not in actions, actions
            assert '"decided_by":"arthur","decision":"approved"' in timeline
            await operator.wait_for_function(
                "[...document.querySelectorAll('#messages li')].some(li => li.textContent.includes("
                "'All proposed actions have been handled.'))",
                timeout=30_000,
            )
            link = operator.locator("#run-links a")
            assert "/workflows/run-" in (await link.get_attribute("href") or "")
            await operator.screenshot(path=str(ARTIFACTS / "console-operator-finished.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()


@pytest.fixture
async def down_webhook_console(
    client,
    store,
    task_queue,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> AsyncIterator[dict[str, Any]]:
    """The console over a worker whose actions go to a webhook nobody listens on, with the outbox dispatcher
    retrying them (short backoff, so attempts visibly grow)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: .ci/system-deps installs Debian chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.async_api")
    import asyncio

    from guards.policy import load_policy_engine
    from guards.types import Principal
    from runtime.devserver import free_port
    from runtime.outbox import DispatchOptions, Outbox, OutboxDispatcher
    from runtime.settings import Settings
    from runtime.worker import build_worker
    from server.app import create_app
    from server.testing import serve_app
    from tools.adapters import ActionRouting, AdapterName

    url = f"http://127.0.0.1:{free_port()}/actions"  # nothing listens here
    routing = ActionRouting(default=AdapterName.WEBHOOK, webhook_url=url)
    dispatcher = OutboxDispatcher(Outbox(store), DispatchOptions(poll_s=0.05, backoff_base_s=0.2, backoff_max_s=2.0))
    stop = asyncio.Event()
    dispatching = asyncio.create_task(dispatcher.run(stop))
    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    try:
        async with (
            build_worker(client, task_queue, store, load_policy_engine(), actions=routing),
            serve_app(app) as api,
        ):
            yield {
                "url": f"{api.base_url}/console/",
                "operator": store.create_api_key("olivia", "acme", ["operator"])[1],
                "requester": Principal(id="olivia", roles=["operator"], tenant="acme"),
                "approver": Principal(id="arthur", roles=["approver"], tenant="acme"),
                "webhook": url,
            }
    finally:
        stop.set()
        await dispatching


async def test_outbox_panel_shows_actions_queued_for_a_down_webhook(
    down_webhook_console: dict[str, Any], client, store, task_queue
) -> None:  # type: ignore[no-untyped-def]
    from playwright.async_api import async_playwright

    from guards.types import ApprovalDecision
    from runtime import runs
    from tests.conftest import pending_approvals, wait_for
    from tests.integration import deciding

    c = down_webhook_console
    handle = await runs.start_run(client, store, task_queue, "loan_triage", GOOD_APPLICATION, c["requester"])
    # The loan waits for the approver; the notice of the approval that ran follows it (templated, LP-6.1).
    for row in await pending_approvals(store, handle.id, 1):
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=c["approver"])
        )
    assert (await handle.result()).status == "success"
    await wait_for(lambda: all(a["attempts"] >= 2 for a in _outbox(store, handle.id)), timeout=30)
    thread_id = store.get_run(handle.id)["thread_id"]

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1400, "height": 1100})).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await sign_in(page, c["url"], c["operator"])
            rows = page.locator("#outbox-rows tr")
            await rows.nth(1).wait_for(timeout=15_000)
            assert await rows.count() == 2
            seen = {}
            for row in await rows.all():
                cells = [await td.inner_text() for td in await row.locator("td").all()]
                tool, run_id, adapter, delivery, attempts, last_error, next_attempt = cells
                seen[tool] = cells
                assert run_id == handle.id and adapter == "webhook" and delivery == "queued", cells
                assert int(attempts) >= 2 and "ConnectError" in last_error and next_attempt != "-", cells
            assert set(seen) == {"approve_loan", "notify_customer"}
            assert "delivered" not in await page.inner_text("#outbox-rows")
            # Retries go on while the page is open: the panel refreshes with the growing attempt count.
            before = max(int(cells[4]) for cells in seen.values())
            await page.wait_for_function(
                "[...document.querySelectorAll('#outbox-rows tr td:nth-child(5)')]"
                f".some(td => +td.textContent > {before})",
                timeout=20_000,
            )

            # The run view: each action's adapter and delivery state, from the outbox.
            await page.locator("#threads li").filter(has_text=thread_id).click()
            await page.wait_for_function(
                "document.querySelector('#run-status').textContent === 'success'", timeout=30_000
            )
            await page.wait_for_function(
                "document.querySelector('#run-actions').textContent.includes('attempts')", timeout=15_000
            )
            actions = await page.inner_text("#run-actions")
            assert "approve_loan" in actions and "notify_customer" in actions
            assert actions.count("webhook") == 2 and "queued" in actions and "ConnectError" in actions, actions
            assert "[webhook: queued]" in await page.inner_text("#timeline")
            await page.screenshot(path=str(ARTIFACTS / "console-outbox-webhook-down.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()


def _outbox(store: Any, run_id: str) -> list[dict[str, Any]]:
    from runtime.outbox import Outbox

    return [{"attempts": a.attempts, "delivery": a.delivery} for a in Outbox(store).list_actions(run_id=run_id)]
