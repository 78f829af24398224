"""Detecting, reading and storing a file: the functions the CLI calls."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mongo_ai_logs.agent_log_repository import AgentLogRepository
from mongo_ai_logs.errors import InvalidInputError
from mongo_ai_logs.ids import source_event_id
from mongo_ai_logs.ingest import (
    _events,
    _exchanges,
    _langfuse,
    _langsmith,
    _sharegpt,
    _sweagent,
)
from mongo_ai_logs.ingest._detect import classify
from mongo_ai_logs.ingest._reading import JsonInput, Value, open_input
from mongo_ai_logs.ingest._records import (
    ParsedRecord,
    RefusedRecord,
    UnknownFormatError,
    UnreadableFileError,
)

__all__ = ["FORMATS", "FileReport", "detect_format", "ingest_file", "read_events"]

logger = logging.getLogger("mongo_ai_logs.ingest")

Parser = Callable[[Iterable[Value]], Iterator[ParsedRecord]]

_PARSERS: dict[str, Parser] = {
    "events": _events.parse,
    "exchanges": _exchanges.parse,
    "sweagent": _sweagent.parse,
    "langfuse": _langfuse.parse,
    "langsmith": _langsmith.parse,
    "sharegpt": _sharegpt.parse,
}

FORMATS: tuple[str, ...] = tuple(_PARSERS)
"""The formats that can be imported, by the names ``format=`` takes."""

_BATCH_EVENTS = 1000
_BATCH_BYTES = 8 * 1024 * 1024


@dataclass
class FileReport:
    """What :func:`ingest_file` did with one file.

    Attributes:
        path: The file, as given.
        format: The format it was read as; ``None`` when it could not be told.
        stored: Events stored by this import.
        skipped: Events already stored by an earlier import, so not added.
        refused: The parts of the file that were not stored, each with its
            location and reason, in file order.
        error: Why the whole file was refused (unknown format, unreadable);
            nothing of it was stored.
    """

    path: str
    format: str | None
    stored: int = 0
    skipped: int = 0
    refused: list[RefusedRecord] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the file was read and every part of it stored or skipped."""
        return self.error is None and not self.refused


def detect_format(path: str | os.PathLike[str]) -> str:
    """Tell the format of a file from its content; its name plays no part.

    Returns:
        One of :data:`FORMATS`.

    Raises:
        UnknownFormatError: The content is none of the formats, or the file
            is empty; the message names the file.
        UnreadableFileError: The file cannot be read, or is not JSON.
    """
    with open_input(path) as source:
        return _detect(source)


def read_events(
    path: str | os.PathLike[str], *, format: str | None = None
) -> Iterator[ParsedRecord]:
    """Read the events of a file without storing them.

    The file is read as the records are asked for, so a large file is never
    held whole (a JSON document, such as a trajectory, is). A broken part of
    the file is given as a record with ``error`` set, and reading goes on.

    Args:
        path: The file.
        format: One of :data:`FORMATS`; defaults to ``None``: told from the
            content.

    Raises:
        InvalidInputError: ``format`` is not one of :data:`FORMATS`.
        UnknownFormatError: Raised when iteration starts, if the format cannot
            be told.
        UnreadableFileError: Raised when iteration starts, if the file cannot
            be read or is one JSON document that is not valid.
    """
    _check_format(format)
    return _read_events(path, format)


def _read_events(
    path: str | os.PathLike[str], format: str | None
) -> Iterator[ParsedRecord]:
    with open_input(path) as source:
        chosen = format or _detect(source)
        yield from _PARSERS[chosen](source.values())


