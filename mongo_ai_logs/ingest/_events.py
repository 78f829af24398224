"""Our own events, as an export writes them: a JSON list or JSON lines.

Each document goes to the repository as it is. Its ``_id`` (a 24-hex string)
is kept, so importing an export into an empty database gives back equal
documents and importing it again adds nothing; its ISO datetimes are read
back as datetimes by the event model. A document without an ``_id`` gets the
id of its content, as :meth:`AgentLogRepository.insert` gives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mongo_ai_logs.ingest._reading import Value
from mongo_ai_logs.ingest._records import ParsedRecord

__all__ = ["parse"]


def parse(values: Iterable[Value]) -> Iterator[ParsedRecord]:
    """Read each value as one event document."""
    for value in values:
        location = value.location or "record 1"
        if value.error is not None:
            yield ParsedRecord(location, error=value.error)
        elif not isinstance(value.data, dict):
            kind = type(value.data).__name__
            yield ParsedRecord(location, error=f"expected an event object, got {kind}")
        else:
            yield ParsedRecord(location, event=value.data)
