"""Test fixtures: every test runs on each backend that is available.

Without ``MONGODB_TEST_URI`` the backend is mongomock, in process. With it,
each backend-using test runs twice: on mongomock and on that server, over the
wire, in a database of its own made for this run and dropped at the end. The
same tests would run unchanged against Atlas.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mongomock
import pytest
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

from mongo_ai_logs import AgentLogRepository, reset_clients
from tests.servers import SecantusServer, secantus_executable

SERVER_URI = os.environ.get("MONGODB_TEST_URI") or None
BACKENDS = ["mongomock", "server"] if SERVER_URI else ["mongomock"]

Document = dict[str, Any]


@dataclass
class Backend:
    """A database to test in, and what kind it is."""

    name: str
    database: Database[Document]
    uri: str | None

    @property
    def is_server(self) -> bool:
        return self.name == "server"


@pytest.fixture(scope="session")
def server_database() -> Iterator[Database[Document] | None]:
    """This run's database on the test server, dropped at the end."""
    if SERVER_URI is None:
        yield None
        return
    client: MongoClient[Document] = MongoClient(
        SERVER_URI, tz_aware=True, serverSelectionTimeoutMS=10000
    )
    name = f"ai_logs_test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, server_database: Any) -> Backend:
    """Each available backend in turn."""
    if request.param == "server":
        return Backend("server", server_database, SERVER_URI)
    return Backend(
        "mongomock", mongomock.MongoClient(tz_aware=True)["ai_logs_test"], None
    )


@pytest.fixture
def server_backend(server_database: Any) -> Backend:
    """The real server only: for behaviour mongomock cannot show."""
    if server_database is None:
        pytest.skip("needs a real server: set MONGODB_TEST_URI")
    return Backend("server", server_database, SERVER_URI)


@pytest.fixture
def collection(backend: Backend) -> Iterator[Collection[Document]]:
    """A fresh, empty events collection, dropped after the test."""
    name = f"events_{uuid.uuid4().hex[:12]}"
    collection = backend.database[name]
    yield collection
    collection.drop()
    backend.database[f"{name}.blobs"].drop()


@pytest.fixture
def repo(collection: Collection[Document]) -> AgentLogRepository:
    """A repository of the default project on a fresh collection, indexed."""
    repository = AgentLogRepository(collection)
    repository.ensure_indexes()
    return repository


@pytest.fixture
def secantus() -> Iterator[SecantusServer]:
    """A SecantusDB server of this test's own, with fail points enabled."""
    if secantus_executable() is None:
        pytest.skip("secantusd-py is not installed: pip install -e '.[dev]'")
    server = SecantusServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No setting leaks in from the developer's shell or a ``.env`` file."""
    for name in list(os.environ):
        if name.startswith(("MONGODB_", "AI_LOGS_")) and name != "MONGODB_TEST_URI":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    reset_clients()
