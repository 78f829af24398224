"""Filters, sort order, cursors and the indexes that serve them.

Callers' filter values go into queries only as plain scalars compared for
equality or as datetimes for a range: a dict, a list, or a ``$`` key in
caller input is refused before any query is built, so no operator can be
injected. Every query carries the repository's project and, unless deleted
events are asked for, ``deleted: false``.

Pages are cut by keyset: the sort is ``started_at`` then ``_id``, both
descending (newest first), and a cursor is the position of the last event of a
page. Fetching page 1,000 costs what page 1 costs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, get_args

from bson.objectid import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from mongo_ai_logs.codec import escape_key, stored_scalar, to_utc_millis
from mongo_ai_logs.errors import InvalidFilterError
from mongo_ai_logs.models import EventType

__all__ = [
    "FILTER_NAMES",
    "INDEXED_FIELDS",
    "SORT",
    "EventFilter",
    "checked_datetime",
    "decode_cursor",
    "encode_cursor",
    "event_indexes",
]

SORT: Final = [("started_at", DESCENDING), ("_id", DESCENDING)]

# Filter argument -> field of the event document, for equality filters.
_EQUALITY_FIELDS: Final = {
    "user_id": "user_id",
    "session_id": "session_id",
    "run_id": "run_id",
    "type": "type",
    "model": "model.name",
    "status": "status",
}

INDEXED_FIELDS: Final = ("run_id", "session_id", "user_id", "model.name", "type")
"""Fields with an index of their own, most selective first."""

FILTER_NAMES: Final = frozenset(
    [*_EQUALITY_FIELDS, "tags", "since", "until", "metadata", "include_deleted"]
)
"""Keyword arguments accepted by ``find``, ``count`` and the other filtered calls."""

_SCALARS = (str, int, float, bool, dt.datetime)
_STATUSES = ("ok", "error")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _string_value(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidFilterError(
        f"filter {name!r} must be a string, got {type(value).__name__} "
        f"{_describe(value)}; operators and lists are not accepted",
        field=name,
    )


def _datetime_value(name: str, value: Any) -> dt.datetime:
    try:
        if isinstance(value, dt.datetime):
            return to_utc_millis(value)
        if isinstance(value, str):
            return to_utc_millis(
                dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            )
    except ValueError as exc:
        raise InvalidFilterError(
            f"filter {name!r} is not a usable time: {exc}", field=name
        ) from None
    raise InvalidFilterError(
        f"filter {name!r} must be a datetime or an ISO 8601 string, got "
        f"{_describe(value)}",
        field=name,
    )


def checked_datetime(name: str, value: Any) -> dt.datetime:
    """``value`` (a datetime or ISO 8601 string) in UTC milliseconds.

    Raises:
        InvalidFilterError: It is neither, or leaves years 1-9999 in UTC.
    """
    return _datetime_value(name, value)


def _metadata_value(key: str, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _datetime_value(f"metadata.{key}", value)
    if value is None or isinstance(value, _SCALARS):
        return value
    raise InvalidFilterError(
        f"metadata filter {key!r} must be a string, number, boolean, datetime or "
        f"None, got {type(value).__name__} {_describe(value)}; operators are "
        "not accepted",
        field=f"metadata.{key}",
    )


@dataclass(frozen=True)
class EventFilter:
    """A checked set of filters: build it with :meth:`from_kwargs`."""

    equals: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    metadata: tuple[tuple[str, Any], ...] = ()
    include_deleted: bool = False

    @classmethod
    def from_kwargs(cls, operation: str, filters: Mapping[str, Any]) -> EventFilter:
        """Check caller filters and build the filter.

        Args:
            operation: Named in errors ("find", "count", ...).
            filters: Keyword arguments as the caller gave them; ``None`` values
                mean "no filter".

        Raises:
            InvalidFilterError: An unknown name, or a value of the wrong kind.
        """
        unknown = set(filters) - FILTER_NAMES
        if unknown:
            raise InvalidFilterError(
                f"{operation}: unknown filter {sorted(unknown)[0]!r}; accepted: "
                f"{', '.join(sorted(FILTER_NAMES))}",
                field=sorted(unknown)[0],
            )

        equals = []
        for name, field in _EQUALITY_FIELDS.items():
            value = filters.get(name)
            if value is None:
                continue
            text = _string_value(name, value)
            if name == "type" and text not in get_args(EventType):
                raise InvalidFilterError(
                    f"filter 'type' must be one of {', '.join(get_args(EventType))}, "
                    f"got {text!r}",
                    field="type",
                )
            if name == "status" and text not in _STATUSES:
                raise InvalidFilterError(
                    f"filter 'status' must be 'ok' or 'error', got {text!r}",
                    field="status",
                )
            equals.append((field, text))

        tags = filters.get("tags")
        if tags is None:
            tag_values: tuple[str, ...] = ()
        elif isinstance(tags, str):
            tag_values = (tags,)
        elif isinstance(tags, (list, tuple)):
            tag_values = tuple(_string_value("tags", t) for t in tags)
        else:
            raise InvalidFilterError(
                f"filter 'tags' must be a string or a list of strings, got "
                f"{_describe(tags)}",
                field="tags",
            )

        metadata = filters.get("metadata")
        metadata_values: list[tuple[str, Any]] = []
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise InvalidFilterError(
                    "filter 'metadata' must map keys to values, got "
                    f"{_describe(metadata)}",
                    field="metadata",
                )
            for key, value in metadata.items():
                if (
                    not isinstance(key, str)
                    or not key
                    or key.startswith("$")
                    or stored_scalar(key) is not key  # an unpaired surrogate
                ):
                    raise InvalidFilterError(
                        f"metadata filter key {key!r} is not allowed: keys must be "
                        "non-empty text that does not start with '$'",
                        field="metadata",
                    )
                metadata_values.append((key, _metadata_value(key, value)))

        since = filters.get("since")
        until = filters.get("until")
        include_deleted = filters.get("include_deleted", False)
        if not isinstance(include_deleted, bool):
            raise InvalidFilterError(
                "include_deleted must be True or False, got "
                f"{_describe(include_deleted)}",
                field="include_deleted",
            )
        return cls(
            equals=tuple(equals),
            tags=tag_values,
            since=None if since is None else _datetime_value("since", since),
            until=None if until is None else _datetime_value("until", until),
            metadata=tuple(metadata_values),
            include_deleted=include_deleted,
        )

    @property
    def deletion_states(self) -> tuple[bool, ...]:
        """The values of ``deleted`` a sorted read asks for, one query each.

        Each query then has an equality on ``deleted`` and walks an index in
        sort order; the reader merges them. (``{"$in": [False, True]}`` asks
        the server to do that merge, which not every planner does.)
        """
        return (False, True) if self.include_deleted else (False,)

    @property
    def narrows(self) -> bool:
        """Whether any filter beyond project and deletion state is set."""
        return bool(
            self.equals or self.tags or self.metadata or self.since or self.until
        )

    def query(
        self, project_id: str | None, *, deleted: bool | None = None
    ) -> dict[str, Any]:
        """The MongoDB filter document, scoped to ``project_id``.

        ``deleted`` narrows a filter that includes deleted events to one
        deletion state (see :meth:`deletion_states`).
        """
        if deleted is not None:
            deleted_query: Any = deleted
        elif self.include_deleted:
            deleted_query = {"$in": [False, True]}
        else:
            deleted_query = False
        query: dict[str, Any] = {"project_id": project_id, "deleted": deleted_query}
        for field, value in self.equals:
            query[field] = stored_scalar(value)
        if self.tags:
            query["tags"] = {"$all": [stored_scalar(t) for t in self.tags]}
        for key, value in self.metadata:
            # None matches a stored null, not every event without the key.
            query[f"metadata.{escape_key(key)}"] = (
                {"$exists": True, "$eq": None}
                if value is None
                else stored_scalar(value)
            )
        if self.since is not None or self.until is not None:
            started: dict[str, dt.datetime] = {}
            if self.since is not None:
                started["$gte"] = self.since
            if self.until is not None:
                started["$lt"] = self.until
            query["started_at"] = started
        return query


def after_cursor(query: dict[str, Any], cursor: str | None) -> dict[str, Any]:
    """Add the keyset condition for the page after ``cursor`` to ``query``."""
    if cursor is None:
        return query
    started_at, event_id = decode_cursor(cursor)
    keyset = {
        "$or": [
            {"started_at": {"$lt": started_at}},
            {"started_at": started_at, "_id": {"$lt": event_id}},
        ]
    }
    return {"$and": [query, keyset]}


def encode_cursor(started_at: dt.datetime, event_id: ObjectId) -> str:
    """The opaque cursor of a page that ends with this event."""
    millis = int(to_utc_millis(started_at).timestamp() * 1000)
    raw = f"1:{millis}:{event_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, ObjectId]:
    """Undo :func:`encode_cursor`.

    Raises:
        InvalidFilterError: The cursor is not one the library made.
    """
    error = InvalidFilterError(
        f"cursor {_describe(cursor)} is not valid; pass the next_cursor of a page",
        field="cursor",
    )
    if not isinstance(cursor, str) or len(cursor) > 100:
        raise error
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode(
            "ascii"
        )
        version, millis, event_id = raw.split(":")
        if version != "1":
            raise ValueError(version)
        started_at = dt.datetime.fromtimestamp(int(millis) / 1000, tz=dt.timezone.utc)
        return to_utc_millis(started_at), ObjectId(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise error from None
    except Exception:
        raise error from None


def _keyed(*fields: str) -> list[tuple[str, int]]:
    # The sort keys are indexed ascending: the server walks the index backwards
    # for the newest-first sort, and forwards for an oldest-first scan.
    return [(f, ASCENDING) for f in (*fields, "started_at", "_id")]


def event_indexes(retention_days: int | None) -> list[IndexModel]:
    """The indexes of the events collection.

    Each filtered read leads with the project and deletion state, then at most
    one indexed field, then the sort, so one index serves it without sorting
    in memory; the other filters are checked on the events the index yields.
    ``deleted_at`` carries the retention TTL when one is configured: the
    server removes soft-deleted events that long after their deletion, and
    live events, which have no ``deleted_at``, are never touched.
    """
    indexes = [IndexModel(_keyed("project_id", "deleted"), name="project_recent")]
    for field in INDEXED_FIELDS:
        name = "project_" + field.replace(".", "_") + "_recent"
        indexes.append(IndexModel(_keyed("project_id", "deleted", field), name=name))
    indexes.append(_deleted_at_index(retention_days))
    return indexes


def blob_indexes(retention_days: int | None) -> list[IndexModel]:
    """The indexes of the offloaded-values collection."""
    return [
        IndexModel(
            [
                ("event_id", ASCENDING),
                ("project_id", ASCENDING),
                ("blob", ASCENDING),
                ("n", ASCENDING),
            ],
            name="event_project_blob_chunk",
        ),
        _deleted_at_index(retention_days),
    ]


def _deleted_at_index(retention_days: int | None) -> IndexModel:
    if retention_days is None:
        return IndexModel([("deleted_at", ASCENDING)], name="deleted_at")
    return IndexModel(
        [("deleted_at", ASCENDING)],
        name="deleted_at",
        expireAfterSeconds=retention_days * 86400,
    )


def index_key_lists(indexes: Iterable[IndexModel]) -> list[list[tuple[str, int]]]:
    """The key lists of ``indexes``, for checks of query shapes."""
    return [list(index.document["key"].items()) for index in indexes]
