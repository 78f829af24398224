"""Routes of events: store, find, read, change, soft-delete, restore, purge.

Each goes through ``store.scoped(principal)``, the repository bound to the
project of the request's key, so an id or a filter of another project finds
nothing and a write lands in the key's project only.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from mongo_ai_logs.agent_log_repository import AgentLogRepository, InsertReport
from mongo_ai_logs.server._body import (
    decode_event,
    event_out,
    read_json,
)
from mongo_ai_logs.server._deps import Admin, Reader, StoreDep, Writer, strict_query
from mongo_ai_logs.server._errors import ApiError
from mongo_ai_logs.server._schemas import (
    ERRORS,
    BatchResult,
    DeleteResult,
    EventFilters,
    EventPage,
    PurgeIn,
    PurgeOut,
    SingleResult,
)
from mongo_ai_logs.server._settings import ServerSettings

__all__ = ["router"]

logger = logging.getLogger(__name__)

Document = dict[str, Any]
EventId = Annotated[str, PathParam(description="The event's id (24 hex digits).")]

router = APIRouter(dependencies=[Depends(strict_query)], responses=ERRORS)


def _json_body(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"application/json": {"schema": schema}}
    return {
        "requestBody": {"required": True, "description": description, "content": body}
    }


_EVENT_REF = {"$ref": "#/components/schemas/AgentLogEvent"}


def not_found(event_id: str) -> ApiError:
    """The 404 of an id the key's project has no event for."""
    return ApiError(
        404,
        "not_found",
        f"no event {event_id[:40]!r} in this project",
        field="event_id",
    )


@router.post(
    "/v1/events",
    summary="Store one event or a batch",
    status_code=201,
    response_model=SingleResult,
    responses={200: {"model": BatchResult, "description": "What became of a batch."}},
    openapi_extra=_json_body(
        {"oneOf": [_EVENT_REF, {"type": "array", "items": _EVENT_REF}]},
        "An event (an object) or a batch (an array of events).",
    ),
)
async def post_events(
    request: Request, principal: Writer, store: StoreDep
) -> JSONResponse:
    """Store an event (a JSON object), answered with 201, or a batch (an array).

    A batch is stored even when some of its events are refused: the 200
    answer gives each event's id by position and each refused event's
    position and reason. One event that is refused is answered with 422.
    Values JSON has no type for are written as the %-markers of
    ``mongo_ai_logs.jsonl`` (``{"%datetime": ...}``, ``{"%bytes": ...}``).
    """
    settings: ServerSettings = request.app.state.server_settings
    data = await read_json(request)
    single = isinstance(data, dict)
    items = [data] if single else data
    if not isinstance(items, list):
        raise ApiError(
            422,
            "invalid_body",
            "the body must be an event (a JSON object) or a batch (an array of "
            f"events), got {type(data).__name__ if data is not None else 'null'}",
        )
    if len(items) > settings.max_batch_events:
        raise ApiError(
            413,
            "batch_too_large",
            f"a batch holds at most {settings.max_batch_events:,} events, this one "
            f"{len(items):,}; send it in parts",
        )

    events: list[Document] = []
    positions: list[int] = []
    refused: list[Document] = []
    for index, item in enumerate(items):
        try:
            events.append(decode_event(item))
        except ValueError as exc:
            refused.append({"index": index, "reason": str(exc), "field": None})
            continue
        positions.append(index)

    repo = store.scoped(principal)
    report = await store.call(repo.insert_many, events)
    result = _batch_result(len(items), positions, report, refused)
    logger.info(
        "%s stored %d events, %d already present, %d refused",
        principal.name,
        result["inserted"],
        result["duplicates"],
        len(result["refused"]),
    )

    if not single:
        return JSONResponse(result, status_code=200)
    if result["refused"]:
        first = result["refused"][0]
        raise ApiError(422, "invalid_event", first["reason"], field=first["field"])
    return JSONResponse(
        {"id": result["ids"][0], "inserted": bool(result["inserted"])}, status_code=201
    )


def _batch_result(
    size: int, positions: list[int], report: InsertReport, refused: list[Document]
) -> Document:
    """The report of a batch, by the positions of the request."""
    ids: list[str | None] = [None] * size
    for position, event_id in zip(positions, report.ids, strict=True):
        ids[position] = event_id
    for r in report.refused:
        refused.append(
            {"index": positions[r.index], "reason": r.reason, "field": r.field}
        )
    refused.sort(key=lambda r: int(r["index"]))
    return {
        "ok": not refused,
        "ids": ids,
        "inserted": len(report.inserted_ids),
        "duplicates": len(report.duplicate_ids),
        "refused": refused,
    }


#: The most event bytes one page holds: a page of large events ends early,
#: with a next_cursor, so that one request cannot take the server's memory.
PAGE_BYTES = 64 * 1024 * 1024


