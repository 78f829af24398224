"""``AgentLogRepository``: every database operation on AI log events.

The repository validates events with :class:`~mongo_ai_logs.models.AgentLogEvent`,
encodes them so that any MongoDB accepts them (see :mod:`mongo_ai_logs.codec`),
and reads them back as the caller gave them. It keeps four promises:

- Soft delete is the only delete a caller reaches by accident. Reads leave
  deleted events out unless asked; a deleted event can be restored; only
  :meth:`~AgentLogRepository.purge` removes events, and only those already
  soft-deleted before a cutoff.
- No operator injection: filter values are scalars, checked in
  :mod:`mongo_ai_logs.query`.
- Nothing lost on bad input: a refused event gets an error naming its field;
  in a batch the others are stored and the refused one is reported.
- A repository bound to a project reads and writes that project's events only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from heapq import merge
from itertools import islice
from typing import Any, Literal, TypeVar

import bson
from bson.objectid import ObjectId
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
)

from mongo_ai_logs.client import MongoConnection, translated
from mongo_ai_logs.codec import (
    EncodedDocument,
    Encoder,
    LargeValuePolicy,
    blob_bytes,
    blob_keys,
    decode_document,
    to_utc_millis,
)
from mongo_ai_logs.config import Settings
from mongo_ai_logs.errors import (
    InvalidEventError,
    InvalidFilterError,
    InvalidUpdateError,
)
from mongo_ai_logs.ids import content_event_id, parse_event_id, source_event_id
from mongo_ai_logs.models import MAX_AMOUNT, AgentLogEvent
from mongo_ai_logs.query import (
    SORT,
    EventFilter,
    after_cursor,
    blob_indexes,
    checked_datetime,
    encode_cursor,
    event_indexes,
)

__all__ = [
    "AgentLogRepository",
    "InsertReport",
    "Page",
    "PreparedEvent",
    "RefusedEvent",
]

logger = logging.getLogger(__name__)

Document = dict[str, Any]
GroupBy = Literal["model", "user_id", "day", "type"]
T = TypeVar("T")

MAX_PAGE_SIZE = 1000
"""The largest ``limit`` that :meth:`AgentLogRepository.find` honours."""

_BATCH_SIZE = 1000
_CHUNK_BYTES = 4 * 1024 * 1024
_INT64_MAX = 2**63 - 1

# Fields a caller may not change with update(): identity, audit and deletion
# state each have their own operation.
PROTECTED_FIELDS = frozenset(
    [
        "_id",
        "project_id",
        "source",
        "created_at",
        "updated_at",
        "deleted",
        "deleted_at",
        "deleted_by",
        "delete_reason",
        "schema_version",
    ]
)
_REQUIRED_FIELDS = frozenset(["type", "started_at"])

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "reasoning_tokens",
)

_GROUP_KEYS: dict[str, Any] = {
    "model": "$model.name",
    "user_id": "$user_id",
    "type": "$type",
    "day": {"$dateToString": {"format": "%Y-%m-%d", "date": "$started_at"}},
}


@dataclass(frozen=True)
class RefusedEvent:
    """An event of a batch that was not stored.

    Attributes:
        index: Its position in the batch, from 0.
        reason: Why it was refused.
        field: The dotted path of the offending field, when known.
    """

    index: int
    reason: str
    field: str | None = None


@dataclass
class InsertReport:
    """What :meth:`AgentLogRepository.insert_many` did with each event.

    Attributes:
        ids: For each event of the batch, in order, its id if it is stored
            (now or before), ``None`` if it was refused.
        inserted_ids: Ids of the events this call stored.
        duplicate_ids: Ids of events that were already stored, so added nothing.
        refused: The refused events with their position and reason.
    """

    ids: list[str | None] = field(default_factory=list)
    inserted_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    refused: list[RefusedEvent] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no event was refused."""
        return not self.refused


@dataclass(frozen=True)
class Page:
    """One page of events, newest first.

    Attributes:
        items: The events of this page.
        next_cursor: Pass it as ``cursor`` to get the next page; ``None`` on
            the last page.
    """

    items: list[Document]
    next_cursor: str | None


@dataclass
class PreparedEvent:
    """An event validated and encoded, ready to write.

    Attributes:
        event_id: The id it will be stored under.
        document: The document to write.
        blobs: Offloaded large values, by the key their marker carries.
    """

    event_id: ObjectId
    document: Document
    blobs: dict[str, bytes]


