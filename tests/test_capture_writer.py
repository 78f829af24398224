"""The buffered writer: batches, bounds, spooling, replay, counters."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from bson.objectid import ObjectId

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.capture import (
    AgentLogger,
    BufferedWriter,
    CaptureSettings,
    Refusal,
    Spool,
)
from tests.capture_support import (
    FAST,
    FailingStore,
    spooled_lines,
    stored_ids,
    wait_until,
)


def event(n: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "type": "message",
        "role": "user",
        "content": f"m{n}",
        **fields,
    }


class StuckStore:
    """A store whose writes wait until :attr:`release` is set.

    :attr:`inside` is set once a write has begun waiting.
    """

    def __init__(self, repo: AgentLogRepository) -> None:
        self.repo = repo
        self.release = threading.Event()
        self.inside = threading.Event()

    def insert_many(self, events: Any) -> Any:
        self.inside.set()
        self.release.wait(30)
        return self.repo.insert_many(events)


@pytest.fixture
def store(repo: AgentLogRepository) -> FailingStore:
    return FailingStore(repo)


def writer(
    store: FailingStore, spool_dir: Path | None = None, **settings: Any
) -> BufferedWriter:
    spool = Spool(spool_dir) if spool_dir is not None else None
    return BufferedWriter(store, FAST.with_changes(**settings), spool=spool)  # type: ignore[arg-type]


def assert_stored_once(repo: AgentLogRepository, events: list[dict[str, Any]]) -> None:
    ids = stored_ids(repo)
    assert sorted(ids) == sorted(str(e["_id"]) for e in events)


def test_events_are_written_in_batches_of_the_configured_size(
    store: FailingStore, repo: AgentLogRepository
) -> None:
    w = writer(store, batch_size=10, flush_interval_ms=60_000)
    events = [event(i) for i in range(25)]
    for e in events:
        w.submit(e)

    assert wait_until(lambda: w.stats().written == 20)
    assert w.stats().queued == 5
    assert store.calls == 2
    assert w.flush(10)
    assert w.stats().written == 25
    assert_stored_once(repo, events)
    w.close()


def test_a_partial_batch_is_written_after_the_flush_interval(
    store: FailingStore, repo: AgentLogRepository
) -> None:
    w = writer(store, batch_size=1000, flush_interval_ms=30)
    for i in range(3):
        w.submit(event(i))
    assert wait_until(lambda: w.stats().written == 3)
    w.close()


def test_flush_reports_a_timeout_when_the_database_does_not_answer(
    repo: AgentLogRepository,
) -> None:
    stuck = StuckStore(repo)
    w = BufferedWriter(stuck, FAST)  # type: ignore[arg-type]
    w.submit(event())
    assert w.flush(0.2) is False
    stuck.release.set()
    assert w.flush(10) is True
    w.close()


def test_one_bad_event_is_reported_and_the_others_are_stored(
    store: FailingStore, repo: AgentLogRepository
) -> None:
    refusals: list[Refusal] = []
    w = BufferedWriter(store, FAST, on_refused=refusals.append)  # type: ignore[arg-type]
    events = [event(i) for i in range(100)]
    bad = {"_id": ObjectId(), "type": "not-a-type", "content": "x"}
    events.insert(37, bad)
    for e in events:
        w.submit(e)
    w.close()

    assert w.stats().refused == 1
    assert w.stats().written == 100
    assert [r.event_id for r in refusals] == [str(bad["_id"])]
    assert refusals[0].field == "type"
    assert_stored_once(repo, [e for e in events if e is not bad])


def test_an_event_the_driver_cannot_encode_does_not_block_the_batch(
    store: FailingStore, repo: AgentLogRepository
) -> None:
    class Boom:
        """A value whose encoding raises something no one expected."""

    original = store.repository.insert_many

    def insert_many(events: Any) -> Any:
        events = list(events)
        if any(isinstance(e.get("content"), Boom) for e in events):
            raise RuntimeError("unexpected")
        return original(events)

    store.repository.insert_many = insert_many  # type: ignore[method-assign]
    refusals: list[Refusal] = []
    w = BufferedWriter(store, FAST, on_refused=refusals.append)  # type: ignore[arg-type]
    events = [event(i) for i in range(5)]
    odd = event(99, content=Boom())
    for e in [*events[:2], odd, *events[2:]]:
        w.submit(e)
    w.close()

    assert [r.event_id for r in refusals] == [str(odd["_id"])]
    assert_stored_once(repo, events)


def test_a_failed_write_is_retried_and_stored_once(
    store: FailingStore, repo: AgentLogRepository
) -> None:
    store.fail_next = 1
    w = writer(store)
    events = [event(i) for i in range(20)]
    for e in events:
        w.submit(e)
    w.close()

    stats = w.stats()
    assert stats.retried == 20
    assert stats.written == 20
    assert stats.spooled == 0
    assert_stored_once(repo, events)


def test_a_write_whose_reply_was_lost_is_stored_once(
    store: FailingStore, repo: AgentLogRepository
) -> None:
    store.lose_replies = 1
    w = writer(store)
    events = [event(i) for i in range(20)]
    for e in events:
        w.submit(e)
    w.close()

    assert w.stats().retried == 20
    assert w.stats().written == 20
    assert_stored_once(repo, events)


def test_events_are_spooled_while_the_database_is_down_and_replayed_after(
    store: FailingStore, repo: AgentLogRepository, tmp_path: Path
) -> None:
    store.down = True
    w = writer(store, tmp_path)
    events = [event(i) for i in range(30)]
    for e in events[:10]:
        w.submit(e)
    assert w.flush(10)
    assert w.stats().spooled == 10
    for e in events[10:]:
        w.submit(e)
    assert w.flush(10)
    assert spooled_lines(tmp_path) == 30
    assert repo.count() == 0

    store.down = False
    assert wait_until(lambda: spooled_lines(tmp_path) == 0)
    assert w.stats().replayed == 30
    assert_stored_once(repo, events)
    w.close()
    assert w.stats().dropped == 0


def test_close_while_the_database_is_down_spools_and_the_next_start_replays(
    store: FailingStore, repo: AgentLogRepository, tmp_path: Path
) -> None:
    store.down = True
    w = writer(store, tmp_path, flush_interval_ms=60_000)
    events = [event(i) for i in range(40)]
    for e in events:
        w.submit(e)
    assert w.close(10)
    assert spooled_lines(tmp_path) == 40

    store.down = False
    second = writer(store, tmp_path)
    second.submit(extra := event(41))
    assert second.flush(10)
    assert wait_until(lambda: second.stats().replayed == 40)
    second.close()
    assert_stored_once(repo, [*events, extra])

    third = writer(store, tmp_path)
    third.close()
    assert third.stats().replayed == 0
    assert_stored_once(repo, [*events, extra])


def test_a_replay_cut_short_and_run_again_adds_nothing(
    store: FailingStore, repo: AgentLogRepository, tmp_path: Path
) -> None:
    spool = Spool(tmp_path)
    events = [event(i) for i in range(12)]
    spool.append(events)
    spool.close()

    store.lose_replies = 1  # the first batch is stored, then its reply lost
    w = writer(store, tmp_path, batch_size=5)
    w.close()
    assert repo.count() == 5
    assert spooled_lines(tmp_path) == 12  # the segment stays until all is stored

    w2 = writer(store, tmp_path, batch_size=5)
    w2.close()
    assert w2.stats().replayed == 12
    assert spooled_lines(tmp_path) == 0
    assert_stored_once(repo, events)


def test_a_replay_cut_short_goes_on_where_it_stopped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([event(i) for i in range(10)])
    spool.append([event(i) for i in range(10, 25)])
    spool.close()
    sent: list[list[int]] = []

    def fail_on_third_batch(batch: list[dict[str, Any]]) -> None:
        if len(sent) == 2:
            raise OSError("the process is ending")
        sent.append([int(e["content"][1:]) for e in batch])

    with pytest.raises(OSError, match="ending"):
        Spool(tmp_path).replay(fail_on_third_batch, batch_size=4)
    assert sent == [[0, 1, 2, 3], [4, 5, 6, 7]]

    rest: list[int] = []
    report = Spool(tmp_path).replay(
        lambda batch: rest.extend(int(e["content"][1:]) for e in batch), batch_size=4
    )

    assert rest == list(range(8, 25))
    assert report.events == 17
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_spool_line_is_reported_and_the_rest_replayed(
    store: FailingStore, repo: AgentLogRepository, tmp_path: Path
) -> None:
    spool = Spool(tmp_path)
    events = [event(i) for i in range(3)]
    spool.append(events)
    spool.close()
    [segment] = list(tmp_path.glob("spool-*.jsonl"))
    with segment.open("a", encoding="utf-8") as file:
        file.write('{"_id": "65f0c0ffee00000000000001", "type": "mess')  # cut short

    refusals: list[Refusal] = []
    w = BufferedWriter(
        store,
        FAST,
        spool=Spool(tmp_path),
        on_refused=refusals.append,  # type: ignore[arg-type]
    )
    w.close()
    assert w.stats().refused == 1
    assert len(refusals) == 1
    assert_stored_once(repo, events)


def test_two_writers_replaying_one_spool_store_each_event_once(
    store: FailingStore, repo: AgentLogRepository, tmp_path: Path
) -> None:
    spool = Spool(tmp_path)
    events = [event(i) for i in range(200)]
    for start in range(0, 200, 20):
        spool.append(events[start : start + 20])
        spool.rotate()

    writers = [writer(store, tmp_path, batch_size=7) for _ in range(2)]
    for w in writers:
        w.close(20)
    assert sum(w.stats().replayed for w in writers) >= 200
    assert spooled_lines(tmp_path) == 0
    assert_stored_once(repo, events)


def test_memory_is_bounded_and_the_overflow_goes_to_the_spool(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    stuck = StuckStore(repo)
    w = BufferedWriter(
        stuck,  # type: ignore[arg-type]
        FAST.with_changes(max_queue_events=10, batch_size=5, writer_threads=1),
        spool=Spool(tmp_path),
    )
    first = event(0)
    w.submit(first)
    assert stuck.inside.wait(10)
    events = [first] + [event(i) for i in range(1, 40)]
    for e in events[1:]:
        w.submit(e)
        assert w.stats().queued <= 10 + 39  # overflow waits briefly for the disk
    assert wait_until(lambda: w.stats().spooled == 29)
    assert w.stats().queued == 10

    stuck.release.set()
    assert w.flush(10)
    assert wait_until(lambda: w.stats().replayed == 29)
    w.close()
    assert w.stats().dropped == 0
    assert_stored_once(repo, events)


def _stuck_writer(
    stuck: StuckStore, tmp_path: Path
) -> tuple[BufferedWriter, list[dict[str, Any]]]:
    """A writer whose first batch waits for ``stuck`` while 29 events overflow."""
    w = BufferedWriter(
        stuck,  # type: ignore[arg-type]
        FAST.with_changes(max_queue_events=10, batch_size=5, writer_threads=1),
        spool=Spool(tmp_path),
    )
    events = [event(i) for i in range(40)]
    w.submit(events[0])
    assert stuck.inside.wait(10)
    for e in events[1:]:
        w.submit(e)
    assert wait_until(lambda: w.stats().spooled == 29)
    return w, events


def test_close_writes_what_overflowed_while_the_database_was_up(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    stuck = StuckStore(repo)
    w, events = _stuck_writer(stuck, tmp_path)

    stuck.release.set()
    assert w.close()

    assert w.stats().replayed == 29
    assert_stored_once(repo, events)


def test_overflowed_events_go_out_under_steady_traffic(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    stuck = StuckStore(repo)
    w, events = _stuck_writer(stuck, tmp_path)
    stuck.release.set()

    # An event every 10 ms, two or so per batch: the queue is seldom empty.
    n = 100

    def all_replayed() -> bool:
        stats = w.stats()
        return stats.replayed >= 29 and stats.replayed == stats.spooled

    while not all_replayed() and n < 700:
        events.append(event(n))
        w.submit(events[-1])
        n += 1
        threading.Event().wait(0.01)

    assert all_replayed(), w.stats()
    w.close()
    assert_stored_once(repo, events)


def test_the_byte_bound_counts_payload_sizes(
    store: FailingStore, repo: AgentLogRepository, tmp_path: Path
) -> None:
    store.down = True
    w = writer(store, tmp_path, max_queue_bytes=1000, flush_interval_ms=60_000)
    w.submit(event(0), size=600)
    w.submit(event(1), size=600)
    assert wait_until(lambda: w.stats().spooled == 1)
    assert w.stats().queued == 1
    w.close()


def test_the_drop_policy_drops_past_the_bound_and_counts(
    repo: AgentLogRepository,
) -> None:
    stuck = StuckStore(repo)
    w = BufferedWriter(
        stuck,  # type: ignore[arg-type]
        FAST.with_changes(
            max_queue_events=5, batch_size=1, overflow="drop", writer_threads=1
        ),
    )
    w.submit(event(0))
    assert stuck.inside.wait(10)
    for i in range(1, 12):
        w.submit(event(i))
    assert w.stats().dropped == 6
    stuck.release.set()
    w.close()
    assert repo.count() == 6


def test_the_block_policy_makes_the_caller_wait_for_room(
    repo: AgentLogRepository,
) -> None:
    stuck = StuckStore(repo)
    w = BufferedWriter(
        stuck,  # type: ignore[arg-type]
        FAST.with_changes(
            max_queue_events=3, batch_size=1, overflow="block", writer_threads=1
        ),
    )
    w.submit(event(0))
    assert stuck.inside.wait(10)
    done = threading.Event()

    def produce() -> None:
        for i in range(1, 10):
            w.submit(event(i))
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    assert wait_until(lambda: w.stats().queued == 3)
    assert not done.is_set()
    stuck.release.set()
    producer.join(30)
    assert done.is_set()
    w.close()
    assert repo.count() == 10
    assert w.stats().dropped == 0


def test_without_a_spool_a_failed_batch_waits_for_the_database(
    store: FailingStore, repo: AgentLogRepository
) -> None:
    store.down = True
    w = writer(store)
    events = [event(i) for i in range(5)]
    for e in events:
        w.submit(e)
    assert wait_until(lambda: store.calls >= 3)
    store.down = False
    assert w.flush(10)
    w.close()
    assert w.stats().dropped == 0
    assert_stored_once(repo, events)


def test_events_recorded_after_close_go_to_the_spool(
    store: FailingStore, repo: AgentLogRepository, tmp_path: Path
) -> None:
    w = writer(store, tmp_path)
    w.close()
    w.submit(late := event(0))
    assert spooled_lines(tmp_path) == 1
    w2 = writer(store, tmp_path)
    w2.close()
    assert_stored_once(repo, [late])


def test_logger_counters_add_up(repo: AgentLogRepository, tmp_path: Path) -> None:
    store = FailingStore(repo)
    log = AgentLogger(store, settings=FAST, spool=tmp_path)  # type: ignore[arg-type]
    with log.run():
        for i in range(10):
            log.message("user", f"m{i}")
    log.close()
    stats = log.stats()
    assert (stats.written, stats.spooled, stats.refused, stats.dropped) == (11, 0, 0, 0)


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("AI_LOGS_BATCH_SIZE=50\nAI_LOGS_OVERFLOW=drop\n")
    settings = CaptureSettings.load(
        env_file=env_file,
        environ={"AI_LOGS_BATCH_SIZE": "200", "AI_LOGS_REDACT": "off"},
        flush_interval_ms=250,
    )
    assert settings.batch_size == 200  # the environment beats .env
    assert settings.overflow == "drop"
    assert settings.redact is False
    assert settings.flush_interval_ms == 250


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AI_LOGS_BATCH_SIZE", "0"),
        ("AI_LOGS_BATCH_SIZE", "many"),
        ("AI_LOGS_OVERFLOW", "ignore"),
        ("AI_LOGS_REDACT", "maybe"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(name: str, value: str) -> None:
    from mongo_ai_logs import ConfigurationError

    with pytest.raises(ConfigurationError, match=name):
        CaptureSettings.load(environ={name: value})


def test_flush_waits_for_an_earlier_batch_that_ends_after_a_later_one(
    repo: AgentLogRepository,
) -> None:
    release = threading.Event()
    calls: list[int] = []

    class FirstCallStuck:
        def insert_many(self, events: Any) -> Any:
            calls.append(len(calls))
            if len(calls) == 1:
                release.wait(30)
            return repo.insert_many(events)

    w = BufferedWriter(
        FirstCallStuck(),  # type: ignore[arg-type]
        FAST.with_changes(batch_size=2, writer_threads=2),
    )
    for i in range(4):
        w.submit(event(i))
    assert wait_until(lambda: w.stats().written == 2)  # the second batch
    assert w.flush(0.2) is False
    release.set()
    assert w.flush(10) is True
    w.close()
    assert repo.count() == 4