@router.get("/v1/events", summary="Find events", response_model=EventPage)
async def get_events(
    principal: Reader,
    store: StoreDep,
    filters: Annotated[EventFilters, Depends()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="next_cursor of a page."),
    ] = None,
    include_deleted: bool = False,
    load_large_values: Annotated[
        bool,
        Query(
            description="Read offloaded values back whole; when false they appear "
            "as {offloaded: true, bytes, sha256} markers."
        ),
    ] = True,
) -> JSONResponse:
    """One page of the key's project's events, newest first."""
    repo = store.scoped(principal)
    page = await store.call(
        repo.find,
        limit=limit,
        cursor=cursor,
        include_deleted=include_deleted,
        load_large_values=load_large_values,
        max_bytes=PAGE_BYTES,
        **filters.given(),
    )
    items = [event_out(event) for event in page.items]
    return JSONResponse({"items": items, "next_cursor": page.next_cursor})


def read_event(
    repo: AgentLogRepository,
    event_id: str,
    *,
    include_deleted: bool = False,
    load_large_values: bool = True,
) -> Document:
    """The event, or a 404 when the repository's project has no such event."""
    event = repo.get(event_id, include_deleted, load_large_values=load_large_values)
    if event is None:
        raise not_found(event_id)
    return event


@router.get("/v1/events/{event_id}", summary="Read one event")
async def get_event(
    event_id: EventId,
    principal: Reader,
    store: StoreDep,
    include_deleted: bool = False,
    load_large_values: bool = True,
) -> JSONResponse:
    """The event, or 404 when the key's project has no such live event."""
    repo = store.scoped(principal)
    event = await store.call(
        read_event,
        repo,
        event_id,
        include_deleted=include_deleted,
        load_large_values=load_large_values,
    )
    return JSONResponse(event_out(event))


@router.patch(
    "/v1/events/{event_id}",
    summary="Change fields of an event",
    openapi_extra=_json_body(
        {"type": "object", "minProperties": 1, "additionalProperties": True},
        "Top-level fields to set; null removes one.",
    ),
)
async def patch_event(
    event_id: EventId, request: Request, principal: Writer, store: StoreDep
) -> JSONResponse:
    """Set top-level fields of a live event; ``null`` removes a field.

    Identity, audit and deletion fields cannot be changed here. Answers with
    the event as it is after the change.
    """
    data = await read_json(request)
    if not isinstance(data, dict) or not data:
        raise ApiError(
            422,
            "invalid_update",
            "the body must be a JSON object of the fields to change",
        )
    try:
        changes = decode_event(data)
    except ValueError as exc:
        raise ApiError(422, "invalid_update", str(exc)) from None
    repo = store.scoped(principal)

    def change() -> Document:
        if not repo.update(event_id, changes):
            raise not_found(event_id)
        return read_event(repo, event_id)

    event = await store.call(change)
    logger.info("%s changed event %s", principal.name, event_id)
    return JSONResponse(event_out(event))


@router.delete(
    "/v1/events/{event_id}", summary="Soft-delete an event", response_model=DeleteResult
)
async def delete_event(
    event_id: EventId,
    principal: Writer,
    store: StoreDep,
    reason: Annotated[str | None, Query(max_length=1000)] = None,
) -> JSONResponse:
    """Hide the event from every read until it is restored.

    Deleting an event that is already deleted changes nothing.
    """
    repo = store.scoped(principal)

    def delete() -> None:
        if repo.soft_delete(event_id, by=principal.name, reason=reason):
            return
        if repo.get(event_id, include_deleted=True) is None:
            raise not_found(event_id)

    await store.call(delete)
    logger.info("%s soft-deleted event %s", principal.name, event_id)
    return JSONResponse({"id": event_id, "deleted": True})


@router.post(
    "/v1/events/{event_id}/restore",
    summary="Restore a soft-deleted event",
    response_model=DeleteResult,
)
async def restore_event(
    event_id: EventId, principal: Writer, store: StoreDep
) -> JSONResponse:
    """Bring a soft-deleted event back; restoring a live one changes nothing."""
    repo = store.scoped(principal)

    def restore() -> None:
        if repo.restore(event_id):
            return
        if repo.get(event_id) is None:
            raise not_found(event_id)

    await store.call(restore)
    logger.info("%s restored event %s", principal.name, event_id)
    return JSONResponse({"id": event_id, "deleted": False})


@router.post(
    "/v1/purge",
    summary="Remove soft-deleted events for good (admin)",
    response_model=PurgeOut,
    openapi_extra=_json_body({"$ref": "#/components/schemas/PurgeIn"}),
)
async def purge(request: Request, principal: Admin, store: StoreDep) -> JSONResponse:
    """Remove the key's project's events soft-deleted before the cutoff.

    Live events are never removed, whatever the cutoff.
    """
    data = await read_json(request)
    cutoff = PurgeIn.read(data).deleted_before
    repo = store.scoped(principal)
    purged = await store.call(repo.purge, deleted_before=cutoff)
    logger.info("%s purged %d events", principal.name, purged)
    return JSONResponse({"purged": purged})