def ingest_file(
    repo: AgentLogRepository,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> FileReport:
    """Import a log file into ``repo``; importing it again adds nothing.

    Events are written in batches as the file is read. Each event's id comes
    from its project and source (see :func:`mongo_ai_logs.ids.source_event_id`),
    so events already stored, by an earlier import of this file or of a copy
    of it elsewhere, are counted as skipped.

    Args:
        repo: Where to store the events, in its project.
        path: The file.
        format: One of :data:`FORMATS`; defaults to ``None``: told from the
            content.
        on_progress: Called after each batch with the bytes of the file read
            so far and its size (``None`` when unknown, as for a pipe).

    Returns:
        What was stored, skipped and refused. A file that cannot be read or
        whose format cannot be told gets ``error`` set and nothing stored.

    Raises:
        InvalidInputError: ``format`` is not one of :data:`FORMATS`.
        StoreError: The database failed. The batches written before stay
            stored; importing the file again completes it.
    """
    _check_format(format)
    report = FileReport(path=os.fspath(path), format=format)
    try:
        with open_input(path) as source:
            report.format = format or _detect(source)
            records = _PARSERS[report.format](source.values())
            _store(repo, report, records, source, on_progress)
    except (UnknownFormatError, UnreadableFileError) as exc:
        report.error = str(exc)
        logger.info("not imported: %s", exc)
        return report
    logger.info(
        "imported %s as %s: %d stored, %d already stored, %d refused",
        report.path,
        report.format,
        report.stored,
        report.skipped,
        len(report.refused),
    )
    return report


def _check_format(format: str | None) -> None:
    if format is not None and format not in _PARSERS:
        raise InvalidInputError(
            f"unknown format {format!r}; expected one of {', '.join(FORMATS)}",
            field="format",
        )


def _detect(source: JsonInput) -> str:
    if source.layout == "empty":
        raise UnknownFormatError(f"{source.name}: the file is empty")
    first = source.first_value()
    if first is None:
        error = source.first_error()
        if error is None:
            raise UnknownFormatError(f"{source.name}: the file is an empty JSON array")
        raise UnreadableFileError(f"{source.name}: not JSON or JSON lines ({error})")
    found = classify(first.data)
    if found is None:
        raise UnknownFormatError(
            f"{source.name}: unknown format: its first record is "
            f"{_describe(first.data)}; known formats: {', '.join(FORMATS)}"
        )
    return found


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(repr(key) for key in list(value)[:6])
        more = ", ..." if len(value) > 6 else ""
        return f"an object with keys {keys}{more}" if value else "an empty object"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return "a string"
    return "a number"


def _store(
    repo: AgentLogRepository,
    report: FileReport,
    records: Iterator[ParsedRecord],
    source: JsonInput,
    on_progress: Callable[[int, int | None], None] | None,
) -> None:
    assert report.format is not None
    refused: list[tuple[int, RefusedRecord]] = []
    batch: list[dict[str, Any]] = []
    places: list[tuple[int, str]] = []
    mark = source.bytes_read
    placement = None
    if report.format == "events":
        placement = _events.Placement(repo.project_id)

    def flush() -> None:
        if batch:
            result = repo.insert_many(batch)
            report.stored += len(result.inserted_ids)
            report.skipped += len(result.duplicate_ids)
            for item in result.refused:
                order, location = places[item.index]
                refused.append((order, RefusedRecord(location, item.reason)))
            logger.debug("%s: wrote a batch of %d", report.path, len(batch))
            batch.clear()
            places.clear()
        if on_progress is not None:
            on_progress(source.bytes_read, source.size)

    for order, record in enumerate(records):
        if record.event is None:
            reason = record.error or "no event"
            refused.append((order, RefusedRecord(record.location, reason)))
            continue
        document = record.event
        if placement is not None:
            document = placement(document)
        if record.parent is not None:
            parent = source_event_id(repo.project_id, report.format, record.parent)
            document = {**document, "parent_id": str(parent)}
        batch.append(document)
        places.append((order, record.location))
        if len(batch) >= _BATCH_EVENTS or source.bytes_read - mark >= _BATCH_BYTES:
            mark = source.bytes_read
            flush()
    flush()
    refused.sort(key=lambda item: item[0])
    report.refused = [item for _, item in refused]
