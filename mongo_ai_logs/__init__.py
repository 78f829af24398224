"""mongo-ai-logs: a safe MongoDB data layer for the logs of AI agents.

Start with :class:`AgentLogRepository`::

    from mongo_ai_logs import AgentLogRepository

    repo = AgentLogRepository.from_settings()   # MONGODB_URI, or in memory
    repo.ensure_indexes()
    event_id = repo.insert({"type": "message", "role": "user", "content": "hi"})
"""

from __future__ import annotations

import importlib.metadata

from mongo_ai_logs.agent_log_repository import (
    AgentLogRepository,
    InsertReport,
    Page,
    RefusedEvent,
)
from mongo_ai_logs.client import MongoConnection, get_client, reset_clients
from mongo_ai_logs.config import Settings
from mongo_ai_logs.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidEventError,
    InvalidFilterError,
    InvalidInputError,
    InvalidUpdateError,
    MongoAILogsError,
    NotFoundError,
    StoreError,
)
from mongo_ai_logs.models import AgentLogEvent

try:
    __version__ = importlib.metadata.version("mongo-ai-logs")
except (
    importlib.metadata.PackageNotFoundError
):  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "AgentLogEvent",
    "AgentLogRepository",
    "ConfigurationError",
    "ConnectionFailedError",
    "InsertReport",
    "InvalidEventError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidUpdateError",
    "MongoAILogsError",
    "MongoConnection",
    "NotFoundError",
    "Page",
    "RefusedEvent",
    "Settings",
    "StoreError",
    "__version__",
    "get_client",
    "reset_clients",
]
