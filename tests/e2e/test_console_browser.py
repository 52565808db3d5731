"""The operator console in a real headless Chromium (Debian ``chromium``, driven by Playwright), on the real
runtime: an operator triggers a run and watches tokens and steps stream in; an approver, in a second browser
context, approves both requests from the inbox; the operator's page shows the run finish. Screenshots are
kept under ``tests/artifacts/``. Skipped where Chromium or Playwright is not installed."""

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
            await cards.nth(1).wait_for(timeout=15_000)
            assert await cards.count() == 2
            assert {await c.locator(".tool").inner_text() for c in await cards.all()} == {
                "approve_loan",
                "notify_customer",
            }
            await approver.screenshot(path=str(ARTIFACTS / "console-approver-inbox.png"), full_page=True)
            for card in await cards.all():
                await card.locator(".comment").fill("checked in the browser")
                await card.locator("button[data-action=approve]").click()
                await card.locator(".result").filter(has_text="approved by arthur").wait_for(timeout=15_000)

            await operator.wait_for_function(
                "document.querySelector('#run-status').textContent === 'success'", timeout=30_000
            )
            timeline = await operator.inner_text("#timeline")
            assert "approved by arthur “checked in the browser”" in timeline
            assert "approve_loan →" in timeline and "run success: {" in timeline
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
