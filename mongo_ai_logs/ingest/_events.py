"""Our own events, as an export writes them: a JSON list or JSON lines.

Each document is read back with :func:`mongo_ai_logs.jsonl.from_jsonable`,
which turns the export's ``%`` markers into the values they stand for
(datetimes, bytes, ``Decimal``, ...), then goes to the repository. Its ``_id``
(a 24-hex string) is kept, so importing an export into an empty database gives
back equal documents and importing it again adds nothing. A document without
an ``_id`` gets the id of its content, as :meth:`AgentLogRepository.insert`
gives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bson.errors import BSONError

from mongo_ai_logs.ingest._reading import Value
from mongo_ai_logs.ingest._records import ParsedRecord
from mongo_ai_logs.jsonl import TOP_LEVEL_DATETIMES, from_jsonable

# What reading a malformed marker raises: a bad date, number, base64, id, ...
_MARKER_ERRORS = (ValueError, TypeError, ArithmeticError, BSONError)

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
            try:
                event = from_jsonable(value.data)
            except _MARKER_ERRORS as exc:
                yield ParsedRecord(location, error=_unreadable(value.data, exc))
                continue
            yield ParsedRecord(location, event=event)


def _unreadable(data: Mapping[str, Any], error: Exception) -> str:
    """Why ``data`` cannot be read back, naming the field at fault."""
    for key, item in data.items():
        try:
            from_jsonable({key: item})
        except _MARKER_ERRORS as exc:
            if key in TOP_LEVEL_DATETIMES and isinstance(item, str):
                return f"{key}: not an ISO 8601 date and time: {_short(item)}"
            # Decimal's errors say only their class.
            reason = "not a decimal number" if isinstance(exc, ArithmeticError) else exc
            return f"{key}: bad value marker: {reason}"
    return f"bad value marker: {error}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
