"""Routes for the viewer and for monitoring: runs, statistics, who, health."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from itertools import islice
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from mongo_ai_logs.client import translated
from mongo_ai_logs.errors import MongoAILogsError
from mongo_ai_logs.runs import RunNode, build_tree, dumps_tree
from mongo_ai_logs.server._auth import KeyRing
from mongo_ai_logs.server._body import event_out, row_out
from mongo_ai_logs.server._deps import Reader, StoreDep, strict_query
from mongo_ai_logs.server._errors import ApiError
from mongo_ai_logs.server._runs import daily_usage, list_runs, run_summaries
from mongo_ai_logs.server._schemas import (
    ERRORS,
    DailyOut,
    EventFilters,
    Health,
    RunFilters,
    RunOut,
    RunPageOut,
    StatsOut,
    WhoAmI,
)

__all__ = ["MAX_RUN_EVENTS", "router"]

logger = logging.getLogger(__name__)

Document = dict[str, Any]

MAX_RUN_EVENTS = 10_000
"""Events a run tree holds at most; a longer run is cut and says so."""

_PAYLOAD_FIELDS = ("content", "input", "output", "metadata", "source")
_TOOL_PAYLOAD_FIELDS = ("arguments", "result")
_PREVIEW_CHARS = 160

router = APIRouter(dependencies=[Depends(strict_query)], responses=ERRORS)


@router.get("/v1/runs", summary="List runs", response_model=RunPageOut)
async def get_runs(
    principal: Reader,
    store: StoreDep,
    filters: Annotated[RunFilters, Depends()],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    include_deleted: Annotated[
        bool, Query(description="Also list runs whose events are all deleted.")
    ] = False,
) -> JSONResponse:
    """Runs that have an event matching every filter, newest first.

    Each run comes with its first and last time, users, sessions, models,
    event counts, tokens, cost and status, summed over the whole run. A page
    may hold fewer runs than ``limit`` and still have a ``next_cursor``.
    """
    repo = store.scoped(principal)
    page = await store.call(
        list_runs,
        repo,
        limit=limit,
        cursor=cursor,
        include_deleted=include_deleted,
        **filters.given(),
    )
    items = [row_out(run) for run in page.items]
    return JSONResponse({"items": items, "next_cursor": page.next_cursor})


def _preview(event: Mapping[str, Any]) -> str | None:
    """A line of text that says what a node did, for trees without payloads."""
    tool = event.get("tool")
    candidates = [
        event.get("content"),
        event.get("input"),
        tool.get("arguments") if isinstance(tool, Mapping) else None,
        event.get("output"),
    ]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "…"
    return None


def _node_out(node: RunNode, payloads: bool) -> Document:
    """A node of the run's tree as JSON, without its children."""
    event = event_out(node.event)
    if not payloads:
        preview = _preview(node.event)
        if preview is not None:
            event["preview"] = preview
        present = [
            name for name in _PAYLOAD_FIELDS if event.pop(name, None) is not None
        ]
        tool = event.get("tool")
        if isinstance(tool, dict):
            present += [
                f"tool.{name}"
                for name in _TOOL_PAYLOAD_FIELDS
                if tool.pop(name, None) is not None
            ]
        event["payload_fields"] = present
    return event


@router.get(
    "/v1/runs/{run_id:path}", summary="Read a run as a tree", response_model=RunOut
)
async def get_run(
    run_id: Annotated[str, PathParam(min_length=1, max_length=1000)],
    principal: Reader,
    store: StoreDep,
    include_deleted: bool = False,
    payloads: Annotated[
        bool,
        Query(
            description="Include content, input, output, metadata, source and the "
            "tool's arguments and result; when false each node names the ones it "
            "has in payload_fields (read them with GET /v1/events/{id}) and "
            "carries a one-line preview."
        ),
    ] = True,
) -> Response:
    """The run's events as trees by ``parent_id``, with the run's summary."""
    repo = store.scoped(principal)

    def load() -> tuple[list[RunNode], bool, Document | None]:
        events = repo.iter_events(
            run_id=run_id, include_deleted=include_deleted, load_large_values=payloads
        )
        with translated("get_run"):
            taken = list(islice(events, MAX_RUN_EVENTS + 1))
        summary = run_summaries(repo, [run_id], include_deleted=include_deleted)
        return (
            build_tree(taken[:MAX_RUN_EVENTS]),
            len(taken) > MAX_RUN_EVENTS,
            summary.get(run_id),
        )

    roots, truncated, summary = await store.call(load)
    if not roots or summary is None:
        raise ApiError(
            404, "not_found", f"no run {run_id[:80]!r} in this project", field="run_id"
        )

    def write() -> bytes:
        # A chain of events nests as deep as it is long, deeper than
        # json.dumps goes: the tree is written by dumps_tree, here as the last
        # key of the object.
        head = json.dumps(
            {"run_id": run_id, "summary": row_out(summary), "truncated": truncated},
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
        tree = dumps_tree(
            roots,
            lambda node: _node_out(node, payloads),
            ensure_ascii=False,
            allow_nan=False,
        )
        return f'{head[:-1]},"roots":{tree}}}'.encode()

    return Response(await run_in_threadpool(write), media_type="application/json")


@router.get(
    "/v1/stats", summary="Usage per model, user, day or type", response_model=StatsOut
)
async def get_stats(
    principal: Reader,
    store: StoreDep,
    filters: Annotated[EventFilters, Depends()],
    group_by: Literal["model", "user_id", "day", "type"] = "model",
) -> JSONResponse:
    """Events, tokens and cost summed per group; deleted events are left out."""
    repo = store.scoped(principal)
    rows = await store.call(repo.usage_stats, group_by=group_by, **filters.given())
    return JSONResponse({"group_by": group_by, "rows": [row_out(r) for r in rows]})


@router.get(
    "/v1/stats/daily", summary="Usage per day and model", response_model=DailyOut
)
async def get_daily(
    principal: Reader, store: StoreDep, filters: Annotated[EventFilters, Depends()]
) -> JSONResponse:
    """Events, tokens and cost per UTC day and model name, for the chart."""
    repo = store.scoped(principal)
    rows = await store.call(daily_usage, repo, **filters.given())
    return JSONResponse({"rows": [row_out(r) for r in rows]})


@router.get("/v1/whoami", summary="The key behind the request", response_model=WhoAmI)
async def whoami(request: Request, principal: Reader) -> JSONResponse:
    """The project and role of the request's key."""
    keyring: KeyRing = request.app.state.keyring
    return JSONResponse(
        {
            "project": principal.project,
            "role": principal.role.label,
            "name": principal.name,
            "auth": keyring.required,
        }
    )


@router.get(
    "/healthz",
    summary="Whether the database answers",
    response_model=Health,
    responses={503: {"model": Health}},
)
async def healthz(store: StoreDep) -> JSONResponse:
    """200 when the database answers a ping, 503 when it does not; no key needed."""
    client = store.repository.collection.database.client

    def ping() -> None:
        with translated("ping"):
            client.admin.command("ping")

    try:
        await store.call(ping)
    except MongoAILogsError as exc:
        logger.warning("health check failed: %s", exc)
        return JSONResponse(
            {"status": "unavailable", "database": "down"}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": "up"})