def _now() -> dt.datetime:
    return to_utc_millis(dt.datetime.now(dt.timezone.utc))


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _validation_error(
    exc: PydanticValidationError, prefix: str = ""
) -> InvalidEventError:
    first = exc.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    value = repr(first.get("input"))
    if len(value) > 80:
        value = value[:77] + "..."
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return InvalidEventError(
        f"{path or 'event'}: {first['msg']}, got {value}{more}", field=path or None
    )


class AgentLogRepository:
    """Create, read, update and soft-delete AI log events in one collection.

    Args:
        collection: The events collection. Offloaded large values go to the
            collection of the same name with ``.blobs`` appended.
        project_id: The project this repository is bound to. Every read and
            write is scoped to it; ``None`` (the default) is the project of
            events stored without one.
        large_values: Policy for string and bytes values above
            ``max_inline_bytes``: ``"offload"`` (the default), ``"truncate"``
            or ``"refuse"``; see :class:`~mongo_ai_logs.config.Settings`.
        max_inline_bytes: Size above which a value is large. Defaults to 1 MiB.
        retention_days: Days after deletion when the server removes
            soft-deleted events, through the TTL index made by
            :meth:`ensure_indexes`. Defaults to ``None``: never.

    Raises:
        InvalidInputError: ``project_id`` is an empty string.
    """

    def __init__(
        self,
        collection: Collection[Document],
        *,
        project_id: str | None = None,
        large_values: LargeValuePolicy = "offload",
        max_inline_bytes: int = 1024 * 1024,
        retention_days: int | None = None,
    ) -> None:
        if project_id is not None and (
            not isinstance(project_id, str) or not project_id
        ):
            raise InvalidFilterError(
                f"project_id must be a non-empty string or None, got {project_id!r}",
                field="project_id",
            )
        self.collection = collection
        # Chunks are written with the events' write concern and options.
        self.blobs = collection.database.get_collection(
            f"{collection.name}.blobs",
            codec_options=collection.codec_options,
            write_concern=collection.write_concern,
        )
        self.project_id = project_id
        self.retention_days = retention_days
        self._encoder = Encoder(large_values, max_inline_bytes)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, project_id: str | None = None
    ) -> AgentLogRepository:
        """Connect with ``settings`` and return a repository on its collection.

        Args:
            settings: Defaults to :meth:`Settings.load`.
            project_id: The project to bind to; see the class docstring.

        Raises:
            ConfigurationError: The settings cannot work.
            ConnectionFailedError: The server did not answer within the timeout.
        """
        connection = MongoConnection(settings)
        settings = connection.settings
        return cls(
            connection.collection,
            project_id=project_id,
            large_values=settings.large_values,
            max_inline_bytes=settings.max_inline_bytes,
            retention_days=settings.retention_days,
        )

    def for_project(self, project_id: str | None) -> AgentLogRepository:
        """Return a repository on the same collection bound to ``project_id``."""
        return AgentLogRepository(
            self.collection,
            project_id=project_id,
            large_values=self._encoder.large_values,
            max_inline_bytes=self._encoder.max_inline_bytes,
            retention_days=self.retention_days,
        )

    def __repr__(self) -> str:
        return (
            f"AgentLogRepository({self.collection.full_name!r}, "
            f"project_id={self.project_id!r})"
        )

    # -- writing -----------------------------------------------------------

    def prepare(self, event: Mapping[str, Any] | AgentLogEvent) -> PreparedEvent:
        """Validate and encode one event without writing it.

        Raises:
            InvalidEventError: The event cannot be stored, naming the field.
        """
        given_id, model = self._validate(event)
        document = model.to_document()
        project = document.get("project_id")
        if project is not None and project != self.project_id:
            raise InvalidEventError(
                f"project_id {project!r} is not the project events are stored "
                f"in here ({self.project_id!r}); leave it out or give the same",
                field="project_id",
            )
        document["project_id"] = self.project_id

        created_at = document.pop("created_at", None)
        updated_at = document.pop("updated_at", None)
        encoded = self._encoder.encode(document)
        event_id = self._event_id(given_id, model, encoded)

        now = _now()
        stored = {"_id": event_id, **encoded.document}
        stored["created_at"] = created_at or now
        stored["updated_at"] = updated_at or stored["created_at"]
        stored.setdefault("started_at", stored["created_at"])
        return PreparedEvent(event_id, stored, encoded.blobs)

    def _validate(
        self, event: Mapping[str, Any] | AgentLogEvent
    ) -> tuple[ObjectId | None, AgentLogEvent]:
        if isinstance(event, AgentLogEvent):
            extra = event.__pydantic_extra__ or {}
            raw_id = extra.get("_id")
            model = event
            if raw_id is not None:
                model = event.model_copy()
                assert model.__pydantic_extra__ is not None
                model.__pydantic_extra__ = {
                    k: v for k, v in model.__pydantic_extra__.items() if k != "_id"
                }
        elif isinstance(event, Mapping):
            data = dict(event)
            raw_id = data.pop("_id", None)
            try:
                model = AgentLogEvent.model_validate(data)
            except PydanticValidationError as exc:
                raise _validation_error(exc) from None
        else:
            raise InvalidEventError(
                "an event must be a dict or an AgentLogEvent, got "
                f"{type(event).__name__}"
            )
        if raw_id is None:
            return None, model
        event_id = parse_event_id(raw_id)
        if event_id is None:
            raise InvalidEventError(
                f"_id must be an ObjectId or a 24-digit hex string, got {raw_id!r}; "
                "keep ids from elsewhere in source.id, tool.call_id or metadata",
                field="_id",
            )
        return event_id, model

    def _event_id(
        self, given: ObjectId | None, model: AgentLogEvent, encoded: EncodedDocument
    ) -> ObjectId:
        if given is not None:
            return given
        project = self.project_id
        if model.source is not None:
            return source_event_id(project, model.source.format, model.source.id)
        return content_event_id(project, bson.encode(encoded.document))

    def insert(self, event: Mapping[str, Any] | AgentLogEvent) -> str:
        """Store one event and return its id.

        Inserting an event that is already stored (the same ``_id``, the same
        ``source``, or the same content) stores nothing and returns its id.
        The caller's dict is not changed.

        Raises:
            InvalidEventError: The event cannot be stored, naming the field.
            StoreError: The database failed; retrying is safe.
        """
        prepared = self.prepare(event)
        self._write_blobs([prepared])
        with translated("insert"):
            try:
                self.collection.insert_one(prepared.document)
                logger.debug("inserted event %s", prepared.event_id)
            except DuplicateKeyError:
                self._drop_unused_blobs([prepared])
                self._check_duplicates_owned([prepared.event_id])
        return str(prepared.event_id)

    def insert_many(
        self, events: Iterable[Mapping[str, Any] | AgentLogEvent]
    ) -> InsertReport:
        """Store a batch of events; refused events do not stop the others.

        Events are written unordered, in batches of 1,000. The report gives
        each event's id by position and each refused event's position and
        reason. Events already stored are counted as duplicates, not refused.

        Raises:
            StoreError: The database failed. The events written before the
                failure stay stored; since ids are made before the write,
                running the same batch again adds each event once.
        """
        report = InsertReport()
        offset = 0
        for batch in _batches(events, _BATCH_SIZE):
            self._insert_batch(batch, offset, report)
            offset += len(batch)
        logger.debug(
            "insert_many: %d stored, %d already present, %d refused",
            len(report.inserted_ids),
            len(report.duplicate_ids),
            len(report.refused),
        )
        return report

    def _insert_batch(
        self,
        batch: list[Mapping[str, Any] | AgentLogEvent],
        offset: int,
        report: InsertReport,
    ) -> None:
        prepared: list[PreparedEvent] = []
        positions: list[int] = []
        report.ids.extend([None] * len(batch))
        for index, event in enumerate(batch, start=offset):
            try:
                prepared.append(self.prepare(event))
            except InvalidEventError as exc:
                report.refused.append(RefusedEvent(index, str(exc), exc.field))
                continue
            positions.append(index)
        if not prepared:
            return

        self._write_blobs(prepared)
        failed: dict[int, str] = {}
        duplicates: list[int] = []
        with translated("insert_many"):
            try:
                self.collection.insert_many(
                    [p.document for p in prepared], ordered=False
                )
            except BulkWriteError as exc:
                for error in exc.details.get("writeErrors", []):
                    if error.get("code") == 11000:
                        duplicates.append(error["index"])
                    else:
                        failed[error["index"]] = str(
                            error.get("errmsg", "write refused")
                        )

        self._drop_unused_blobs([prepared[i] for i in (*duplicates, *failed)])
        if duplicates:
            foreign = self._check_duplicates_owned(
                [prepared[i].event_id for i in duplicates], raise_error=False
            )
            for i in duplicates:
                if prepared[i].event_id in foreign:
                    failed[i] = (
                        f"_id {prepared[i].event_id} is already used by another event"
                    )
        for i, item in enumerate(prepared):
            position = positions[i]
            if i in failed:
                report.refused.append(RefusedEvent(position, failed[i]))
                continue
            report.ids[position] = str(item.event_id)
            target = report.duplicate_ids if i in duplicates else report.inserted_ids
            target.append(str(item.event_id))
        report.refused.sort(key=lambda r: r.index)

    def _check_duplicates_owned(
        self, event_ids: list[ObjectId], *, raise_error: bool = True
    ) -> set[ObjectId]:
        """Return the ids among ``event_ids`` that another project owns."""
        with translated("insert"):
            owned = {
                doc["_id"]
                for doc in self.collection.find(
                    {"_id": {"$in": event_ids}, "project_id": self.project_id},
                    {"_id": 1},
                )
            }
        foreign = set(event_ids) - owned
        if foreign and raise_error:
            raise InvalidEventError(
                f"_id {sorted(foreign)[0]} is already used by another event",
                field="_id",
            )
        return foreign

    def _write_blobs(self, prepared: list[PreparedEvent]) -> None:
        chunks = [
            chunk
            for item in prepared
            for key, data in item.blobs.items()
            for chunk in self._chunks(item.event_id, key, data)
        ]
        if not chunks:
            return
        with translated("storing large values"):
            try:
                self.blobs.insert_many(chunks, ordered=False)
            except BulkWriteError as exc:
                # Chunk ids are made from the event id, so a duplicate is a
                # chunk of an earlier attempt with the same content.
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != 11000 for e in errors):
                    raise

    def _drop_unused_blobs(self, prepared: list[PreparedEvent]) -> None:
        """Remove the chunks these events wrote that their stored event lacks.

        An insert that finds its event already stored (or is refused) leaves
        behind the chunks of any value that differs from the stored one. The
        chunks the stored event refers to are kept, whoever wrote them.
        """
        written = {p.event_id: set(p.blobs) for p in prepared if p.blobs}
        if not written:
            return
        with translated("storing large values"):
            for stored in self.collection.find(
                {"_id": {"$in": list(written)}, "project_id": self.project_id}
            ):
                written[stored["_id"]] -= blob_keys(stored)
            for event_id, keys in written.items():
                if keys:
                    self._delete_blobs(event_id, keys)

    def _delete_blobs(self, event_id: ObjectId, keys: Iterable[str]) -> None:
        self.blobs.delete_many(
            {
                "event_id": event_id,
                "blob": {"$in": sorted(keys)},
                "project_id": self.project_id,
            }
        )

    def _chunks(self, event_id: ObjectId, key: str, data: bytes) -> Iterator[Document]:
        for n, start in enumerate(range(0, max(len(data), 1), _CHUNK_BYTES)):
            yield {
                "_id": f"{event_id}:{key}:{n:06d}",
                "event_id": event_id,
                "project_id": self.project_id,
                "blob": key,
                "n": n,
                "data": bson.Binary(data[start : start + _CHUNK_BYTES]),
            }

    # -- reading -----------------------------------------------------------

    def _scope(self, event_id: ObjectId, **conditions: Any) -> Document:
        return {"_id": event_id, "project_id": self.project_id, **conditions}

    def _decode(
        self, document: Document, *, load_large_values: bool = True
    ) -> Document:
        event_id = document["_id"]
        blobs: dict[str, bytes] | None = None

        def load_blob(key: str) -> bytes | None:
            nonlocal blobs
            if blobs is None:
                blobs = self._load_blobs(event_id, blob_keys(document))
            return blobs.get(key)

        decoded = decode_document(document, load_blob if load_large_values else None)
        decoded["_id"] = str(event_id)
        return decoded

    def _load_blobs(self, event_id: ObjectId, keys: set[str]) -> dict[str, bytes]:
        parts: dict[str, list[tuple[int, bytes]]] = {}
        query = {
            "event_id": event_id,
            "project_id": self.project_id,
            "blob": {"$in": sorted(keys)},
        }
        with translated("reading large values"):
            for chunk in self.blobs.find(query):
                parts.setdefault(chunk["blob"], []).append(
                    (chunk["n"], bytes(chunk["data"]))
                )
        return {
            key: b"".join(data for _, data in sorted(chunks))
            for key, chunks in parts.items()
        }

    def get(
        self,
        event_id: str | ObjectId,
        include_deleted: bool = False,
        *,
        load_large_values: bool = True,
    ) -> Document | None:
        """Return the event with this id, or ``None``.

        ``None`` also answers an id that is not an event id at all
        (``"favicon.ico"``, a UUID), an event of another project, and a
        soft-deleted event unless ``include_deleted`` is true.

        Args:
            event_id: The event's id, as a string or an ObjectId.
            include_deleted: Return a soft-deleted event too.
            load_large_values: As for :meth:`find`.
        """
        if not isinstance(include_deleted, bool):
            raise InvalidFilterError(
                f"include_deleted must be True or False, got {include_deleted!r}",
                field="include_deleted",
            )
        oid = parse_event_id(event_id)
        if oid is None:
            return None
        query = self._scope(oid) if include_deleted else self._scope(oid, deleted=False)
        with translated("get"):
            document = self.collection.find_one(query)
        if document is None:
            return None
        return self._decode(document, load_large_values=load_large_values)

    def find(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        load_large_values: bool = True,
        max_bytes: int | None = None,
        **filters: Any,
    ) -> Page:
        """Return one page of events matching the filters, newest first.

        Args:
            limit: Events per page, from 1; values above 1,000 count as 1,000.
            cursor: The ``next_cursor`` of the previous page.
            load_large_values: Read offloaded values back whole (the default);
                when false they appear as ``{"offloaded": True, ...}`` markers.
            max_bytes: End the page early, with a ``next_cursor``, before its
                events (large values read back included) pass this size; the
                first event is always returned. For a service that must bound
                the memory of one request.
            **filters: Any of ``user_id``, ``session_id``, ``run_id``, ``type``,
                ``model`` (the model name), ``status``, ``tags`` (events having
                all of them), ``metadata`` (a dict of key to value; keys may
                contain dots), ``since`` and ``until`` (on ``started_at``,
                until excluded), ``include_deleted``.

        Raises:
            InvalidFilterError: A filter, the limit or the cursor is not valid.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidFilterError(
                f"limit must be a whole number >= 1, got {limit!r}"
            )
        limit = min(limit, MAX_PAGE_SIZE)
        event_filter = EventFilter.from_kwargs("find", filters)
        with translated("find"):
            # One index-ordered query per deletion state, merged newest first.
            streams = [
                self.collection.find(
                    after_cursor(
                        event_filter.query(self.project_id, deleted=state), cursor
                    )
                )
                .sort(SORT)
                .limit(limit + 1)
                for state in event_filter.deletion_states
            ]
            documents: list[Document] = []
            more = False
            size = 0
            for document in merge(*streams, key=_sort_key, reverse=True):
                if len(documents) == limit:
                    more = True
                    break
                if max_bytes is not None:
                    size += _size(document, load_large_values)
                    if documents and size > max_bytes:
                        more = True
                        break
                documents.append(document)
        next_cursor = None
        if more:
            last = documents[-1]
            next_cursor = encode_cursor(last["started_at"], last["_id"])
        items = [
            self._decode(d, load_large_values=load_large_values) for d in documents
        ]
        return Page(items, next_cursor)

    def iter_events(
        self, *, page_size: int = 500, load_large_values: bool = True, **filters: Any
    ) -> Iterator[Document]:
        """Yield every event matching the filters, newest first, page by page.

        Args:
            page_size: Events fetched per query, up to 1,000.
            load_large_values: As for :meth:`find`.
            **filters: As for :meth:`find`.
        """
        cursor: str | None = None
        while True:
            page = self.find(
                limit=page_size,
                cursor=cursor,
                load_large_values=load_large_values,
                **filters,
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def count(self, **filters: Any) -> int:
        """Count the events matching the filters (same names as :meth:`find`)."""
        query = self._query("count", filters)
        with translated("count"):
            return self.collection.count_documents(query)

    def _query(self, operation: str, filters: Mapping[str, Any]) -> Document:
        return EventFilter.from_kwargs(operation, filters).query(self.project_id)

    # -- changing ----------------------------------------------------------

    def update(self, event_id: str | ObjectId, changes: Mapping[str, Any]) -> bool:
        """Set top-level fields of a live event; return whether it was found.

        A value of ``None`` removes an optional field. ``updated_at`` is set.

        Raises:
            InvalidUpdateError: A change touches a protected field (``_id``,
                ``project_id``, ``source``, ``created_at``, ``updated_at``,
                ``schema_version`` or the soft-delete fields), removes ``type``
                or ``started_at``, or is not valid for its field.
        """
        if not isinstance(changes, Mapping) or not changes:
            raise InvalidUpdateError("update needs a non-empty dict of changes")
        for name in changes:
            if not isinstance(name, str) or name in PROTECTED_FIELDS:
                raise InvalidUpdateError(
                    f"update cannot change {name!r}; protected fields: "
                    f"{', '.join(sorted(PROTECTED_FIELDS))}",
                    field=str(name),
                )
            if not name or name.startswith("$") or "." in name:
                raise InvalidUpdateError(
                    f"update takes top-level field names, got {name!r}; give the "
                    "whole field (for example the whole metadata dict)",
                    field=name,
                )
            if name in _REQUIRED_FIELDS and changes[name] is None:
                raise InvalidUpdateError(f"update cannot remove {name!r}", field=name)

        oid = parse_event_id(event_id)
        if oid is None:
            return False
        to_set, to_unset = self._validated_changes(changes)
        now = _now()
        # Values this update offloads get keys no other write has, so two
        # updates at once never share chunks.
        encoded = self._encoder.encode(to_set, blob_prefix=f"u{ObjectId()}-")
        written = set(encoded.blobs)
        self._write_blobs([PreparedEvent(oid, {}, encoded.blobs)])

        operations: Document = {"$set": {**encoded.document, "updated_at": now}}
        if to_unset:
            operations["$unset"] = dict.fromkeys(to_unset, "")
        with translated("update"):
            before = self.collection.find_one_and_update(
                self._scope(oid, deleted=False), operations
            )
            if before is None:
                stale = written
            else:
                # The chunks of the values this update replaced, unless the
                # fields it left alone still refer to them.
                kept = {k: v for k, v in before.items() if k not in changes}
                replaced = {k: v for k, v in before.items() if k in changes}
                stale = blob_keys(replaced) - blob_keys(kept) - written
            if stale:
                self._delete_blobs(oid, stale)
        return before is not None

    def _validated_changes(
        self, changes: Mapping[str, Any]
    ) -> tuple[Document, list[str]]:
        to_unset = [name for name, value in changes.items() if value is None]
        given = {name: value for name, value in changes.items() if value is not None}
        probe = {"type": "debug", **given}
        try:
            model = AgentLogEvent.model_validate(probe)
        except PydanticValidationError as exc:
            error = _validation_error(exc)
            raise InvalidUpdateError(str(error), field=error.field) from None
        document = model.to_document()
        return {name: document[name] for name in given}, to_unset

    def add_usage(
        self,
        event_id: str | ObjectId,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        total_tokens: int | None = None,
        cache_read_input_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
        reasoning_tokens: int = 0,
        cost: float | Mapping[str, float] | None = None,
    ) -> bool:
        """Add token counts and cost to a live event, atomically.

        The counts are added with ``$inc`` on the server, so two workers adding
        usage to one event never lose each other's counts.

        Args:
            event_id: The event.
            input_tokens: Added to ``usage.input_tokens``. Likewise for the
                other token counts.
            total_tokens: Added to ``usage.total_tokens``. Defaults to
                ``input_tokens + output_tokens``.
            cost: USD to add: a number adds to ``cost.total``; a dict with
                ``input``, ``output`` and ``total`` adds to each (``total``
                defaults to input plus output).

        Returns:
            Whether a live event with that id was found.

        Raises:
            InvalidUpdateError: A count is negative or not a whole number.
        """
        counts = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens
            if total_tokens is None
            else total_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
            "reasoning_tokens": reasoning_tokens,
        }
        increments: Document = {}
        for name, value in counts.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= _INT64_MAX
            ):
                raise InvalidUpdateError(
                    f"add_usage: {name} must be a whole number from 0 to "
                    f"{_INT64_MAX}, got {_short_repr(value)}",
                    field=name,
                )
            if value:
                increments[f"usage.{name}"] = value
        for name, amount in _cost_parts(cost).items():
            if amount:
                increments[f"cost.{name}"] = amount

        oid = parse_event_id(event_id)
        if oid is None:
            return False
        operations: Document = {"$set": {"updated_at": _now()}}
        if increments:
            operations["$inc"] = increments
        with translated("add_usage"):
            result = self.collection.update_one(
                self._scope(oid, deleted=False), operations
            )
        return result.matched_count == 1

    # -- deleting ----------------------------------------------------------

    def soft_delete(
        self,
        event_id: str | ObjectId,
        *,
        by: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Mark a live event deleted; return whether one was found.

        The event stays in the database, hidden from every read, until it is
        restored, purged, or removed by the retention TTL.
        """
        oid = parse_event_id(event_id)
        if oid is None:
            return False
        return self._soft_delete_ids([oid], by=by, reason=reason) == 1

    def soft_delete_many(
        self, *, by: str | None = None, reason: str | None = None, **filters: Any
    ) -> int:
        """Soft-delete every live event matching the filters; return how many.

        Raises:
            InvalidFilterError: No filter was given (deleting a whole project
                by accident is not possible), or a filter is not valid.
        """
        event_filter = EventFilter.from_kwargs("soft_delete_many", filters)
        if not event_filter.narrows or event_filter.include_deleted:
            raise InvalidFilterError(
                "soft_delete_many needs at least one filter (user_id, run_id, ...) "
                "and does not take include_deleted"
            )
        query = event_filter.query(self.project_id)
        deleted = 0
        with translated("soft_delete_many"):
            ids = (doc["_id"] for doc in self.collection.find(query, {"_id": 1}))
            for batch in _batches(ids, _BATCH_SIZE):
                deleted += self._soft_delete_ids(batch, by=by, reason=reason)
        logger.info("soft-deleted %d events", deleted)
        return deleted

    def _soft_delete_ids(
        self, event_ids: list[ObjectId], *, by: str | None, reason: str | None
    ) -> int:
        now = _now()
        changes: Document = {"deleted": True, "deleted_at": now, "updated_at": now}
        if by is not None:
            changes["deleted_by"] = str(by)
        if reason is not None:
            changes["delete_reason"] = str(reason)
        query = {
            "_id": {"$in": event_ids},
            "project_id": self.project_id,
            "deleted": False,
        }
        with translated("soft_delete"):
            result = self.collection.update_many(query, {"$set": changes})
            if result.modified_count:
                self.blobs.update_many(
                    {"event_id": {"$in": event_ids}}, {"$set": {"deleted_at": now}}
                )
        return result.modified_count

    def restore(self, event_id: str | ObjectId) -> bool:
        """Bring a soft-deleted event back; return whether one was found."""
        oid = parse_event_id(event_id)
        if oid is None:
            return False
        with translated("restore"):
            result = self.collection.update_one(
                self._scope(oid, deleted=True),
                {
                    "$set": {"deleted": False, "updated_at": _now()},
                    "$unset": {"deleted_at": "", "deleted_by": "", "delete_reason": ""},
                },
            )
            if result.modified_count:
                self.blobs.update_many(
                    {"event_id": oid}, {"$unset": {"deleted_at": ""}}
                )
        return result.modified_count == 1

    def purge(self, *, deleted_before: dt.datetime, dry_run: bool = False) -> int:
        """Remove for good the events soft-deleted before ``deleted_before``.

        Live events are never removed, whatever the cutoff. Returns how many
        events were removed; their offloaded values go with them.

        Args:
            deleted_before: The cutoff on ``deleted_at``, excluded.
            dry_run: Count the events that would be removed and remove
                nothing. Defaults to ``False``.

        Raises:
            InvalidFilterError: ``deleted_before`` is not a datetime.
        """
        if not isinstance(deleted_before, dt.datetime):
            raise InvalidFilterError(
                f"purge: deleted_before must be a datetime, got {deleted_before!r}",
                field="deleted_before",
            )
        cutoff = checked_datetime("deleted_before", deleted_before)
        query = {
            "project_id": self.project_id,
            "deleted": True,
            "deleted_at": {"$lt": cutoff},
        }
        if dry_run:
            with translated("purge"):
                return self.collection.count_documents(query)
        removed = 0
        with translated("purge"):
            ids = (doc["_id"] for doc in self.collection.find(query, {"_id": 1}))
            for batch in _batches(ids, _BATCH_SIZE):
                result = self.collection.delete_many({**query, "_id": {"$in": batch}})
                self.blobs.delete_many({"event_id": {"$in": batch}})
                removed += result.deleted_count
        logger.info("purged %d events deleted before %s", removed, cutoff.isoformat())
        return removed

    # -- analytics and upkeep ----------------------------------------------

    def usage_stats(
        self, *, group_by: GroupBy = "model", **filters: Any
    ) -> list[Document]:
        """Sum events, tokens and cost per group; deleted events are left out.

        Args:
            group_by: ``"model"`` (the model name), ``"user_id"``, ``"day"``
                (UTC day of ``started_at``, as ``YYYY-MM-DD``) or ``"type"``.
            **filters: As for :meth:`find`, except ``include_deleted``.

        Returns:
            One dict per group, sorted by the group's value: the group's value
            under the ``group_by`` name, then ``events``, each token count
            and ``cost`` (USD).
        """
        if group_by not in _GROUP_KEYS:
            raise InvalidFilterError(
                f"group_by must be one of {', '.join(_GROUP_KEYS)}, got {group_by!r}",
                field="group_by",
            )
        if filters.get("include_deleted"):
            raise InvalidFilterError("usage_stats always leaves deleted events out")
        group: Document = {"_id": _GROUP_KEYS[group_by], "events": {"$sum": 1}}
        for name in _USAGE_FIELDS:
            group[name] = {"$sum": f"$usage.{name}"}
        group["cost"] = {"$sum": "$cost.total"}
        pipeline = [
            {"$match": self._query("usage_stats", filters)},
            {"$group": group},
        ]
        with translated("usage_stats"):
            rows = list(self.collection.aggregate(pipeline))
        result = []
        for row in rows:
            # A key stored as a marker (text with an unpaired surrogate) is
            # given back as the caller stored it.
            key = decode_document({"k": row.pop("_id")}, None)["k"]
            result.append({group_by: key, **row})
        result.sort(key=lambda r: (r[group_by] is None, str(r[group_by])))
        return result

    def ensure_indexes(self) -> list[str]:
        """Create the indexes the repository's queries use; safe to repeat.

        An index whose options changed (the retention period, say) is dropped
        and made again. Returns the names of the indexes of the events
        collection.
        """
        names: list[str] = []
        with translated("ensure_indexes"):
            for collection, indexes in (
                (self.collection, event_indexes(self.retention_days)),
                (self.blobs, blob_indexes(self.retention_days)),
            ):
                existing = collection.index_information()
                for index in indexes:
                    spec = index.document
                    current = existing.get(spec["name"])
                    if current is not None and not _same_index(current, spec):
                        logger.info("index %s changed: making it again", spec["name"])
                        collection.drop_index(spec["name"])
                created = collection.create_indexes(indexes)
                if collection is self.collection:
                    names = list(created)
        logger.info("indexes ready on %s", self.collection.full_name)
        return names


