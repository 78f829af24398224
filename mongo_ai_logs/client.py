"""One reusable MongoDB client per process and connection string.

A ``MongoClient`` owns a pool of connections and background monitor threads:
it is meant to be made once and shared. :func:`get_client` keeps one per
connection string, made lazily and pinged when made, because the driver's
constructor never fails on an unreachable server. A process forked after a
client was made starts with an empty registry and makes its own, since the
parent's sockets must not be shared.

With no connection string the client is an in-memory mongomock client, one per
process, so every repository of the process sees the same data.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import mongomock
from pymongo import MongoClient, WriteConcern
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongo.errors import (
    ConfigurationError as DriverConfigurationError,
)

from mongo_ai_logs.config import Settings, uri_secrets
from mongo_ai_logs.errors import ConfigurationError, ConnectionFailedError, StoreError

__all__ = [
    "MongoConnection",
    "driver_message",
    "get_client",
    "journaled",
    "ping",
    "reset_clients",
    "translated",
]

logger = logging.getLogger(__name__)

Document = dict[str, Any]

_lock = threading.Lock()
_clients: dict[tuple[str | None, int, str], MongoClient[Document]] = {}


def _forget_clients_after_fork() -> None:
    # The child must not use, nor close, the parent's sockets and threads.
    global _lock
    _lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_forget_clients_after_fork)


def describe_hosts(uri: str | None) -> str:
    """Return the ``host:port`` list of a connection string, without secrets."""
    if uri is None:
        return "the embedded in-memory backend"
    scheme, _, rest = uri.partition("://")
    hosts = rest.rpartition("@")[2].split("/", 1)[0].split("?", 1)[0]
    if scheme == "mongodb+srv":
        return hosts
    return ",".join(
        h if ":" in h.rsplit("]", 1)[-1] else f"{h}:27017" for h in hosts.split(",")
    )


def _make_client(settings: Settings) -> MongoClient[Document]:
    if settings.uri is None:
        logger.info(
            "no MONGODB_URI set: using the embedded in-memory backend; "
            "the data lasts until this process exits"
        )
        client: MongoClient[Document] = mongomock.MongoClient(tz_aware=True)
        return client

    logger.info("connecting to %s", describe_hosts(settings.uri))
    try:
        return MongoClient(
            settings.uri,
            tz_aware=True,
            uuidRepresentation="standard",
            appname=settings.app_name,
            serverSelectionTimeoutMS=settings.timeout_ms,
            connectTimeoutMS=settings.timeout_ms,
        )
    except DriverConfigurationError as exc:
        raise ConfigurationError(
            f"MONGODB_URI {settings.masked_uri!r} cannot be used: "
            f"{_without_password(str(exc), settings)}"
        ) from None


def _without_password(text: str, settings: Settings) -> str:
    if settings.uri is None:
        return text
    for secret in uri_secrets(settings.uri):
        text = text.replace(secret, "***")
    return text


def ping(client: MongoClient[Document], settings: Settings) -> None:
    """Check that the server answers, within the configured timeout.

    Raises:
        ConnectionFailedError: The server did not answer in time, or refused
            the credentials. The message names the hosts, never the password.
    """
    try:
        client.admin.command("ping")
    except OperationFailure as exc:
        hosts = describe_hosts(settings.uri)
        reason = (exc.details or {}).get("errmsg") or str(exc)
        raise ConnectionFailedError(
            f"MongoDB at {hosts} refused the connection: "
            f"{_without_password(str(reason), settings)}"
        ) from exc
    except PyMongoError as exc:
        reason = driver_message(exc)
        raise ConnectionFailedError(
            f"cannot reach MongoDB at {describe_hosts(settings.uri)} within "
            f"{settings.timeout_ms} ms: {_without_password(reason, settings)}"
        ) from exc


def driver_message(exc: BaseException) -> str:
    """The useful head of a driver error's message.

    Server selection errors end with the timeouts and a whole topology
    description; the reason comes first and is all a reader needs.
    """
    text = str(exc).split(" (configured timeouts", 1)[0].split(", Timeout:", 1)[0]
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Turn driver errors raised by ``operation`` into the library's own."""
    try:
        yield
    except (ServerSelectionTimeoutError, AutoReconnect, ConnectionFailure) as exc:
        raise ConnectionFailedError(
            f"{operation}: the database is unreachable: {driver_message(exc)}"
        ) from exc
    except PyMongoError as exc:
        raise StoreError(f"{operation} failed: {driver_message(exc)}") from exc


