"""Benchmark of the capture API: the agent's cost per event, throughput, CPU.

Run from the repository root::

    python bench/capture.py            # mongomock and a fresh SecantusDB
    python bench/capture.py --profile  # and where AgentLogRepository.prepare spends

Every number is measured in this run and printed with the baseline it is
compared with, so the ratios hold on any machine:

1. the calling thread's cost of one typical LLM-call event (median, p99),
   against one ``repository.insert`` of the same event on mongomock;
2. events per second through the capture writer, against a loop of
   ``repository.insert``, on mongomock and on SecantusDB over loopback, and
   against raw pymongo ``insert_many`` of the same documents prepared
   beforehand (the most any writer could do on that server);
3. the library's CPU per event (``AgentLogRepository.prepare``: validation,
   normalisation, size checks) against ``bson.encode`` of the same document,
   which every pymongo write pays.

Each server measurement gets a fresh SecantusDB process, since a long-lived
one slows down after tens of thousands of writes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bson  # noqa: E402
import mongomock  # noqa: E402
from bson.objectid import ObjectId  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from mongo_ai_logs import AgentLogRepository  # noqa: E402
from mongo_ai_logs.capture import AgentLogger, CaptureSettings  # noqa: E402
from mongo_ai_logs.client import journaled  # noqa: E402
from mongo_ai_logs.providers import describe_response  # noqa: E402
from tests.servers import SecantusServer, secantus_executable  # noqa: E402

Document = dict[str, Any]

MESSAGES = [
    {"role": "system", "content": "You are a travel assistant. Answer briefly."},
    {
        "role": "user",
        "content": "What's the weather in Lisbon tomorrow? I land at 9am.",
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_7Hq2d",
                "type": "function",
                "function": {"name": "get_forecast", "arguments": '{"city":"Lisbon"}'},
            }
        ],
    },
    {
        "role": "tool",
        "tool_call_id": "call_7Hq2d",
        "content": '{"high_c": 19, "low_c": 12, "summary": "sunny, light wind"}',
    },
]
RESPONSE = {
    "id": "chatcmpl-AbC123",
    "object": "chat.completion",
    "created": 1733300000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Sunny in Lisbon tomorrow: 12-19°C with a light wind.",
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 412,
        "completion_tokens": 23,
        "total_tokens": 435,
        "prompt_tokens_details": {"cached_tokens": 256},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
PARAMETERS = {"temperature": 0.2, "max_tokens": 256}


class Collect:
    """A store that keeps the events the writer hands it."""

    def __init__(self) -> None:
        self.events: list[Document] = []

    def insert_many(self, events: Any) -> Any:
        self.events.extend(events)
        return _Report(len(self.events))


class _Report:
    def __init__(self, count: int) -> None:
        self.inserted_ids: list[str] = []
        self.duplicate_ids: list[str] = []
        self.refused: list[Any] = []


def typical_events(count: int) -> list[Document]:
    """The documents the capture API makes for ``count`` typical LLM calls."""
    store = Collect()
    log = AgentLogger(store, settings=CaptureSettings(batch_size=1000))  # type: ignore[arg-type]
    with log.run(user_id="u-42", session_id="s-1", agent="travel-assistant"):
        for _ in range(count - 1):
            record_llm_call(log)
    log.close()
    return [{**e, "_id": ObjectId()} for e in store.events if e["type"] == "llm_call"]


def record_llm_call(log: AgentLogger) -> None:
    with log.llm_call(
        model="gpt-4o-mini", input=MESSAGES, parameters=PARAMETERS
    ) as call:
        call.record(RESPONSE)


def fresh(events: list[Document]) -> list[Document]:
    return [{**e, "_id": ObjectId()} for e in events]


@contextmanager
def server() -> Iterator[MongoClient[Document]]:
    instance = SecantusServer(test_commands=False).start()
    client: MongoClient[Document] = MongoClient(instance.uri, tz_aware=True)
    try:
        yield client
    finally:
        client.close()
        instance.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(func: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<52} {value:>14}  {note}")


def verdict(ok: bool) -> str:
    return "target met" if ok else "TARGET NOT MET"


# -- 1. calling thread -----------------------------------------------------


def calling_thread_cost(count: int, pause: float = 0.0) -> dict[str, float]:
    """Median and p99 of recording one LLM call, and of the baselines.

    Baselines, timed the same way: building the same event by hand (a dict
    and ``describe_response``), and ``repository.insert`` of it on mongomock.
    With ``pause`` the calls are spread out, as in an agent that waits for
    its LLM between calls; every call is then slower on a cold CPU, the
    baselines' too.
    """
    repo = AgentLogRepository(mongomock.MongoClient(tz_aware=True).bench.calls)
    log = AgentLogger(
        repo,
        settings=CaptureSettings(max_queue_events=count * 2, batch_size=500),
    )

    def sample(func: Callable[[], Any], n: int) -> list[float]:
        samples = []
        clock = time.perf_counter_ns
        for _ in range(n):
            start = clock()
            func()
            samples.append((clock() - start) / 1000)
            if pause:
                time.sleep(pause)
        return samples

    with log.run(user_id="u-42", agent="travel-assistant"):
        sample(lambda: record_llm_call(log), 200)
        captured = sample(lambda: record_llm_call(log), count)
    log.close(60)
    by_hand = sample(lambda: hand_made_event(0), min(count, 2000))
    inserted = sample(lambda: repo.insert(hand_made_event(0)), 300)
    return {
        "median": statistics.median(captured),
        "p99": percentile(captured, 0.99),
        "by_hand": statistics.median(by_hand),
        "insert": statistics.median(inserted),
    }


# -- 2. throughput ---------------------------------------------------------


def capture_throughput(repo: AgentLogRepository, count: int) -> float:
    log = AgentLogger(
        repo, settings=CaptureSettings(max_queue_events=count * 2, batch_size=500)
    )

    def run() -> None:
        with log.run(user_id="u-42", agent="travel-assistant"):
            for _ in range(count - 1):
                record_llm_call(log)
        assert log.flush(600), "flush timed out"

    elapsed = timed(run)
    log.close()
    stats = log.stats()
    assert stats.written == count, stats
    return count / elapsed


def insert_loop_throughput(repo: AgentLogRepository, count: int) -> float:
    """What an agent would do without capture: build each event, insert it."""

    def run() -> None:
        for seq in range(count):
            repo.insert(hand_made_event(seq))

    return count / timed(run)


def hand_made_event(seq: int) -> Document:
    """The event ``record_llm_call`` makes, built by hand from the response."""
    started = datetime.now(timezone.utc)
    described = describe_response(RESPONSE)
    return {
        "_id": ObjectId(),
        "type": "llm_call",
        "run_id": "65f0c0ffee0000000000aaaa",
        "seq": seq,
        "user_id": "u-42",
        "agent": {"name": "travel-assistant"},
        "model": {
            "provider": described.provider,
            "name": described.model,
            "parameters": PARAMETERS,
        },
        "input": MESSAGES,
        "output": described.output,
        "usage": described.usage,
        "metadata": {
            "finish_reason": described.finish_reason,
            "response_id": described.response_id,
        },
        "status": "ok",
        "started_at": started,
        "ended_at": datetime.now(timezone.utc),
        "duration_ms": 0.1,
    }


def raw_insert_many_throughput(
    repo: AgentLogRepository, events: list[Document], batch: int = 500
) -> float:
    documents = [repo.prepare(e).document for e in events]

    def run() -> None:
        for start in range(0, len(documents), batch):
            repo.collection.insert_many(documents[start : start + batch], ordered=False)

    return len(documents) / timed(run)


def server_repository(
    client: MongoClient[Document], indexed: bool
) -> AgentLogRepository:
    # Journaled writes, as AgentLogger.from_settings makes them: all three
    # measurements on the server pay the same wait for the journal.
    repo = AgentLogRepository(journaled(client.bench.events))
    if indexed:
        repo.ensure_indexes()
    return repo


# -- 3. CPU ---------------------------------------------------------------


def library_cpu(events: list[Document]) -> tuple[float, float]:
    repo = AgentLogRepository(mongomock.MongoClient(tz_aware=True).bench.cpu)
    prepared = [repo.prepare(e).document for e in events]

    def prepare_all() -> None:
        for event in events:
            repo.prepare(event)

    def encode_all() -> None:
        for document in prepared:
            bson.encode(document)

    prepare = min(timed(prepare_all) for _ in range(3)) / len(events)
    encode = min(timed(encode_all) for _ in range(3)) / len(events)
    return prepare * 1e6, encode * 1e6


def profile_prepare(events: list[Document]) -> str:
    repo = AgentLogRepository(mongomock.MongoClient(tz_aware=True).bench.cpu)
    profiler = cProfile.Profile()
    profiler.enable()
    for event in events:
        repo.prepare(event)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=3000, help="events per server run"
    )
    parser.add_argument(
        "--calls", type=int, default=20000, help="events timed one by one"
    )
    parser.add_argument("--profile", action="store_true", help="profile prepare()")
    args = parser.parse_args()

    print("capture benchmark (python", sys.version.split()[0] + ")")
    events = typical_events(1000)
    size = len(
        bson.encode(
            AgentLogRepository(mongomock.MongoClient().x.y).prepare(events[0]).document
        )
    )
    print(f"a typical LLM-call event: {size} bytes of BSON, 4 input messages\n")

    print("1. cost on the calling thread, per LLM-call event")
    for label, pause, count in (
        ("back to back", 0.0, args.calls),
        ("one call per ms", 0.001, 2000),
    ):
        cost = calling_thread_cost(count, pause)
        median = cost["median"]
        note = verdict(median <= 20) if not pause else ""
        line(f"{label}: llm_call block + record, median", f"{median:.1f} µs", note)
        line(f"{label}: p99", f"{cost['p99']:.1f} µs")
        line(f"{label}: baseline, the event built by hand", f"{cost['by_hand']:.1f} µs")
        line(
            f"{label}: baseline, repository.insert (mongomock)",
            f"{cost['insert']:.1f} µs",
        )
        line(f"{label}: capture / built by hand", f"{median / cost['by_hand']:.1f}x")
        line(f"{label}: repository.insert / capture", f"{cost['insert'] / median:.1f}x")

    print("\n2. throughput, events per second, from the provider response to stored")
    mock_repo = AgentLogRepository(mongomock.MongoClient(tz_aware=True).bench.tp1)
    mock_loop = insert_loop_throughput(mock_repo, len(events))
    mock_capture = capture_throughput(
        AgentLogRepository(mongomock.MongoClient(tz_aware=True).bench.tp2), len(events)
    )
    line("mongomock: loop of repository.insert", f"{mock_loop:,.0f}/s")
    line(
        "mongomock: capture writer",
        f"{mock_capture:,.0f}/s",
        f"{mock_capture / mock_loop:.1f}x the loop",
    )

    if secantus_executable() is None:
        print("  SecantusDB: skipped, secantusd-py is not installed")
    else:
        for indexed in (True, False):
            label = "indexes of ensure_indexes" if indexed else "no secondary index"
            n = args.events
            with server() as client:
                loop = insert_loop_throughput(
                    server_repository(client, indexed), min(n, 1000)
                )
            with server() as client:
                captured = capture_throughput(server_repository(client, indexed), n)
            with server() as client:
                raw = raw_insert_many_throughput(
                    server_repository(client, indexed), fresh(typical_events(n))
                )
            print(f"  SecantusDB over loopback, {label}, {n} events:")
            line("  loop of repository.insert (one per event)", f"{loop:,.0f}/s")
            line("  capture writer", f"{captured:,.0f}/s")
            line("  raw pymongo insert_many, prepared beforehand", f"{raw:,.0f}/s")
            line(
                "  capture / insert loop",
                f"{captured / loop:.1f}x",
                verdict(captured / loop >= 10),
            )
            line(
                "  raw insert_many / insert loop (the ceiling here)",
                f"{raw / loop:.1f}x",
            )
            line(
                "  capture / raw insert_many",
                f"{captured / raw:.2f}",
                verdict(captured / raw >= 0.7),
            )

    print("\n3. the library's CPU per event")
    prepare, encode = library_cpu(fresh(events))
    line("AgentLogRepository.prepare", f"{prepare:.1f} µs")
    line("baseline: bson.encode of the prepared document", f"{encode:.1f} µs")
    line(
        "ratio prepare / bson.encode",
        f"{prepare / encode:.1f}x",
        verdict(prepare / encode <= 3),
    )

    if args.profile:
        print("\nwhere prepare() spends its time (cProfile, by own time):")
        print(profile_prepare(fresh(events) * 5))


if __name__ == "__main__":
    main()
