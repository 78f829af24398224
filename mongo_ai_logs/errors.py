"""The exceptions raised by mongo-ai-logs.

Every error the library raises on purpose derives from one root, so a caller
can catch them all with a single ``except MongoAILogsError``::

    MongoAILogsError
    ├── ConfigurationError        settings that cannot work (a malformed URI, ...)
    ├── StoreError                the database refused or failed an operation
    │   └── ConnectionFailedError the server could not be reached in time
    ├── InvalidInputError         caller input refused before anything was written
    │   ├── InvalidEventError     an event that cannot be stored as given
    │   ├── InvalidFilterError    a filter, cursor or id that is not allowed
    │   └── InvalidUpdateError    a change that touches a protected field
    └── NotFoundError             no live event with that id

Driver errors are translated where they enter the library and chained, so the
original pymongo exception stays reachable as ``__cause__``. Messages never
contain a connection string's password.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ConnectionFailedError",
    "InvalidEventError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidUpdateError",
    "MongoAILogsError",
    "NotFoundError",
    "StoreError",
]


class MongoAILogsError(Exception):
    """The root of every error raised by mongo-ai-logs."""


class ConfigurationError(MongoAILogsError):
    """The settings cannot work: a malformed URI, a bad number, a bad name."""


class StoreError(MongoAILogsError):
    """The database failed or refused an operation."""


class ConnectionFailedError(StoreError):
    """The server could not be reached within the configured timeout."""


class InvalidInputError(MongoAILogsError, ValueError):
    """Input from the caller was refused; nothing was written because of it.

    Attributes:
        field: The dotted path of the offending field, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidEventError(InvalidInputError):
    """An event cannot be stored as given (bad type, bad value, too large)."""


class InvalidFilterError(InvalidInputError):
    """A filter, cursor or id is not allowed (an operator, a dict, a list)."""


class InvalidUpdateError(InvalidInputError):
    """A change would touch a protected field or is not valid."""


class NotFoundError(MongoAILogsError, LookupError):
    """No live event has that id in the repository's project."""
