"""Where a command's events live: the configured server or the local store.

- ``--store DIR`` selects the local store in ``DIR``, whatever else is set;
- otherwise ``MONGODB_URI`` (environment or ``.env``) selects that server;
- otherwise the local store, in ``AI_LOGS_STORE`` or the user's data directory.

The embedded in-memory backend is never a command's store: its data would be
gone when the command ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mongo_ai_logs.agent_log_repository import AgentLogRepository
from mongo_ai_logs.client import MongoConnection
from mongo_ai_logs.config import Settings, read_environment
from mongo_ai_logs.local_store import LocalStore, default_store_path

__all__ = ["OpenStore", "StoreOptions", "local_store_path", "open_store"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreOptions:
    """What a command asks of its store.

    Attributes:
        project: The project to bind the repository to; ``None``: the default.
        store_path: The local store's directory given on the command line;
            ``None`` when not given.
        wait: Seconds to wait for the local store when another command has it.
        command: The command's name, written in the local store's lock.
        on_wait: Told once when the command starts waiting for the store.
    """

    project: str | None = None
    store_path: Path | None = None
    wait: float = 30.0
    command: str = "mongo-ai-logs"
    on_wait: Callable[[str], None] | None = None


@dataclass
class OpenStore:
    """A store a command can use.

    Attributes:
        repository: The events, bound to the command's project.
        kind: ``"local"`` for the local store, ``"server"`` for MONGODB_URI.
        location: The local store's directory, or the masked connection string.
        server_version: Asks the server for its version.
        local: The local store, when it is one.
    """

    repository: AgentLogRepository
    kind: Literal["local", "server"]
    location: str
    server_version: Callable[[], str]
    local: LocalStore | None = None


def local_store_path(options: StoreOptions, settings: Settings) -> Path | None:
    """The local store's directory, or ``None`` when MONGODB_URI is used.

    Raises:
        ConfigurationError: ``.env`` cannot be read.
    """
    if options.store_path is not None:
        return options.store_path
    if settings.uri is not None:
        return None
    configured = read_environment(["AI_LOGS_STORE"]).get("AI_LOGS_STORE")
    return Path(configured).expanduser() if configured else default_store_path()


def _repository(connection: MongoConnection, project: str | None) -> AgentLogRepository:
    settings = connection.settings
    return AgentLogRepository(
        connection.collection,
        project_id=project,
        large_values=settings.large_values,
        max_inline_bytes=settings.max_inline_bytes,
        retention_days=settings.retention_days,
    )


@contextmanager
def open_store(options: StoreOptions) -> Iterator[OpenStore]:
    """Open the store the settings select, for the length of a ``with`` block.

    The local store's server is started on entry and stopped on exit.

    Raises:
        ConfigurationError: The settings cannot work, or the local store is
            not installed (``LocalStoreUnavailableError``).
        ConnectionFailedError: The server cannot be reached.
        StoreBusyError: Another command kept the local store too long.
        StoreError: The local store's server did not start.
    """
    settings = Settings.load()
    path = local_store_path(options, settings)
    if path is None:
        with MongoConnection(settings) as connection:
            yield OpenStore(
                repository=_repository(connection, options.project),
                kind="server",
                location=settings.masked_uri or "",
                server_version=connection.server_version,
            )
        return

    with (
        LocalStore(
            path, wait=options.wait, on_wait=options.on_wait, command=options.command
        ) as local,
        MongoConnection(settings.with_changes(uri=local.uri)) as connection,
    ):
        yield OpenStore(
            repository=_repository(connection, options.project),
            kind="local",
            location=str(local.path),
            server_version=connection.server_version,
            local=local,
        )
