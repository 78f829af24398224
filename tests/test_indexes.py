"""Every query the repository sends is served by an index it creates.

The queries are recorded while the repository does every kind of work, then
each one's shape (equality fields, range fields, sort) is checked against the
key lists of the indexes that ``ensure_indexes`` made: the equality fields must
lead an index, followed by the sort (or the range field), so the server never
scans the collection or sorts in memory. SecantusDB's ``explain()`` does not
model mongod's planner and mongomock has none, so shapes are checked instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo.collection import Collection

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.query import INDEXED_FIELDS, SORT
from tests.conftest import Backend
from tests.helpers import T0, at, event

Shape = tuple[str, frozenset[str], frozenset[str], tuple[str, ...]]


class RecordingCollection:
    """Forwards to a collection and records the filter and sort of each read."""

    def __init__(self, inner: Collection[Any], log: list[Shape]) -> None:
        self._inner = inner
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _record(
        self, query: Mapping[str, Any], sort: list[tuple[str, int]] | None
    ) -> None:
        equal, ranged = _fields(query)
        keys = tuple(k for k, _ in sort) if sort else ()
        self._log.append((self._inner.name, frozenset(equal), frozenset(ranged), keys))

    def find(self, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        cursor = self._inner.find(query, *args, **kwargs)
        outer = self

        class Cursor:
            def sort(self, keys: list[tuple[str, int]]) -> Any:
                outer._record(query, keys)
                return cursor.sort(keys)

            def __iter__(self) -> Any:
                outer._record(query, None)
                return iter(cursor)

        return Cursor()

    def find_one(self, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._record(query, None)
        return self._inner.find_one(query, *args, **kwargs)

    def count_documents(self, query: Mapping[str, Any]) -> int:
        self._record(query, None)
        return self._inner.count_documents(query)

    def update_one(self, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._record(query, None)
        return self._inner.update_one(query, *args, **kwargs)

    def update_many(self, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._record(query, None)
        return self._inner.update_many(query, *args, **kwargs)

    def delete_many(self, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._record(query, None)
        return self._inner.delete_many(query, *args, **kwargs)

    def aggregate(
        self, pipeline: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> Any:
        self._record(pipeline[0]["$match"], None)
        return self._inner.aggregate(pipeline, *args, **kwargs)


def _fields(query: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Split a filter into fields compared for equality and fields in a range."""
    equal: set[str] = set()
    ranged: set[str] = set()
    for key, value in query.items():
        if key == "$and":
            for part in value:
                e, r = _fields(part)
                equal |= e
                ranged |= r
        elif key == "$or":
            # Only the keyset condition uses $or: a range over the sort keys.
            for part in value:
                ranged |= set(part)
        elif isinstance(value, Mapping) and any(k.startswith("$") for k in value):
            ops = set(value)
            if ops <= {"$in"}:
                equal.add(key)
            elif ops <= {"$lt", "$lte", "$gt", "$gte"}:
                ranged.add(key)
            # $all on tags is checked on the documents the index yields.
        else:
            equal.add(key)
    return equal, ranged


@dataclass
class IndexCheck:
    served: list[Shape] = field(default_factory=list)
    unserved: list[Shape] = field(default_factory=list)


def _serves(keys: list[str], shape: Shape) -> bool:
    _, equal, ranged, sort = shape
    prefix = 0
    while prefix < len(keys) and keys[prefix] in equal:
        prefix += 1
    rest = keys[prefix:]
    if sort:
        if prefix == 0 or list(rest[: len(sort)]) != list(sort):
            return False
    elif prefix == 0 and not (rest and rest[0] in ranged):
        return False
    # The most selective indexed field of the query must lead its own index.
    wanted = next((f for f in INDEXED_FIELDS if f in equal), None)
    return wanted is None or wanted in keys[:prefix]


def _index_keys(collection: Collection[Any]) -> list[list[str]]:
    return [
        [k for k, _ in info["key"]] for info in collection.index_information().values()
    ]


@pytest.fixture
def recorded(collection: Collection[Any]) -> tuple[AgentLogRepository, list[Shape]]:
    log: list[Shape] = []
    repo = AgentLogRepository(RecordingCollection(collection, log))  # type: ignore[arg-type]
    repo.blobs = RecordingCollection(repo.blobs, log)  # type: ignore[assignment]
    repo.ensure_indexes()
    return repo, log


