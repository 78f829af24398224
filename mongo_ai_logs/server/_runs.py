"""Runs for the viewer: a listing of runs and usage per day and model.

These read the events collection of an :class:`AgentLogRepository` directly,
scoped the way the repository scopes its own queries (its project, live
events unless asked), with filters checked by
:class:`~mongo_ai_logs.query.EventFilter`, so no caller value reaches a query
other than as an equality or a date range.

The listing orders runs by their newest matching event, newest first, and
pages by keyset like :meth:`AgentLogRepository.find`: it walks the events in
the order of the repository's indexes and keeps each run the first time it
meets it. A page costs the events it walks plus one aggregation over the
page's runs (through the ``run_id`` index), whatever the number of runs in
the project. A run is listed when one of its events matches every filter; its
figures are those of the whole run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from bson.objectid import ObjectId

from mongo_ai_logs.agent_log_repository import AgentLogRepository
from mongo_ai_logs.client import translated
from mongo_ai_logs.errors import InvalidFilterError
from mongo_ai_logs.query import (
    SORT,
    EventFilter,
    after_cursor,
    decode_cursor,
    encode_cursor,
)

__all__ = ["RUN_FILTERS", "RunPage", "daily_usage", "list_runs", "run_summaries"]

Document = dict[str, Any]

RUN_FILTERS = ("user_id", "session_id", "model", "type", "status", "since", "until")
"""The filters of :func:`list_runs`."""

MAX_RUNS_PER_PAGE = 200
DEFAULT_SCAN_LIMIT = 20_000
"""Events one listing request walks at most before it returns what it has."""

_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "reasoning_tokens",
)
_LIVE = {"$ne": ["$deleted", True]}


@dataclass(frozen=True)
class RunPage:
    """One page of runs.

    Attributes:
        items: The runs' summaries, newest first.
        next_cursor: Pass it back as ``cursor`` for the next page; ``None``
            once every matching run was listed. A page may hold fewer runs
            than asked and still have a next one, when the walk reached its
            bound.
    """

    items: list[Document]
    next_cursor: str | None


def _number(value: Any) -> float:
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    return 0.0


def _position(doc: Mapping[str, Any]) -> tuple[dt.datetime, ObjectId]:
    return doc["started_at"], doc["_id"]


def list_runs(
    repo: AgentLogRepository,
    *,
    limit: int = 50,
    cursor: str | None = None,
    include_deleted: bool = False,
    scan_limit: int = DEFAULT_SCAN_LIMIT,
    **filters: Any,
) -> RunPage:
    """Return a page of the runs that have an event matching the filters.

    Args:
        repo: The repository whose project and collection are read.
        limit: Runs per page, 1 to 200.
        cursor: The ``next_cursor`` of the previous page.
        include_deleted: Also list runs whose events are all soft-deleted,
            and count deleted events in ``deleted_events``.
        scan_limit: Events walked at most by this call.
        **filters: ``user_id``, ``session_id``, ``model``, ``type``, ``since``,
            ``until`` match events; ``status`` is the run's: ``"error"`` when
            one of its events failed, ``"ok"`` otherwise.

    Raises:
        InvalidFilterError: A filter, the limit or the cursor is not valid.
    """
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not (1 <= limit <= MAX_RUNS_PER_PAGE)
    ):
        raise InvalidFilterError(
            f"limit must be a whole number from 1 to {MAX_RUNS_PER_PAGE}, "
            f"got {limit!r}",
            field="limit",
        )
    unknown = set(filters) - set(RUN_FILTERS)
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidFilterError(
            f"list_runs: unknown filter {name!r}; accepted: {', '.join(RUN_FILTERS)}",
            field=name,
        )
    status = filters.pop("status", None)
    if status is not None and status not in ("ok", "error"):
        raise InvalidFilterError(
            f"filter 'status' must be 'ok' or 'error', got {status!r}", field="status"
        )
    if status == "error":
        filters["status"] = "error"
    query = EventFilter.from_kwargs(
        "list_runs", {**filters, "include_deleted": include_deleted}
    ).query(repo.project_id)
    start = None if cursor is None else decode_cursor(cursor)

    walk = (
        repo.collection.find(
            after_cursor(query, cursor), {"run_id": 1, "started_at": 1}
        )
        .sort(SORT)
        .batch_size(1000)
    )
    with translated("list_runs"):
        try:
            items, last, exhausted = _walk(
                repo, walk, query, start, limit, scan_limit, status, include_deleted
            )
        finally:
            walk.close()

    next_cursor = None
    if not exhausted and last is not None:
        next_cursor = encode_cursor(*last)
    return RunPage(items, next_cursor)


def _walk(
    repo: AgentLogRepository,
    walk: Iterator[Document],
    query: Document,
    start: tuple[dt.datetime, ObjectId] | None,
    limit: int,
    scan_limit: int,
    status: str | None,
    include_deleted: bool,
) -> tuple[list[Document], tuple[dt.datetime, ObjectId] | None, bool]:
    """Walk the events and sum up the runs met; see the module docstring."""
    items: list[Document] = []
    seen: set[str] = set()
    last: tuple[dt.datetime, ObjectId] | None = None
    scanned = 0
    exhausted = False
    while len(items) < limit:
        pending: list[str] = []
        need = limit - len(items)
        while len(pending) < need and scanned < scan_limit:
            doc = next(walk, None)
            if doc is None:
                exhausted = True
                break
            scanned += 1
            last = _position(doc)
            run_id = doc.get("run_id")
            if isinstance(run_id, str) and run_id not in seen:
                seen.add(run_id)
                pending.append(run_id)
        if start is not None and pending:
            pending = _not_listed_before(repo, query, pending, start)
        summaries = run_summaries(repo, pending, include_deleted=include_deleted)
        for run_id in pending:
            summary = summaries.get(run_id)
            if summary is None or (status == "ok" and summary["status"] != "ok"):
                continue
            items.append(summary)
        if exhausted or scanned >= scan_limit:
            break
    return items, last, exhausted


def _not_listed_before(
    repo: AgentLogRepository,
    query: Document,
    run_ids: list[str],
    start: tuple[dt.datetime, ObjectId],
) -> list[str]:
    """Drop the runs with a matching event at or before the cursor's position.

    Those were met, and listed or passed over, by the walk of an earlier page.
    The events of the candidate runs are read through the ``run_id`` index and
    compared here, which every backend does cheaply; a keyset ``$or`` in the
    query made some backends scan the collection.
    """
    earlier: set[str] = set()
    events = repo.collection.find(
        {**query, "run_id": {"$in": run_ids}}, {"run_id": 1, "started_at": 1}
    )
    for doc in events:
        if _position(doc) >= start:
            earlier.add(doc["run_id"])
    return [run_id for run_id in run_ids if run_id not in earlier]


def run_summaries(
    repo: AgentLogRepository, run_ids: Iterable[str], *, include_deleted: bool = False
) -> dict[str, Document]:
    """Sum up each run of ``run_ids`` over all its events.

    Returns, for each run that has events (live ones, or any when
    ``include_deleted``): ``run_id``, ``first_at`` and ``last_at`` (the
    earliest and latest ``started_at``), ``ended_at``, ``duration_ms``,
    ``events`` (live), ``deleted_events``, the distinct ``users``,
    ``sessions``, ``models``, ``agents`` and ``types``, the token counts and
    ``cost`` of its live events, ``errors`` and ``status``.
    """
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return {}
    match: Document = {
        "project_id": repo.project_id,
        "run_id": {"$in": ids},
        "deleted": {"$in": [False, True]} if include_deleted else False,
    }
    group: Document = {
        "_id": "$run_id",
        "first_at": {"$min": "$started_at"},
        "last_at": {"$max": "$started_at"},
        "ended_at": {"$max": "$ended_at"},
        "events": {"$sum": {"$cond": [_LIVE, 1, 0]}},
        "deleted_events": {"$sum": {"$cond": [_LIVE, 0, 1]}},
        "users": {"$addToSet": "$user_id"},
        "sessions": {"$addToSet": "$session_id"},
        "models": {"$addToSet": "$model.name"},
        "agents": {"$addToSet": "$agent.name"},
        "types": {"$addToSet": "$type"},
        "cost": {"$sum": {"$cond": [_LIVE, "$cost.total", 0]}},
        "errors": {
            "$sum": {"$cond": [{"$and": [_LIVE, {"$eq": ["$status", "error"]}]}, 1, 0]}
        },
    }
    for name in _TOKEN_FIELDS:
        group[name] = {"$sum": {"$cond": [_LIVE, f"$usage.{name}", 0]}}

    summaries: dict[str, Document] = {}
    with translated("run_summaries"):
        if include_deleted:
            # One find per deletion state, each on an equality that the
            # indexes serve (some planners scan the whole project for the
            # $in), summed up here.
            states = [{**match, "deleted": False}, {**match, "deleted": True}]
            rows = _group_here(repo, states)
        elif _embedded(repo):
            rows = _group_here(repo, [match])
        else:
            rows = list(
                repo.collection.aggregate([{"$match": match}, {"$group": group}])
            )
    for row in rows:
        run_id = row.pop("_id")
        summaries[run_id] = _summary(run_id, row)
    return summaries


def _embedded(repo: AgentLogRepository) -> bool:
    return type(repo.collection).__module__.startswith("mongomock")


def _group_here(repo: AgentLogRepository, matches: list[Document]) -> list[Document]:
    """The ``$group`` of :func:`run_summaries`, done in Python.

    Over the events of every filter in ``matches``. mongomock copies the
    whole collection into every aggregation, which made a page of runs take
    seconds per ten thousand events; a filtered ``find`` copies only the
    events of the page's runs.
    """
    fields = ["run_id", "started_at", "ended_at", "deleted", "user_id",
              "session_id", "model.name", "agent.name", "type", "usage",
              "cost.total", "status"]  # fmt: skip
    rows: dict[str, Document] = {}
    found = (
        doc
        for match in matches
        for doc in repo.collection.find(match, dict.fromkeys(fields, 1))
    )
    for doc in found:
        row = rows.setdefault(
            doc["run_id"],
            {"_id": doc["run_id"], "events": 0, "deleted_events": 0, "errors": 0,
             "cost": 0.0, "users": [], "sessions": [], "models": [], "agents": [],
             "types": [], **dict.fromkeys(_TOKEN_FIELDS, 0)},
        )  # fmt: skip
        for key, pick, keep in (("first_at", "started_at", min),
                                ("last_at", "started_at", max),
                                ("ended_at", "ended_at", max)):  # fmt: skip
            value = doc.get(pick)
            if isinstance(value, dt.datetime):
                row[key] = value if key not in row else keep(row[key], value)
        for key, value in (("users", doc.get("user_id")),
                           ("sessions", doc.get("session_id")),
                           ("models", (doc.get("model") or {}).get("name")),
                           ("agents", (doc.get("agent") or {}).get("name")),
                           ("types", doc.get("type"))):  # fmt: skip
            if value is not None and value not in row[key]:
                row[key].append(value)
        if doc.get("deleted") is True:
            row["deleted_events"] += 1
            continue
        row["events"] += 1
        row["errors"] += doc.get("status") == "error"
        row["cost"] += _number((doc.get("cost") or {}).get("total"))
        usage = doc.get("usage") or {}
        for name in _TOKEN_FIELDS:
            row[name] += _number(usage.get(name))
    return list(rows.values())


def _names(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    return sorted({str(v) for v in values if v is not None and v != ""})


def _summary(run_id: str, row: Document) -> Document:
    first, last, ended = row.get("first_at"), row.get("last_at"), row.get("ended_at")
    end = max((t for t in (last, ended) if isinstance(t, dt.datetime)), default=None)
    duration = None
    if isinstance(first, dt.datetime) and end is not None:
        duration = max(0.0, (end - first) / dt.timedelta(milliseconds=1))
    summary: Document = {
        "run_id": run_id,
        "first_at": first,
        "last_at": last,
        "ended_at": end,
        "duration_ms": duration,
        "events": int(_number(row.get("events"))),
        "deleted_events": int(_number(row.get("deleted_events"))),
        "users": _names(row.get("users")),
        "sessions": _names(row.get("sessions")),
        "models": _names(row.get("models")),
        "agents": _names(row.get("agents")),
        "types": _names(row.get("types")),
    }
    for name in _TOKEN_FIELDS:
        summary[name] = int(_number(row.get(name)))
    summary["cost"] = _number(row.get("cost"))
    summary["errors"] = int(row.get("errors") or 0)
    summary["status"] = "error" if summary["errors"] else "ok"
    return summary


def daily_usage(repo: AgentLogRepository, **filters: Any) -> list[Document]:
    """Sum events, tokens and cost per UTC day and model name.

    Args:
        repo: The repository whose project is read; deleted events are left out.
        **filters: As for :meth:`AgentLogRepository.find`, except
            ``include_deleted``.

    Returns:
        Rows ``{"day": "YYYY-MM-DD", "model": name or None, "events", token
        counts, "cost"}``, ordered by day then model.
    """
    if filters.get("include_deleted"):
        raise InvalidFilterError("daily usage always leaves deleted events out")
    query = EventFilter.from_kwargs("daily_usage", filters).query(repo.project_id)
    group: Document = {
        "_id": {
            "day": {"$dateToString": {"format": "%Y-%m-%d", "date": "$started_at"}},
            "model": "$model.name",
        },
        "events": {"$sum": 1},
        "cost": {"$sum": "$cost.total"},
    }
    for name in _TOKEN_FIELDS:
        group[name] = {"$sum": f"$usage.{name}"}
    with translated("daily_usage"):
        found = list(repo.collection.aggregate([{"$match": query}, {"$group": group}]))
    rows = []
    for row in found:
        key = row.pop("_id") or {}
        model = key.get("model")
        rows.append(
            {
                "day": key.get("day"),
                "model": model if isinstance(model, str) else None,
                "events": int(_number(row.get("events"))),
                **{name: int(_number(row.get(name))) for name in _TOKEN_FIELDS},
                "cost": _number(row.get("cost")),
            }
        )
    rows.sort(key=lambda r: (str(r["day"]), r["model"] is None, str(r["model"])))
    return rows
