"""Behaviour only a real server shows: retried writes, lost replies, races.

These tests start a SecantusDB process of their own, with fail points
enabled, and run whether or not MONGODB_TEST_URI is set.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import AutoReconnect

from mongo_ai_logs import (
    AgentLogRepository,
    ConnectionFailedError,
    MongoConnection,
    Settings,
    StoreError,
)
from tests.helpers import event
from tests.servers import SecantusServer, secantus_executable


@pytest.fixture(scope="module")
def server() -> Iterator[SecantusServer]:
    if secantus_executable() is None:
        pytest.skip("secantusd-py is not installed: pip install -e '.[dev]'")
    running = SecantusServer().start()
    yield running
    running.stop()


@pytest.fixture
def client(server: SecantusServer) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        server.uri,
        tz_aware=True,
        heartbeatFrequencyMS=500,
        serverSelectionTimeoutMS=3000,
    )
    yield client
    client.admin.command("configureFailPoint", "failCommand", mode="off")
    client.close()


@pytest.fixture
def server_repo(client: MongoClient[dict[str, Any]]) -> AgentLogRepository:
    repo = AgentLogRepository(client["faults"][f"events_{uuid.uuid4().hex[:8]}"])
    repo.ensure_indexes()
    return repo


def _fail_next(client: MongoClient[dict[str, Any]], times: int, **data: Any) -> None:
    client.admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"times": times},
        data={"failCommands": ["insert"], **data},
    )


def test_a_write_whose_connection_drops_once_is_retried_and_stored_once(
    client: MongoClient[dict[str, Any]], server_repo: AgentLogRepository
) -> None:
    _fail_next(client, 1, closeConnection=True)

    event_id = server_repo.insert(event())

    assert server_repo.count() == 1
    assert server_repo.get(event_id) is not None


def test_a_lost_reply_reported_as_an_error_can_be_retried_without_duplicate(
    client: MongoClient[dict[str, Any]], server_repo: AgentLogRepository
) -> None:
    payload = event(content="lost reply")
    _fail_next(client, 2, closeConnection=True)

    with pytest.raises(ConnectionFailedError) as caught:
        server_repo.insert(payload)
    assert isinstance(caught.value.__cause__, AutoReconnect)

    server_repo.insert(payload)
    server_repo.insert(payload)
    assert server_repo.count() == 1


def test_a_batch_retried_after_a_failure_stores_each_event_once(
    client: MongoClient[dict[str, Any]], server_repo: AgentLogRepository
) -> None:
    batch = [event(seq=i) for i in range(300)]
    _fail_next(client, 2, closeConnection=True)

    with pytest.raises(StoreError):
        server_repo.insert_many(batch)
    report = server_repo.insert_many(batch)

    assert report.ok
    assert len(report.inserted_ids) + len(report.duplicate_ids) == 300
    assert server_repo.count() == 300


def test_a_server_write_error_is_translated_and_chained(
    client: MongoClient[dict[str, Any]], server_repo: AgentLogRepository
) -> None:
    _fail_next(client, 1, errorCode=2, errmsg="injected")  # BadValue: not retryable

    with pytest.raises(StoreError) as caught:
        server_repo.insert(event())

    assert "insert failed" in str(caught.value)
    assert caught.value.__cause__ is not None


def test_concurrent_add_usage_loses_no_count(server_repo: AgentLogRepository) -> None:
    event_id = server_repo.insert(event(usage={"input_tokens": 0, "output_tokens": 0}))
    workers, rounds = 4, 100

    def work() -> None:
        for _ in range(rounds):
            server_repo.add_usage(event_id, input_tokens=1, output_tokens=2, cost=0.5)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = server_repo.get(event_id)
    assert stored is not None
    assert stored["usage"]["input_tokens"] == workers * rounds
    assert stored["usage"]["output_tokens"] == 2 * workers * rounds
    assert stored["usage"]["total_tokens"] == 3 * workers * rounds
    assert stored["cost"]["total"] == pytest.approx(0.003 + 0.5 * workers * rounds)


def test_a_stopped_server_gives_a_connection_error_within_the_timeout() -> None:
    if secantus_executable() is None:
        pytest.skip("secantusd-py is not installed")
    own = SecantusServer().start()
    settings = Settings(uri=own.uri, timeout_ms=800)
    with MongoConnection(settings) as connection:
        repo = AgentLogRepository(connection.collection)
        repo.insert(event())
        own.stop()

        with pytest.raises(ConnectionFailedError, match="unreachable"):
            repo.count()
