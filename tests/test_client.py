"""The shared client: one per process and URI, pinged, fork-safe, closable."""

from __future__ import annotations

import logging
import os
import time

import pytest
from pymongo import MongoClient
from pymongo.errors import ServerSelectionTimeoutError

from mongo_ai_logs import (
    AgentLogRepository,
    ConnectionFailedError,
    MongoConnection,
    Settings,
    get_client,
    reset_clients,
)
from mongo_ai_logs.capture import AgentLogger
from mongo_ai_logs.client import describe_hosts, journaled
from tests.conftest import SERVER_URI
from tests.servers import free_port

SECRET = "s3cr3t-Pa55"


def test_same_settings_share_one_client() -> None:
    settings = Settings()

    assert get_client(settings) is get_client(Settings())


def test_reset_gives_a_new_client() -> None:
    first = get_client(Settings())
    reset_clients()

    assert get_client(Settings()) is not first


def test_embedded_backend_logs_one_line_saying_data_is_in_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mongo_ai_logs")

    get_client(Settings())
    get_client(Settings())

    lines = [r.getMessage() for r in caplog.records if "in-memory" in r.getMessage()]
    assert len(lines) == 1
    assert "until this process exits" in lines[0]


def test_repositories_of_one_process_share_the_embedded_data() -> None:
    writer = AgentLogRepository.from_settings(Settings())
    event_id = writer.insert({"type": "debug", "content": "shared"})

    reader = AgentLogRepository.from_settings(Settings())

    assert reader.get(event_id) is not None


def test_unreachable_server_fails_fast_naming_host_and_port_not_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    settings = Settings(uri=f"mongodb://app:{SECRET}@127.0.0.1:{port}/", timeout_ms=500)

    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as caught:
        get_client(settings)
    elapsed = time.monotonic() - started

    assert f"127.0.0.1:{port}" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text
    assert isinstance(caught.value.__cause__, ServerSelectionTimeoutError)
    # The configured timeout bounds the wait; generous slack for a busy machine.
    assert elapsed < 5


def test_failed_ping_leaves_no_client_behind() -> None:
    settings = Settings(uri=f"mongodb://127.0.0.1:{free_port()}/", timeout_ms=200)

    for _ in range(2):
        with pytest.raises(ConnectionFailedError):
            get_client(settings)


def test_describe_hosts_adds_default_port_and_drops_credentials() -> None:
    uri = f"mongodb://app:{SECRET}@a.example.net,b.example.net:27018/db?tls=true"

    assert describe_hosts(uri) == "a.example.net:27017,b.example.net:27018"


def test_connection_as_context_manager_closes_the_shared_client() -> None:
    with MongoConnection(Settings()) as connection:
        client = connection.client

    assert get_client(Settings()) is not client


def test_a_given_client_is_used_and_left_open() -> None:
    own = get_client(Settings())
    connection = MongoConnection(Settings(db="mine"), client=own)

    connection.close()

    assert connection.collection.database.name == "mine"
    assert get_client(Settings()) is own


def test_repr_of_connection_masks_the_password() -> None:
    settings = Settings(uri=f"mongodb://app:{SECRET}@db.example.net/")

    assert SECRET not in repr(MongoConnection(settings))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_makes_its_own_client() -> None:
    settings = Settings(uri=SERVER_URI) if SERVER_URI else Settings()
    parent_client = get_client(settings)
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        try:
            child_client = get_client(settings)
            child_client.admin.command("ping")
            os.write(
                write_end, b"own" if child_client is not parent_client else b"shared"
            )
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 16)
    os.waitpid(pid, 0)
    os.close(read_end)

    assert answer == b"own"
    assert get_client(settings) is parent_client


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("", {"j": True}),
        ("?w=majority&wtimeoutMS=2000", {"w": "majority", "wtimeout": 2000, "j": True}),
        ("?journal=false", {"j": False}),
        ("?w=0", {"w": 0}),
    ],
)
def test_journaled_waits_for_the_journal_and_keeps_the_rest(
    options: str, expected: dict[str, object]
) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(
        f"mongodb://127.0.0.1:1/{options}", connect=False
    )
    try:
        collection = journaled(client.db.events)
        assert collection.write_concern.document == expected
        assert collection.name == "events"
    finally:
        client.close()


def test_offloaded_values_are_written_with_the_events_write_concern() -> None:
    client: MongoClient[dict[str, object]] = MongoClient(
        "mongodb://127.0.0.1:1/", connect=False
    )
    try:
        repo = AgentLogRepository(journaled(client.db.events))
        assert repo.blobs.write_concern.document == {"j": True}
    finally:
        client.close()


def test_the_capture_writer_waits_for_the_journal() -> None:
    log = AgentLogger.from_settings(Settings.load(uri=None))
    try:
        repository = log.writer.repository.repository  # made on first use
        assert repository.collection.write_concern.document.get("j") is True
    finally:
        log.close(timeout=0)
