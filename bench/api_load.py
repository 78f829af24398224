"""Load check of ``POST /v1/events``: 20,000 events from several client threads.

For each backend (a fresh SecantusDB started here, and mongomock in process)
the service is started on a loopback port, ``--threads`` clients post the
events in batches of ``--batch``, retrying a batch whose request failed
(ids are made from the content, so a retry stores nothing twice). Then every
event is checked: each id answered is distinct, each reads back, and the
project holds exactly the events sent. It prints throughput and the p50/p99
latency of a request, and the ratio of the service's throughput to
``insert_many`` called directly with the same batches on a fresh store of
the same backend, measured in the same run. It exits with 1 when a check
fails or the posting takes longer than ``--time-limit`` seconds.

    python bench/api_load.py
    python bench/api_load.py --backend mongomock --events 5000
"""

from __future__ import annotations

import argparse
import datetime as dt
import queue
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import mongomock
from pymongo import MongoClient
from pymongo.collection import Collection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.codec import escape_key
from mongo_ai_logs.jsonl import to_jsonable
from mongo_ai_logs.server import create_app
from tests.api_support import ACME_WRITE, LiveServer, keyed_settings
from tests.servers import SecantusServer

START = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)


def make_events(count: int) -> list[dict[str, Any]]:
    """Distinct LLM calls, tool calls and messages in runs of ten."""
    events = []
    for i in range(count):
        kind = ("llm_call", "tool_call", "message")[i % 3]
        event: dict[str, Any] = {
            "type": kind,
            "run_id": f"load-run-{i // 10}",
            "seq": i % 10,
            "user_id": f"user-{i % 50}",
            "session_id": f"session-{i // 100}",
            "started_at": START + dt.timedelta(milliseconds=i * 37),
            "metadata": {"bench.index": i},
        }
        if kind == "llm_call":
            event["model"] = {"provider": "openai", "name": "gpt-4o-mini"}
            event["usage"] = {"input_tokens": 300 + i % 700, "output_tokens": 40}
            event["cost"] = {"total": 0.0001}
            event["output"] = f"answer number {i} " * 8
        elif kind == "tool_call":
            event["tool"] = {"name": "lookup", "arguments": {"q": i}, "result": "ok"}
        else:
            event["role"] = "user"
            event["content"] = f"question number {i} " * 6
        events.append(to_jsonable(event))
    return events


@contextmanager
def backend(name: str) -> Iterator[Collection[dict[str, Any]]]:
    """A fresh events collection on ``name``, with a server of its own."""
    if name == "mongomock":
        yield mongomock.MongoClient(tz_aware=True)["load"]["events"]
        return
    server = SecantusServer(test_commands=False).start()
    client: MongoClient[dict[str, Any]] = MongoClient(server.uri, tz_aware=True)
    try:
        yield client["load"]["events"]
    finally:
        client.close()
        server.stop()


def direct_throughput(name: str, events: list[dict[str, Any]], batch: int) -> float:
    """Events per second through ``insert_many`` alone, one thread."""
    from mongo_ai_logs.jsonl import from_jsonable

    decoded = [from_jsonable(e) for e in events]
    with backend(name) as collection:
        repo = AgentLogRepository(collection)
        repo.ensure_indexes()
        repo = repo.for_project("acme")
        started = time.perf_counter()
        for offset in range(0, len(decoded), batch):
            repo.insert_many(decoded[offset : offset + batch])
        return len(decoded) / (time.perf_counter() - started)


