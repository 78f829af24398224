"""Helpers shared by the ingest tests: fixtures on disk and a fresh repository."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import mongomock

from mongo_ai_logs import AgentLogRepository

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"

Document = dict[str, Any]


def new_repo(project_id: str | None = None) -> AgentLogRepository:
    """A repository on a fresh in-memory collection."""
    collection = mongomock.MongoClient(tz_aware=True)["db"]["agent_logs"]
    return AgentLogRepository(collection, project_id=project_id)


def stored(repo: AgentLogRepository, **filters: Any) -> list[Document]:
    """Every live event of the repository's project, in run and ``seq`` order."""
    events = repo.iter_events(page_size=1000, **filters)
    return sorted(events, key=lambda e: (e.get("run_id") or "", e.get("seq") or 0))


def by_source(events: Iterable[Document]) -> dict[str, Document]:
    """Events by their ``source.id``."""
    return {event["source"]["id"]: event for event in events}


def total(events: Iterable[Document], part: str, name: str) -> float:
    """The sum of ``part.name`` (``usage.input_tokens``, ``cost.total``) over events."""
    return sum((event.get(part) or {}).get(name, 0) for event in events)


def dotted_keys(value: Any) -> list[str]:
    """Every key containing a dot, anywhere in ``value``."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if "." in key:
                found.append(key)
            found.extend(dotted_keys(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(dotted_keys(item))
    return found
