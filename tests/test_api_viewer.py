"""The viewer in a real headless Chromium, against the service on a loopback port.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``); the
test is skipped, saying so, when it is not installed. Screenshots are kept in
``test-artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mongomock
import pytest
from playwright.sync_api import expect, sync_playwright

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.server import create_app
from tests.api_support import (
    ACME_READ,
    ACME_WRITE,
    GLOBEX_ADMIN,
    T0,
    LiveServer,
    keyed_settings,
)
from tests.helpers import chain

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Chromium is not installed: apt-get install -y chromium",
)


def seeded_repo() -> AgentLogRepository:
    """60 short runs of two users and models, and one nested run that failed;
    in project globex, a run of 3,000 events each under the one before."""
    collection = mongomock.MongoClient(tz_aware=True)["viewer"]["events"]
    repo = AgentLogRepository(collection).for_project("acme")
    events: list[dict[str, Any]] = []
    for n in range(60):
        start = T0 + dt.timedelta(hours=n * 7)
        events.append(
            {
                "type": "llm_call",
                "run_id": f"run-{n:03d}",
                "user_id": "ann" if n % 2 else "bob",
                "session_id": f"s-{n // 10}",
                "model": {"provider": "openai", "name": "gpt-4o" if n % 3 else "o1"},
                "usage": {"input_tokens": 100 + n, "output_tokens": 20},
                "cost": {"total": 0.001 * (n + 1)},
                "status": "ok",
                "started_at": start,
                "ended_at": start + dt.timedelta(seconds=2),
                "content": f"answer {n}",
            }
        )
    root, step = "0" * 23 + "a", "0" * 23 + "b"
    at = T0 + dt.timedelta(days=30)
    common = {"run_id": "trip-planner", "user_id": "cyd", "session_id": "s-trip"}
    events += [
        {**common, "_id": root, "type": "run", "seq": 0, "agent": {"name": "planner"},
         "input": "Plan a weekend in Lisbon", "started_at": at,
         "ended_at": at + dt.timedelta(seconds=9)},
        {**common, "_id": step, "type": "agent_step", "seq": 1, "parent_id": root,
         "name": "research", "started_at": at + dt.timedelta(seconds=1)},
        {**common, "type": "llm_call", "seq": 2, "parent_id": step,
         "model": {"name": "gpt-4o"}, "cost": {"total": 0.02}, "content": HOSTILE,
         "usage": {"input_tokens": 900, "output_tokens": 80},
         "started_at": at + dt.timedelta(seconds=2), "status": "ok"},
        {**common, "type": "tool_call", "seq": 3, "parent_id": step,
         "tool": {"name": "search_flights", "arguments": {"to": "LIS"}},
         "status": "error", "error": {"type": "Timeout", "message": "no answer in 5s"},
         "started_at": at + dt.timedelta(seconds=4)},
    ]  # fmt: skip
    report = repo.insert_many(events)
    assert report.ok, report.refused
    assert repo.for_project("globex").insert_many(chain("deep", 3000)).ok
    return repo


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LiveServer, AgentLogRepository]]:
    repo = seeded_repo()
    app = create_app(server_settings=keyed_settings(), repository=repo)
    with LiveServer(app) as server:
        yield server, repo


@pytest.fixture
def page(live: tuple[LiveServer, AgentLogRepository]) -> Iterator[Any]:
    server, _ = live
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.foreign_requests = []
        page.errors = []
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith(server.url)
                else page.foreign_requests.append(r.url)
            ),
        )
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("dialog", lambda d: d.accept("test cleanup"))
        try:
            yield page
        finally:
            context.close()
            browser.close()


def sign_in(page: Any, url: str, key: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#login-view:not([hidden])")
    page.fill("#key-input", key)
    page.click("#login-form button")
    page.wait_for_selector("#runs-table tbody tr")


def run_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#runs-table tbody tr", "rows => rows.map(r => r.dataset.runId)"
    )


def test_the_viewer_lists_filters_opens_deletes_and_restores(
    live: tuple[LiveServer, AgentLogRepository], page: Any
) -> None:
    server, repo = live

    page.goto(server.url + "/")
    page.wait_for_selector("#login-view:not([hidden])")
    page.fill("#key-input", "not-the-right-key-000")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "refused" in page.inner_text("#login-error")

    page.fill("#key-input", ACME_WRITE)
    page.click("#login-form button")
    page.wait_for_selector("#runs-table tbody tr")
    assert (
        page.evaluate("sessionStorage.getItem('mongo-ai-logs.api-key')") == ACME_WRITE
    )
    assert run_ids(page)[0] == "trip-planner"
    assert len(run_ids(page)) == 50
    assert "project acme" in page.inner_text("#who")
    page.screenshot(path=str(ARTIFACTS / "viewer-runs.png"), full_page=True)

    page.click("#runs-older")
    expect(page.locator("#runs-page")).to_have_text("page 2")
    expect(page.locator("#runs-table tbody tr")).to_have_count(11)
    assert page.is_disabled("#runs-older")
    page.click("#runs-newer")
    expect(page.locator("#runs-page")).to_have_text("page 1")

    page.fill("#run-filters [name=user_id]", "ann")
    page.select_option("#run-filters [name=status]", "ok")
    page.click("#run-filters button[type=submit]")
    expect(page.locator("#runs-table tbody tr")).to_have_count(30)
    assert "user_id=ann" in page.url
    users = page.eval_on_selector_all(
        "#runs-table tbody tr td:nth-child(3)", "cells => cells.map(c => c.textContent)"
    )
    assert set(users) == {"ann"}

    page.select_option("#run-filters [name=status]", "error")
    page.fill("#run-filters [name=user_id]", "")
    page.click("#run-filters button[type=submit]")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    assert run_ids(page) == ["trip-planner"]

    page.click("#runs-table tbody tr a")
    page.wait_for_selector("#run-tree .node")
    names = page.eval_on_selector_all(
        "#run-tree .node-name", "nodes => nodes.map(n => n.textContent)"
    )
    assert names == ["planner", "research", "gpt-4o", "search_flights"]
    assert "Timeout: no answer in 5s" in page.inner_text("#run-tree")
    assert "Errors" in page.inner_text("#run-summary")

    llm_node = page.locator("#run-tree .node", has_text="gpt-4o").last
    llm_node.locator("button", has_text="Payload").click()
    page.wait_for_selector(".payload pre")
    assert HOSTILE in page.inner_text(".payload")
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(ARTIFACTS / "viewer-run.png"), full_page=True)

    tool_node = page.locator("#run-tree .node", has_text="search_flights").last
    tool_id = tool_node.get_attribute("data-event-id")
    tool_node.locator("button", has_text="Delete").click()
    page.wait_for_selector(f".node.deleted[data-event-id='{tool_id}']")
    assert repo.get(tool_id) is None
    deleted = repo.get(tool_id, include_deleted=True)
    assert deleted is not None
    assert deleted["delete_reason"] == "test cleanup"
    page.screenshot(path=str(ARTIFACTS / "viewer-deleted.png"), full_page=True)

    page.locator(f".node[data-event-id='{tool_id}'] button", has_text="Restore").click()
    page.wait_for_selector(f".node[data-event-id='{tool_id}']:not(.deleted)")
    assert repo.get(tool_id) is not None

    page.click("[data-nav=usage]")
    page.wait_for_selector("#chart-tokens svg rect")
    bars = page.eval_on_selector_all(
        "#chart-tokens svg rect", "rects => rects.map(r => r.dataset.model)"
    )
    assert {"gpt-4o", "o1"} <= set(bars)
    legend = page.inner_text("#chart-legend")
    assert "gpt-4o" in legend
    page.screenshot(path=str(ARTIFACTS / "viewer-usage.png"), full_page=True)

    assert page.errors == []
    assert page.foreign_requests == []


def test_a_read_key_sees_runs_but_no_delete_button(
    live: tuple[LiveServer, AgentLogRepository], page: Any
) -> None:
    server, _ = live

    sign_in(page, server.url, ACME_READ)
    page.goto(server.url + "/#/run/trip-planner")
    page.wait_for_selector("#run-tree .node")

    assert page.locator("#run-tree button", has_text="Delete").count() == 0
    assert "read" in page.inner_text("#who")
    page.click("#forget-key")
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('mongo-ai-logs.api-key')") is None


def test_a_run_thousands_deep_is_drawn_with_lists_nested_a_few_levels(
    live: tuple[LiveServer, AgentLogRepository], page: Any
) -> None:
    server, _ = live

    sign_in(page, server.url, GLOBEX_ADMIN)
    page.goto(server.url + "/#/run/deep")
    expect(page.locator("#run-tree .node")).to_have_count(3000, timeout=30_000)

    last = page.locator("#run-tree .node").last
    assert "level 2999" in last.inner_text()
    nesting = last.evaluate(
        "node => { let n = 0; for (let p = node; p; p = p.parentElement)"
        " if (p.tagName === 'UL') n++; return n; }"
    )
    assert nesting <= 25
    assert page.errors == []