FILTERS: list[dict[str, Any]] = [
    {},
    {"user_id": "u1"},
    {"session_id": "s1"},
    {"run_id": "r1"},
    {"type": "llm_call"},
    {"model": "gpt-4o"},
    {"status": "ok"},
    {"tags": ["a"]},
    {"metadata": {"k.v": 1}},
    {"since": T0, "until": at(10)},
    {"user_id": "u1", "run_id": "r1", "type": "llm_call", "model": "gpt-4o"},
    {"session_id": "s1", "model": "gpt-4o", "status": "error", "since": T0},
    {"include_deleted": True},
    {"include_deleted": True, "run_id": "r1"},
]


def test_every_query_the_repository_sends_is_served_by_an_index(
    recorded: tuple[AgentLogRepository, list[Shape]],
) -> None:
    repo, log = recorded
    ids = repo.insert_many(
        event(
            seq=i, started_at=at(i), output="x" * (2 * 1024 * 1024) if i == 0 else None
        )
        for i in range(12)
    ).ids
    repo.insert(event(seq=0, started_at=at(0)))  # a duplicate: ownership check

    for filters in FILTERS:
        page = repo.find(limit=5, **filters)
        if page.next_cursor:
            repo.find(limit=5, cursor=page.next_cursor, **filters)
        repo.count(**filters)
        if not filters.get("include_deleted"):
            repo.usage_stats(group_by="day", **filters)
            if filters:
                repo.soft_delete_many(**filters)
                repo.find(include_deleted=True)
    for event_id in ids[:3]:
        assert event_id is not None
        repo.get(event_id)
        repo.get(event_id, include_deleted=True)
        repo.update(event_id, {"status": "error"})
        repo.add_usage(event_id, input_tokens=1)
        repo.soft_delete(event_id)
        repo.restore(event_id)
    repo.soft_delete(ids[0])  # type: ignore[arg-type]
    repo.purge(
        deleted_before=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
    )

    indexes = {
        name: _index_keys(c)
        for name, c in (("events", repo.collection), ("blobs", repo.blobs))
    }
    unserved = [
        shape
        for shape in set(log)
        if not any(
            _serves(keys, shape)
            for keys in indexes["blobs" if shape[0].endswith(".blobs") else "events"]
        )
    ]
    assert len(set(log)) > 20
    assert unserved == []


def test_shape_check_rejects_a_query_no_index_serves() -> None:
    keys = [["_id"], ["project_id", "deleted", "started_at", "_id"]]
    sort = tuple(k for k, _ in SORT)

    by_status = ("events", frozenset({"status"}), frozenset(), sort)
    run_without_its_index = (
        "events",
        frozenset({"project_id", "deleted", "run_id"}),
        frozenset(),
        sort,
    )

    assert not any(_serves(k, by_status) for k in keys)
    assert not any(_serves(k, run_without_its_index) for k in keys)


def test_ensure_indexes_is_idempotent(repo: AgentLogRepository) -> None:
    first = sorted(repo.collection.index_information())

    repo.ensure_indexes()
    repo.ensure_indexes()

    assert sorted(repo.collection.index_information()) == first
    assert len(first) == 8


def test_retention_makes_a_ttl_index_on_deleted_at_and_can_change(
    collection: Collection[Any],
) -> None:
    AgentLogRepository(collection, retention_days=30).ensure_indexes()
    ttl = collection.index_information()["deleted_at"]
    assert ttl["expireAfterSeconds"] == 30 * 86400

    AgentLogRepository(collection, retention_days=7).ensure_indexes()
    assert (
        collection.index_information()["deleted_at"]["expireAfterSeconds"] == 7 * 86400
    )

    AgentLogRepository(collection).ensure_indexes()
    assert "expireAfterSeconds" not in collection.index_information()["deleted_at"]


def test_retention_ttl_never_removes_live_events(
    backend: Backend, collection: Collection[Any]
) -> None:
    # mongomock applies TTL indexes at once on the next read, so this shows the
    # rule without waiting for a server's 60-second sweep.
    if backend.is_server:
        pytest.skip("a server removes expired documents in a sweep every 60 seconds")
    repo = AgentLogRepository(collection, retention_days=1)
    repo.ensure_indexes()
    live = repo.insert(event(seq=1, started_at=T0 - dt.timedelta(days=400)))
    deleted = repo.insert(event(seq=2))
    repo.soft_delete(deleted)
    repo.collection.update_one(
        {"_id": repo.collection.find_one({"seq": 2})["_id"]},  # type: ignore[index]
        {
            "$set": {
                "deleted_at": dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
            }
        },
    )

    assert repo.get(live) is not None
    assert repo.get(deleted, include_deleted=True) is None
