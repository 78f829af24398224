"""How the viewer's queries scale: 10,000 runs, on mongomock and on SecantusDB.

Seeds one project with ``--runs`` runs of 3 to 9 events each (users, sessions,
models, a few failures, spread over 60 days), starts the service on a
loopback port, and times what the viewer asks for: the first page of runs,
a page deep in the list, the filters, a run's tree, the daily usage chart,
and the page load in Chromium when it is installed. Each figure is the median
of ``--repeat`` calls; the ratio column compares it with the first page of
runs of the same backend, so the numbers say which views cost more than the
listing, not how fast this machine is.

    python bench/api_runs_scale.py              # both backends, 10,000 runs
    python bench/api_runs_scale.py --backend mongomock --runs 2000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import mongomock
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.server import create_app
from tests.api_support import ACME_READ, LiveServer, keyed_settings
from tests.servers import SecantusServer

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "o3", "llama-3-70b"]


def seed(repo: AgentLogRepository, runs: int) -> int:
    """Store ``runs`` runs; return the number of events."""
    rng = random.Random(42)
    batch: list[dict[str, Any]] = []
    total = 0
    for n in range(runs):
        run_id = f"run-{n:05d}"
        user = f"user-{rng.randrange(200)}"
        session = f"session-{n // 4}"
        model = rng.choice(MODELS)
        at = START + dt.timedelta(seconds=rng.uniform(0, 60 * 86400))
        failed = rng.random() < 0.05
        batch.append(
            {"type": "run", "run_id": run_id, "user_id": user, "session_id": session,
             "seq": 0, "agent": {"name": "bench-agent"}, "started_at": at,
             "input": "a question " * 5}
        )  # fmt: skip
        for step in range(1, rng.randint(3, 9)):
            at += dt.timedelta(seconds=rng.uniform(0.2, 5))
            kind = "llm_call" if step % 2 else "tool_call"
            event: dict[str, Any] = {
                "type": kind, "run_id": run_id, "user_id": user, "session_id": session,
                "seq": step, "started_at": at, "status": "ok",
                "ended_at": at + dt.timedelta(seconds=1),
            }  # fmt: skip
            if kind == "llm_call":
                event["model"] = {"name": model}
                event["usage"] = {"input_tokens": rng.randint(100, 4000),
                                  "output_tokens": rng.randint(10, 800)}  # fmt: skip
                event["cost"] = {"total": rng.uniform(0.0001, 0.05)}
                event["output"] = "an answer " * 10
            else:
                event["tool"] = {"name": "search", "arguments": {"q": run_id}}
                if failed:
                    event["status"] = "error"
                    event["error"] = {"type": "Timeout", "message": "slow"}
            batch.append(event)
        if len(batch) >= 2000:
            report = repo.insert_many(batch)
            assert report.ok, report.refused[:1]
            total += len(batch)
            batch = []
    if batch:
        repo.insert_many(batch)
        total += len(batch)
    return total


def median_ms(call: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(
    server: LiveServer, repeat: int, deep_pages: int
) -> list[tuple[str, float]]:
    headers = {"Authorization": f"Bearer {ACME_READ}"}
    client = httpx.Client(base_url=server.url, headers=headers, timeout=300)

    def get(path: str, **params: Any) -> Any:
        given = {k: v for k, v in params.items() if v is not None}
        response = client.get(path, params=given)
        response.raise_for_status()
        return response.json()

    deep_cursor = None
    for _ in range(deep_pages - 1):
        deep_cursor = get("/v1/runs", limit=50, cursor=deep_cursor)["next_cursor"]
    sample_run = get("/v1/runs", limit=1)["items"][0]["run_id"]

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("runs, first page of 50", lambda: get("/v1/runs", limit=50)),
        (f"runs, page {deep_pages}", lambda: get(
            "/v1/runs", limit=50, cursor=deep_cursor)),
        ("runs by user", lambda: get("/v1/runs", user_id="user-7")),
        ("runs by model", lambda: get("/v1/runs", model="o3")),
        ("runs that failed", lambda: get("/v1/runs", status="error")),
        ("runs in one day", lambda: get(
            "/v1/runs", since="2025-01-20", until="2025-01-21")),
        ("one run as a tree", lambda: get(
            f"/v1/runs/{sample_run}", payloads="false", include_deleted="true")),
        ("events, first page", lambda: get("/v1/events", limit=50)),
        ("usage per day and model", lambda: get("/v1/stats/daily")),
        ("usage per model", lambda: get("/v1/stats")),
    ]  # fmt: skip
    results = [(name, median_ms(call, repeat)) for name, call in cases]
    client.close()
    return results


def browser_load_ms(server: LiveServer) -> float | None:
    """Time from navigation to the first page of runs drawn, in Chromium."""
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        page = browser.new_page()
        page.goto(server.url + "/")
        page.fill("#key-input", ACME_READ)
        start = time.perf_counter()
        page.click("#login-form button")
        page.wait_for_selector("#runs-table tbody tr", timeout=120_000)
        elapsed = (time.perf_counter() - start) * 1000
        browser.close()
    return elapsed


def run_backend(name: str, runs: int, repeat: int, deep_pages: int) -> None:
    secantus = None
    if name == "secantus":
        secantus = SecantusServer(test_commands=False).start()
        client: Any = MongoClient(secantus.uri, tz_aware=True)
    else:
        client = mongomock.MongoClient(tz_aware=True)
    try:
        base = AgentLogRepository(client["bench"]["events"])
        base.ensure_indexes()
        started = time.perf_counter()
        events = seed(base.for_project("acme"), runs)
        seeded = time.perf_counter() - started
        print(f"\n{name}: {runs:,} runs, {events:,} events, seeded in {seeded:.1f} s")
        app = create_app(server_settings=keyed_settings(), repository=base)
        with LiveServer(app) as server:
            results = measure(server, repeat, deep_pages)
            page = browser_load_ms(server)
        baseline = results[0][1]
        print(f"  {'request':<28} {'median ms':>10} {'x first page':>13}")
        for label, ms in results:
            print(f"  {label:<28} {ms:>10.1f} {ms / baseline:>13.2f}")
        if page is not None:
            label = "viewer: key to first rows"
            print(f"  {label:<28} {page:>10.1f} {page / baseline:>13.2f}")
    finally:
        client.close()
        if secantus is not None:
            secantus.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--deep-page", type=int, default=21, help="the page timed deep in the list"
    )
    parser.add_argument(
        "--backend", choices=["mongomock", "secantus", "both"], default="both"
    )
    args = parser.parse_args()
    backends = ["mongomock", "secantus"] if args.backend == "both" else [args.backend]
    for name in backends:
        run_backend(name, args.runs, args.repeat, args.deep_page)


if __name__ == "__main__":
    main()
