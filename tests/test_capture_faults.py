"""Fault tests: a real server that fails, stops, restarts; processes that die.

Every scenario ends with each event stored exactly once. The server scenarios
use SecantusDB's ``failCommand`` fail points and a server process stopped and
started again on the same port; the process scenarios run a small agent in a
subprocess that exits or is killed while the database is down.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mongomock
import pytest
from pymongo import MongoClient

from mongo_ai_logs import AgentLogRepository, Settings
from mongo_ai_logs.capture import AgentLogger, CaptureSettings
from tests.capture_support import (
    FAST,
    spooled_ids,
    spooled_lines,
    stored_ids,
    wait_until,
)
from tests.servers import SecantusServer, secantus_executable

ROOT = Path(__file__).resolve().parent.parent

Document = dict[str, Any]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SecantusServer]:
    """A SecantusDB of this test's own, on disk so that it survives a restart."""
    if secantus_executable() is None:
        pytest.skip("secantusd-py is not installed: pip install -e '.[dev]'")
    instance = SecantusServer(storage_path=str(tmp_path / "db")).start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def client(server: SecantusServer) -> Iterator[MongoClient[Document]]:
    c: MongoClient[Document] = MongoClient(
        server.uri,
        tz_aware=True,
        heartbeatFrequencyMS=500,
        serverSelectionTimeoutMS=1000,
        connectTimeoutMS=1000,
    )
    yield c
    c.close()


@pytest.fixture
def repository(client: MongoClient[Document]) -> AgentLogRepository:
    repo = AgentLogRepository(client.ai_logs_faults.events)
    repo.ensure_indexes()
    return repo


def fail_point(client: MongoClient[Document], mode: Any, **data: Any) -> None:
    client.admin.command(
        {"configureFailPoint": "failCommand", "mode": mode, "data": data}
    )


def record(log: AgentLogger, count: int) -> list[str]:
    ids = []
    with log.run() as run:
        ids.append(run.id)
        for n in range(count - 1):
            ids.append(log.message("user", f"message {n}"))
    return ids


def assert_exactly_once(repo: AgentLogRepository, ids: list[str]) -> None:
    stored = stored_ids(repo)
    assert len(stored) == len(set(stored))
    assert sorted(stored) == sorted(ids)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param({"closeConnection": True}, id="connection-closed"),
        pytest.param({"errorCode": 91}, id="shutdown-in-progress"),
        pytest.param({"errorCode": 2}, id="non-retryable-error"),
    ],
)
def test_write_errors_are_retried_and_each_event_stored_once(
    client: MongoClient[Document],
    repository: AgentLogRepository,
    failure: dict[str, Any],
) -> None:
    # The driver retries a retryable write itself until the write timeout;
    # the fail point stays on until the writer has had to retry too.
    log = AgentLogger(repository, settings=FAST.with_changes(write_timeout_ms=1000))
    fail_point(client, "alwaysOn", failCommands=["insert"], **failure)
    try:
        ids = record(log, 50)
        assert wait_until(lambda: log.stats().retried > 0, timeout=30)
    finally:
        fail_point(client, "off")
    assert log.close(30)

    assert log.stats().dropped == 0
    assert log.stats().written == 50
    assert_exactly_once(repository, ids)


def test_a_slow_write_that_times_out_and_lands_late_is_stored_once(
    client: MongoClient[Document], repository: AgentLogRepository, tmp_path: Path
) -> None:
    settings = FAST.with_changes(write_timeout_ms=500, write_retries=3)
    log = AgentLogger(repository, settings=settings, spool=tmp_path)
    fail_point(
        client,
        {"times": 1},
        failCommands=["insert"],
        blockConnection=True,
        blockTimeMS=1500,
    )
    ids = record(log, 40)
    assert log.close(30)
    fail_point(client, "off")

    assert log.stats().retried > 0
    assert wait_until(lambda: len(stored_ids(repository)) >= len(ids))
    assert_exactly_once(repository, ids)


def test_server_stopped_and_started_again_every_event_stored_once(
    server: SecantusServer, repository: AgentLogRepository, tmp_path: Path
) -> None:
    log = AgentLogger(repository, settings=FAST, spool=tmp_path)
    before = record(log, 20)
    assert log.flush(30)

    server.stop()
    during = record(log, 30)
    assert log.flush(60)
    assert log.stats().spooled >= 30
    assert spooled_lines(tmp_path) >= 30

    server.start()
    assert wait_until(lambda: spooled_lines(tmp_path) == 0, timeout=60)
    after = record(log, 10)
    assert log.close(30)

    assert log.stats().dropped == 0
    assert_exactly_once(repository, before + during + after)


def run_agent(
    tmp_path: Path, env: dict[str, str], count: int, mode: str, *extra: str
) -> tuple[subprocess.Popen[str], Path]:
    ids_file = tmp_path / f"ids-{mode}-{len(list(tmp_path.iterdir()))}.txt"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.capture_agent_process",
            str(ids_file),
            str(count),
            mode,
            *extra,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    return process, ids_file


