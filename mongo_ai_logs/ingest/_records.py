"""What the format readers produce, and the helpers they share.

A reader turns the JSON values of a file into :class:`ParsedRecord` objects:
one event each, or the reason a part of the file could not become one. The
helpers keep every reader to the same rules: timestamps become UTC, counts and
costs are taken only when the source states them, and ids come from the
source's own ids or, when it has none, from the content.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mongo_ai_logs.codec import MAX_PAYLOAD_NESTING
from mongo_ai_logs.errors import InvalidInputError
from mongo_ai_logs.jsonl import nested_deeper_than

__all__ = [
    "ContentIds",
    "ParsedRecord",
    "RecordError",
    "RefusedRecord",
    "UnknownFormatError",
    "UnreadableFileError",
    "count",
    "event",
    "join_location",
    "leftover",
    "money",
    "parse_json_text",
    "timestamp",
]


class UnknownFormatError(InvalidInputError):
    """The file's content is none of the formats that can be imported."""


class UnreadableFileError(InvalidInputError):
    """The file cannot be read: missing, not text, or not valid JSON."""


@dataclass(frozen=True)
class ParsedRecord:
    """One event read from a file, or why a part of the file gave none.

    Attributes:
        location: Where in the file it was read: ``"line 7"``, ``"record 3"``,
            ``"step 4"``, ``"line 2, observation 5"``.
        event: The event document, ready for the repository; ``None`` when
            the record was refused. It carries no ``parent_id``: the parent is
            named by ``parent`` until the repository's project is known.
        parent: The source id (in the same format) of the event this one
            nests under, or ``None``.
        error: Why the record was refused; ``None`` when ``event`` is set.
    """

    location: str
    event: dict[str, Any] | None = None
    parent: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the record became an event."""
        return self.error is None


@dataclass(frozen=True)
class RefusedRecord:
    """A part of a file that was not stored.

    Attributes:
        location: Where it is in the file (``"line 7"``, ``"record 3"``).
        reason: Why it was refused, naming the field when there is one.
    """

    location: str
    reason: str


class RecordError(ValueError):
    """A record cannot become an event; the message names the field."""


def join_location(*parts: str) -> str:
    """Join location parts, skipping empty ones: ``"line 2, step 3"``."""
    return ", ".join(part for part in parts if part)


def event(**fields: Any) -> dict[str, Any]:
    """An event document with the fields that are not ``None``."""
    return {name: value for name, value in fields.items() if value is not None}


def leftover(record: Mapping[str, Any], used: set[str] | frozenset[str]) -> Any:
    """The fields of ``record`` not in ``used`` nor null, or ``None`` if none.

    Readers keep them in the event's ``source.fields``, so that what the
    event does not hold elsewhere is still stored, under the source's names.
    """
    rest = {
        key: value
        for key, value in record.items()
        if key not in used and value is not None
    }
    return rest or None


def parse_json_text(value: Any) -> Any:
    """Parse ``value`` if it is a string holding a JSON object or array.

    Text that is not JSON, or whose JSON is nested deeper than a payload may
    be, stays the string it was.
    """
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if nested_deeper_than(parsed, MAX_PAYLOAD_NESTING):
            return value
        return parsed
    return value


_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:[.,](?P<fraction>\d+))?)?"
    r"\s*(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def timestamp(value: Any, field: str) -> dt.datetime | None:
    """Read a source timestamp as a UTC datetime; ``None`` stays ``None``.

    Epoch numbers are told apart by size: seconds, milliseconds, microseconds
    or nanoseconds. ISO 8601 strings may end in ``Z`` or an offset and carry
    any number of fractional digits; without a zone they are UTC.

    Raises:
        RecordError: The value is not a timestamp, naming ``field``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"\d+(?:\.\d+)?", value.strip()):
        value = float(value)
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _from_epoch(float(value))
        if isinstance(value, str):
            match = _ISO.fullmatch(value.strip())
            if match is not None:
                return _from_iso(match)
    except (ValueError, OverflowError, OSError):
        pass
    raise RecordError(f"{field}: not a timestamp: {_short(value)}")


def _from_epoch(seconds: float) -> dt.datetime:
    magnitude = abs(seconds)
    if magnitude >= 1e17:
        seconds /= 1e9
    elif magnitude >= 1e14:
        seconds /= 1e6
    elif magnitude >= 1e11:
        seconds /= 1e3
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)


def _from_iso(match: re.Match[str]) -> dt.datetime:
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    year, month, day = (int(part) for part in match["date"].split("-"))
    moment = dt.datetime(
        year,
        month,
        day,
        int(match["hour"] or 0),
        int(match["minute"] or 0),
        int(match["second"] or 0),
        int(fraction),
        tzinfo=dt.timezone.utc,
    )
    zone = match["zone"]
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        moment -= offset if zone[0] == "+" else -offset
    return moment


def count(value: Any, field: str) -> int | None:
    """A token count as the source gives it; ``None`` stays ``None``.

    Raises:
        RecordError: The value is not a whole number >= 0, naming ``field``.
    """
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RecordError(f"{field}: not a token count: {_short(value)}")
    return value


def money(value: Any, field: str) -> float | None:
    """An amount in USD as the source gives it (a number or a decimal string).

    Raises:
        RecordError: The value is not a number >= 0, naming ``field``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RecordError(f"{field}: not an amount in USD: {_short(value)}")
    return float(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ContentIds:
    """Stable ids for records that have none, made from their content.

    The id is a digest of the record's JSON, so it does not depend on the
    file's name or place. Identical records of one file are told apart by
    how many times the same content came before (``-2``, ``-3``, ...), so
    adding records elsewhere in the file does not change an id.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def __call__(self, value: Any) -> str:
        """The id of the next record with this content."""
        digest = content_digest(value)
        times = self._seen.get(digest, 0) + 1
        self._seen[digest] = times
        return digest if times == 1 else f"{digest}-{times}"


def content_digest(value: Any) -> str:
    """A 32-hex digest of a JSON value, independent of key order and spacing."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
