"""Storing a batch so that one event the library cannot take spoils nothing.

:meth:`AgentLogRepository.insert_many` refuses a bad event by itself in
nearly every case. A few inputs still escape it as a raw exception that
aborts the whole call: a date that leaves the calendar once converted to UTC
(``0001-01-01T00:00:00+05:00``) raises ``OverflowError``, and a string with a
lone surrogate raises ``UnicodeEncodeError`` from the BSON encoder. Until the
library refuses those itself, the service stores a batch in chunks and, when
a chunk fails that way, finds the events to blame one by one, refuses them
with their position and stores the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import bson
from bson.errors import BSONError

from mongo_ai_logs.agent_log_repository import (
    AgentLogRepository,
    InsertReport,
    RefusedEvent,
)
from mongo_ai_logs.errors import InvalidEventError

__all__ = ["UNSTORABLE", "store_events", "unstorable_reason"]

logger = logging.getLogger(__name__)

Document = dict[str, Any]

UNSTORABLE: tuple[type[Exception], ...] = (
    OverflowError,
    UnicodeError,
    BSONError,
    RecursionError,
)
"""Exceptions a bad event can raise from the library instead of its own error."""

_CHUNK = 1000


def unstorable_reason(exc: BaseException) -> str:
    """Why an event that raised ``exc`` cannot be stored, for the caller."""
    if isinstance(exc, OverflowError):
        return "a date is out of range once converted to UTC"
    if isinstance(exc, UnicodeError):
        return "a string or key holds text that UTF-8 cannot encode"
    if isinstance(exc, RecursionError):
        return "the event is nested too deeply to store"
    return f"the event cannot be encoded as BSON: {exc}"


def store_events(repo: AgentLogRepository, events: Sequence[Document]) -> InsertReport:
    """Store ``events`` like ``insert_many``, refusing what would abort it."""
    report = InsertReport(ids=[None] * len(events))
    for offset in range(0, len(events), _CHUNK):
        chunk = events[offset : offset + _CHUNK]
        try:
            part = repo.insert_many(chunk)
        except UNSTORABLE as exc:
            logger.info(
                "a batch raised %s; storing its events one by one", type(exc).__name__
            )
            part = _store_apart(repo, chunk)
        for index, event_id in enumerate(part.ids):
            report.ids[offset + index] = event_id
        report.inserted_ids += part.inserted_ids
        report.duplicate_ids += part.duplicate_ids
        report.refused += [
            RefusedEvent(offset + r.index, r.reason, r.field) for r in part.refused
        ]
    return report


def _store_apart(repo: AgentLogRepository, chunk: Sequence[Document]) -> InsertReport:
    good: list[int] = []
    refused: list[RefusedEvent] = []
    for index, event in enumerate(chunk):
        try:
            bson.encode(repo.prepare(event).document)
        except InvalidEventError:
            pass  # insert_many reports it with its own reason
        except UNSTORABLE as exc:
            refused.append(RefusedEvent(index, unstorable_reason(exc)))
            continue
        good.append(index)

    part = repo.insert_many([chunk[i] for i in good])
    report = InsertReport(
        ids=[None] * len(chunk),
        inserted_ids=part.inserted_ids,
        duplicate_ids=part.duplicate_ids,
        refused=refused
        + [RefusedEvent(good[r.index], r.reason, r.field) for r in part.refused],
    )
    for position, event_id in zip(good, part.ids, strict=True):
        report.ids[position] = event_id
    report.refused.sort(key=lambda r: r.index)
    return report
