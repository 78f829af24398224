"""How long the CLI's local store costs a command, against a baseline of the same run.

Run it with ``python bench/bench_local_store.py``. It prints, each as a median
of several runs and as a ratio to the baseline (``mongo-ai-logs --version``:
starting Python and importing the package, no store):

- starting and stopping the local store's server on an empty store;
- the same on a store holding some thousands of events;
- a whole ``ping`` and a whole ``find --limit 50`` as a user runs them;
- ingesting a file of events, in events per second.

Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mongo_ai_logs.local_store import LocalStore

RUNS = 5


def _median_seconds(action: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _cli(*argv: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "mongo_ai_logs", *argv],
        check=True,
        capture_output=True,
    )


def _start_stop(path: Path) -> tuple[float, float]:
    store = LocalStore(path)
    began = time.perf_counter()
    store.start()
    started = time.perf_counter() - began
    began = time.perf_counter()
    store.stop()
    return started, time.perf_counter() - began


def _events_file(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as file:
        for seq in range(count):
            event = {
                "type": "message",
                "run_id": f"bench-{seq // 100}",
                "seq": seq % 100,
                "role": "user",
                "content": f"message {seq} " + "x" * 300,
                "started_at": f"2025-06-01T{seq // 3600 % 24:02d}:"
                f"{seq // 60 % 60:02d}:{seq % 60:02d}+00:00",
            }
            file.write(json.dumps(event) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        store = root / "store"

        baseline = _median_seconds(lambda: _cli("--version"))
        print(f"baseline (mongo-ai-logs --version): {baseline * 1000:7.0f} ms")

        empty = [_start_stop(store) for _ in range(RUNS)]
        start = statistics.median(s for s, _ in empty)
        stop = statistics.median(s for _, s in empty)
        print(
            f"start, empty store:      {start * 1000:7.0f} ms  "
            f"({start / baseline:.2f}x baseline); stop {stop * 1000:.0f} ms"
        )

        events = 20_000
        data = root / "events.jsonl"
        _events_file(data, events)
        began = time.perf_counter()
        _cli("ingest", str(data), "--store", str(store))
        ingest = time.perf_counter() - began
        print(
            f"ingest {events:,} events:    {ingest * 1000:7.0f} ms  "
            f"({events / ingest:,.0f} events/s, the command's start included)"
        )

        full = [_start_stop(store) for _ in range(RUNS)]
        start = statistics.median(s for s, _ in full)
        print(
            f"start, {events:,} events:   {start * 1000:7.0f} ms  "
            f"({start / baseline:.2f}x baseline)"
        )

        for argv in (("ping",), ("find", "--limit", "50")):
            seconds = _median_seconds(lambda a=argv: _cli(*a, "--store", str(store)))
            name = " ".join(argv)
            print(
                f"whole `{name}`:{' ' * (17 - len(name))}{seconds * 1000:7.0f} ms  "
                f"({seconds / baseline:.2f}x baseline)"
            )


if __name__ == "__main__":
    main()