def _same_index(current: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    keys = [(k, int(v)) for k, v in current["key"]]
    return keys == [(k, int(v)) for k, v in spec["key"].items()] and current.get(
        "expireAfterSeconds"
    ) == spec.get("expireAfterSeconds")


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _cost_parts(
    cost: float | Mapping[str, float] | BaseModel | None,
) -> dict[str, float]:
    if cost is None:
        return {}
    if isinstance(cost, BaseModel):
        cost = cost.model_dump(exclude_none=True)
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        cost = {"total": cost}
    if not isinstance(cost, Mapping):
        raise InvalidUpdateError(
            f"add_usage: cost must be a number or a dict, got {cost!r}"
        )
    parts: dict[str, float] = {}
    for name in ("input", "output", "total"):
        value = cost.get(name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0 <= value <= MAX_AMOUNT
        ):
            raise InvalidUpdateError(
                f"add_usage: cost.{name} must be a number from 0 to "
                f"{MAX_AMOUNT:g}, got {_short_repr(value)}",
                field=f"cost.{name}",
            )
        try:
            parts[name] = float(value)
        except OverflowError:
            raise InvalidUpdateError(
                f"add_usage: cost.{name} is too large", field=f"cost.{name}"
            ) from None
    unknown = set(cost) - {"input", "output", "total"}
    if unknown:
        raise InvalidUpdateError(
            f"add_usage: unknown cost part {sorted(unknown)[0]!r}", field="cost"
        )
    if "total" not in parts and parts:
        parts["total"] = parts.get("input", 0.0) + parts.get("output", 0.0)
    return parts


def _sort_key(document: Document) -> tuple[dt.datetime, ObjectId]:
    """The key of :data:`SORT`, for merging sorted results in Python."""
    return document["started_at"], document["_id"]


def _size(document: Document, load_large_values: bool) -> int:
    """The bytes ``document`` takes, with its large values if they are read."""
    size = len(bson.encode(document))
    if load_large_values:
        size += blob_bytes(document)
    return size
