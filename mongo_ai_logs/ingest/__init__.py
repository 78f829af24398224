"""Importing the logs people already have into the event store.

Six formats are read, each told from its content, never from its name:

========== ===========================================================
events     our own events, as an export writes them (JSON or JSON lines)
exchanges  LLM provider requests and responses (OpenAI, Anthropic)
sweagent   SWE-agent trajectories (``.traj``)
langfuse   Langfuse trace exports (trace, observations, scores)
langsmith  LangSmith run payloads (``post`` and ``patch``)
sharegpt   ShareGPT conversations
========== ===========================================================

Each becomes events of one document shape, grouped into runs, ordered with
``seq``, nested with ``parent_id``. Every imported event carries
``source: {format, id}`` with an id made from the source's own ids, or from
the content when the source has none, never from the file's path; the
repository derives the event's ``_id`` from it, so importing a file twice,
or a copy of it from elsewhere, adds nothing::

    from mongo_ai_logs import AgentLogRepository
    from mongo_ai_logs.ingest import ingest_file

    report = ingest_file(AgentLogRepository.from_settings(), "run.traj")
    print(report.stored, report.skipped, report.refused)

Errors, beside the library's own (see :mod:`mongo_ai_logs.errors`)::

    InvalidInputError
    ├── UnknownFormatError    the content is none of the formats
    └── UnreadableFileError   missing, not text, or not valid JSON
"""

from __future__ import annotations

from mongo_ai_logs.ingest._ingest import (
    FORMATS,
    FileReport,
    detect_format,
    ingest_file,
    read_events,
)
from mongo_ai_logs.ingest._records import (
    ParsedRecord,
    RefusedRecord,
    UnknownFormatError,
    UnreadableFileError,
)

__all__ = [
    "FORMATS",
    "FileReport",
    "ParsedRecord",
    "RefusedRecord",
    "UnknownFormatError",
    "UnreadableFileError",
    "detect_format",
    "ingest_file",
    "read_events",
]