def post_all(
    url: str, events: list[dict[str, Any]], batch: int, threads: int
) -> tuple[list[str | None], list[float], int, float]:
    """Post every batch; return the ids by position, latencies, retries, time."""
    work: queue.Queue[int] = queue.Queue()
    for offset in range(0, len(events), batch):
        work.put(offset)
    ids: list[str | None] = [None] * len(events)
    latencies: list[float] = []
    retries = 0
    lock = threading.Lock()
    errors: list[str] = []

    def client_thread() -> None:
        nonlocal retries
        headers = {"Authorization": f"Bearer {ACME_WRITE}"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            while True:
                try:
                    offset = work.get_nowait()
                except queue.Empty:
                    return
                chunk = events[offset : offset + batch]
                for attempt in range(5):
                    began = time.perf_counter()
                    try:
                        response = client.post("/v1/events", json=chunk)
                        response.raise_for_status()
                    except httpx.HTTPError as exc:
                        with lock:
                            retries += 1
                            if attempt == 4:
                                errors.append(f"batch at {offset}: {exc}")
                        continue
                    report = response.json()
                    with lock:
                        latencies.append(time.perf_counter() - began)
                        ids[offset : offset + len(chunk)] = report["ids"]
                        if report["refused"]:
                            errors.append(f"batch at {offset}: {report['refused'][0]}")
                    break

    started = time.perf_counter()
    workers = [threading.Thread(target=client_thread) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit("posting failed: " + "; ".join(errors[:3]))
    return ids, latencies, retries, elapsed


def verify(repo: AgentLogRepository, ids: list[str | None], count: int) -> list[str]:
    """What is wrong with the stored events; empty when each is stored once."""
    problems = []
    if any(i is None for i in ids):
        problems.append(f"{sum(i is None for i in ids)} events got no id")
    distinct = {i for i in ids if i is not None}
    if len(distinct) != count:
        problems.append(f"{len(distinct)} distinct ids for {count} events")
    stored = repo.count(include_deleted=True)
    if stored != count:
        problems.append(f"the project holds {stored} events, {count} were sent")
    stored_docs = list(
        repo.collection.find({"project_id": repo.project_id}, {"_id": 1, "metadata": 1})
    )
    missing = distinct - {str(doc["_id"]) for doc in stored_docs}
    if missing:
        problems.append(f"{len(missing)} ids answered are not stored")
    # The stored key of "bench.index" is escaped; see mongo_ai_logs.codec.
    indexes = sorted(doc["metadata"][escape_key("bench.index")] for doc in stored_docs)
    if indexes != list(range(count)):
        problems.append("the stored events are not exactly the ones sent")
    return problems


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(name: str, args: argparse.Namespace) -> bool:
    events = make_events(args.events)
    direct = direct_throughput(name, events, args.batch)
    with backend(name) as collection:
        base = AgentLogRepository(collection)
        app = create_app(server_settings=keyed_settings(), repository=base)
        with LiveServer(app) as server:
            ids, latencies, retries, elapsed = post_all(
                server.url, events, args.batch, args.threads
            )
        problems = verify(base.for_project("acme"), ids, len(events))

    rate = len(events) / elapsed
    print(f"\n{name}: {len(events):,} events, batches of {args.batch}, "
          f"{args.threads} client threads")  # fmt: skip
    print(f"  posted in           {elapsed:8.1f} s  ({rate:,.0f} events/s)")
    print(f"  request latency     p50 {statistics.median(latencies) * 1000:7.1f} ms"
          f"   p99 {percentile(latencies, 0.99) * 1000:7.1f} ms"
          f"   ({len(latencies)} requests, {retries} retried)")  # fmt: skip
    print(f"  insert_many direct  {direct:8,.0f} events/s; service / direct = "
          f"{rate / direct:.2f}")  # fmt: skip
    ok = True
    if problems:
        print("  FAILED: " + "; ".join(problems))
        ok = False
    else:
        print(f"  checked: every event stored once ({len(events):,} distinct ids)")
    if elapsed > args.time_limit:
        print(f"  FAILED: took longer than the limit of {args.time_limit:.0f} s")
        ok = False
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument(
        "--backend", choices=["secantus", "mongomock", "both"], default="both"
    )
    args = parser.parse_args()
    names = ["secantus", "mongomock"] if args.backend == "both" else [args.backend]
    results = [run(name, args) for name in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