def journaled(collection: Collection[Document]) -> Collection[Document]:
    """``collection`` whose writes are acknowledged once in the server's journal.

    A server acknowledges a plain write when it is in memory; one that is
    killed a moment later loses it, though the writer was told it was
    stored. With ``j: true`` the acknowledgement waits for the journal. The
    rest of the write concern (``w``, ``wtimeout``) is kept; an explicit
    ``j`` or an unacknowledged ``w: 0`` in the connection string is left as
    it is.
    """
    concern = collection.write_concern.document
    if "j" in concern or concern.get("w") == 0:
        return collection
    return collection.with_options(write_concern=WriteConcern(**concern, j=True))


def _key(settings: Settings) -> tuple[str | None, int, str]:
    if settings.uri is None:
        return (None, 0, "")  # one in-memory store per process
    return (settings.uri, settings.timeout_ms, settings.app_name)


def get_client(settings: Settings | None = None) -> MongoClient[Document]:
    """Return this process's client for ``settings``, making and pinging it once.

    Args:
        settings: Where to connect. Defaults to :meth:`Settings.load`.

    Raises:
        ConfigurationError: The connection string cannot be used.
        ConnectionFailedError: The server did not answer within the timeout.
    """
    settings = Settings.load() if settings is None else settings
    key = _key(settings)
    with _lock:
        client = _clients.get(key)
        if client is not None:
            return client
        client = _make_client(settings)
        try:
            ping(client, settings)
        except ConnectionFailedError:
            client.close()
            raise
        _clients[key] = client
        return client


def reset_clients() -> None:
    """Close and forget every shared client; the next call makes new ones.

    Meant for tests and for shutting down cleanly.
    """
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


class MongoConnection:
    """A client with the database and collection the settings name.

    Accepts a ready client (for example one the application already has) or
    makes the process's shared one from settings. Use it as a context manager
    to close the client at the end of a script::

        with MongoConnection(Settings.load()) as conn:
            repo = AgentLogRepository(conn.collection)

    Args:
        settings: Names of the database and collection, and where to connect.
            Defaults to :meth:`Settings.load`.
        client: A client to use instead of the shared one. It is not pinged
            and not closed by :meth:`close`; its owner closes it.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client: MongoClient[Document] | None = None,
    ) -> None:
        self.settings = Settings.load() if settings is None else settings
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"MongoConnection({self.settings!r})"

    @property
    def client(self) -> MongoClient[Document]:
        """The client, made and pinged on first use."""
        if self._client is None:
            self._client = get_client(self.settings)
        return self._client

    @property
    def database(self) -> Database[Document]:
        """The database named by ``settings.db``."""
        return self.client[self.settings.db]

    @property
    def collection(self) -> Collection[Document]:
        """The events collection named by ``settings.collection``."""
        return self.database[self.settings.collection]

    def ping(self) -> None:
        """Check that the server answers; see :func:`ping`."""
        ping(self.client, self.settings)

    def server_version(self) -> str:
        """The version the server reports, or ``"mongomock"`` when embedded."""
        if self.settings.embedded:
            return "mongomock " + str(getattr(mongomock, "__version__", ""))
        try:
            return str(self.client.server_info()["version"])
        except PyMongoError as exc:
            raise StoreError(f"cannot read the server version: {exc}") from exc

    def close(self) -> None:
        """Close the shared client if this connection made it; idempotent."""
        if self._client is None or not self._owns_client:
            return
        with _lock:
            if _clients.get(_key(self.settings)) is self._client:
                del _clients[_key(self.settings)]
        self._client.close()
        self._client = None

    def __enter__(self) -> MongoConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
