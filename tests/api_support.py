"""Fixtures and builders for the tests of the REST service.

:func:`serve_api` gives a test client of the app on a collection of each
backend of ``tests/conftest.py`` (a test module makes it a fixture in two
lines); :class:`LiveServer` runs the app in uvicorn on a loopback port, for
the browser, the fuzzer and the load check.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pymongo.collection import Collection

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.jsonl import to_jsonable
from mongo_ai_logs.server import ApiKey, ServerSettings, create_app
from tests.helpers import T0, event

__all__ = [
    "ACME_ADMIN",
    "ACME_READ",
    "ACME_WRITE",
    "GLOBEX_ADMIN",
    "T0",
    "Api",
    "LiveServer",
    "auth",
    "free_port",
    "keyed_settings",
    "serve_api",
    "wire_event",
]

ACME_ADMIN = "acme-admin-key-0123456789"
ACME_WRITE = "acme-write-key-0123456789"
ACME_READ = "acme-read-key-01234567890"
GLOBEX_ADMIN = "globex-admin-key-01234567"


def keyed_settings(**changes: Any) -> ServerSettings:
    """Settings with keys for two projects, acme and globex."""
    keys = (
        ApiKey.parse(f"{ACME_ADMIN}:acme:admin:alice"),
        ApiKey.parse(f"{ACME_WRITE}:acme:write"),
        ApiKey.parse(f"{ACME_READ}:acme:read"),
        ApiKey.parse(f"{GLOBEX_ADMIN}:globex:admin"),
    )
    return ServerSettings(api_keys=keys, **changes)


def auth(key: str) -> dict[str, str]:
    """The header that presents ``key``."""
    return {"Authorization": f"Bearer {key}"}


def wire_event(**fields: Any) -> dict[str, Any]:
    """A valid LLM-call event as JSON; keyword arguments replace fields."""
    return to_jsonable(event(**fields))


@dataclass
class Api:
    """A test client and the repository behind the app."""

    client: TestClient
    repo: AgentLogRepository
    app: FastAPI


@contextlib.contextmanager
def serve_api(
    collection: Collection[Any], server_settings: ServerSettings | None = None
) -> Iterator[Api]:
    """The app on ``collection`` through the test client.

    Args:
        collection: A fresh events collection (the ``collection`` fixture).
        server_settings: Defaults to :func:`keyed_settings`.
    """
    repo = AgentLogRepository(collection)
    settings = keyed_settings() if server_settings is None else server_settings
    app = create_app(server_settings=settings, repository=repo)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Api(client, repo, app)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The app in uvicorn on a loopback port, on a thread of this process.

    Args:
        app: The application.
        port: The port; defaults to a free one.
    """

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the service did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
