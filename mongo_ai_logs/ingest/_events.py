"""Our own events, as an export writes them: a JSON list or JSON lines.

Each document is read back with :func:`mongo_ai_logs.jsonl.from_jsonable`,
which turns the export's ``%`` markers into the values they stand for
(datetimes, bytes, ``Decimal``, ...), then :class:`Placement` fits it to the
project it is imported into before it goes to the repository:

- An event of that project (or one that names no project) keeps its ``_id``
  (a 24-hex string), so importing an export into an empty database gives back
  equal documents and importing it again adds nothing.
- An event of another project is a copy: it takes the importing project, and
  its ``_id`` and ``parent_id`` become ids made from that project and the
  original ids. The copy's tree holds together, importing it again adds
  nothing, and an export can be imported into several projects of one
  collection, where the original ids are taken.
- A document without an ``_id`` or a ``source`` gets the id of its content, as
  :meth:`AgentLogRepository.insert` gives it; the second and later documents
  of a file with the same content are told apart by a counter, so that two
  identical lines are two events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bson.errors import BSONError

from mongo_ai_logs.ids import parse_event_id, source_event_id
from mongo_ai_logs.ingest._reading import Value
from mongo_ai_logs.ingest._records import ParsedRecord, content_digest
from mongo_ai_logs.jsonl import TOP_LEVEL_DATETIMES, from_jsonable, to_jsonable

__all__ = ["Placement", "parse"]

FORMAT = "events"

# What reading a malformed marker raises: a bad date, number, base64, id, ...
_MARKER_ERRORS = (ValueError, TypeError, ArithmeticError, BSONError)


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
            return f"{key}: {exc}"
    return str(error)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Placement:
    """Fits the events of one file to the project they are imported into.

    See the module docstring. Call it on each event of the file, in order.

    Args:
        project_id: The importing repository's project.
    """

    def __init__(self, project_id: str | None) -> None:
        self.project_id = project_id
        self._seen: dict[str, int] = {}

    def __call__(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The document to store for ``event``."""
        document = dict(event)
        origin = document.pop("project_id", self.project_id)
        if origin != self.project_id:
            for name in ("_id", "parent_id"):
                if parse_event_id(document.get(name)) is not None:
                    document[name] = self._copy_id(str(document[name]))
        if document.get("_id") is None and document.get("source") is None:
            document.pop("_id", None)
            digest = content_digest(to_jsonable(document))
            times = self._seen[digest] = self._seen.get(digest, 0) + 1
            if times > 1:
                document["_id"] = self._copy_id(f"{digest}-{times}")
        return document

    def _copy_id(self, original: str) -> str:
        return str(source_event_id(self.project_id, FORMAT, original))