def finish(process: subprocess.Popen[str], mode: str) -> None:
    assert process.stdout is not None
    with process.stdout:
        if mode == "kill":
            assert process.stdout.readline().strip() == "ready"
            process.send_signal(signal.SIGKILL)
            process.wait(60)
            assert process.returncode == -signal.SIGKILL
        else:
            process.stdout.read()
            assert process.wait(120) == 0


@pytest.mark.parametrize("mode", ["exit", "kill"])
def test_a_process_that_ends_while_the_server_is_down_is_replayed_by_the_next(
    server: SecantusServer, tmp_path: Path, mode: str
) -> None:
    spool_root = tmp_path / "spool"
    env = {
        "MONGODB_URI": f"{server.uri}?heartbeatFrequencyMS=500",
        "MONGODB_DB": "ai_logs_faults",
        "MONGODB_TIMEOUT_MS": "1000",
        "AI_LOGS_SPOOL_DIR": str(spool_root),
        "AI_LOGS_FLUSH_INTERVAL_MS": "50",
        "AI_LOGS_PROBE_INTERVAL_MS": "200",
        "AI_LOGS_WRITE_RETRIES": "1",
        "AI_LOGS_EXIT_TIMEOUT_MS": "3000",
    }
    server.stop()
    process, ids_file = run_agent(tmp_path, env, 25, mode)
    finish(process, mode)
    ids = ids_file.read_text().split()
    assert len(ids) == 25
    # An event being written when the process ends is spooled as well; the
    # replay stores it once.
    assert spooled_ids(spool_root) == set(ids)

    server.start()
    settings = Settings.load(environ=env)
    capture = CaptureSettings.load(environ=env)
    for attempt in range(2):  # the second replay finds nothing to add
        log = AgentLogger.from_settings(settings, capture)
        assert log.close(30)
        assert (
            (log.stats().replayed >= 25)
            if attempt == 0
            else (log.stats().replayed == 0)
        )
    with MongoClient(server.uri, tz_aware=True) as check:
        assert_exactly_once(AgentLogRepository(check.ai_logs_faults.agent_logs), ids)


@pytest.mark.parametrize("mode", ["exit", "kill"])
def test_on_mongomock_a_process_that_ends_with_the_store_down_is_replayed(
    tmp_path: Path, mode: str
) -> None:
    spool_dir = tmp_path / "spool"
    env = {"AI_LOGS_SPOOL_DIR": str(spool_dir), "AI_LOGS_FLUSH_INTERVAL_MS": "50"}
    process, ids_file = run_agent(tmp_path, env, 25, mode, "failing")
    finish(process, mode)
    ids = ids_file.read_text().split()
    assert spooled_ids(spool_dir) == set(ids)

    repo = AgentLogRepository(mongomock.MongoClient(tz_aware=True).db.events)
    for first in (True, False):
        log = AgentLogger(repo, settings=FAST, spool=spool_dir)
        assert log.close(30)
        replayed = log.stats().replayed
        assert replayed >= 25 if first else replayed == 0
    assert_exactly_once(repo, ids)


def _child_records(uri: str, count: int) -> None:
    log = _fork_logger
    assert log is not None
    with log.run():
        for n in range(count):
            log.message("user", f"from the child {n}")
    # No close: the writer must flush when the child ends.


_fork_logger: AgentLogger | None = None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_writer(
    server: SecantusServer, tmp_path: Path
) -> None:
    global _fork_logger
    settings = Settings(uri=server.uri, db="ai_logs_faults", timeout_ms=2000)
    log = AgentLogger.from_settings(
        settings, FAST.with_changes(spool_dir=tmp_path / "spool")
    )
    _fork_logger = log
    try:
        parent_id = log.message("user", "from the parent")
        assert log.flush(30)
        context = multiprocessing.get_context("fork")
        child = context.Process(target=_child_records, args=(server.uri, 5))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        log.message("user", "from the parent again")
        assert log.close(30)
    finally:
        _fork_logger = None
    with MongoClient(server.uri, tz_aware=True) as check:
        repo = AgentLogRepository(check.ai_logs_faults.agent_logs)
        assert repo.count(type="message") == 7
        assert repo.count(type="run") == 1
        assert repo.get(parent_id) is not None


def test_a_slow_server_fills_the_bounded_queue_and_the_rest_waits_in_the_spool(
    client: MongoClient[Document], repository: AgentLogRepository, tmp_path: Path
) -> None:
    settings = FAST.with_changes(
        max_queue_events=20, batch_size=10, write_timeout_ms=5000
    )
    log = AgentLogger(repository, settings=settings, spool=tmp_path)
    fail_point(
        client,
        "alwaysOn",
        failCommands=["insert"],
        blockConnection=True,
        blockTimeMS=1000,
    )
    try:
        ids = record(log, 200)
        assert wait_until(lambda: log.stats().spooled > 0)
        assert log.stats().queued <= 20 + 10  # the bound, and a batch for the disk
    finally:
        fail_point(client, "off")
    assert wait_until(lambda: spooled_lines(tmp_path) == 0, timeout=60)
    assert log.close(30)

    assert log.stats().dropped == 0
    assert_exactly_once(repository, ids)
