"""The FastAPI application: routes, keys, projects and the viewer's files.

Every route reaches the events through ``repository.for_project(project)``,
where the project is the one of the request's API key, so an id, a filter or
a cursor of another project finds nothing. Events leave the service through
:func:`mongo_ai_logs.jsonl.to_jsonable` and come in through
:func:`~mongo_ai_logs.jsonl.from_jsonable`, so any value the library stores
makes the round trip. Database calls run on worker threads; on the embedded
backend (mongomock, which is not made for concurrent writers) they run one
at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from mongo_ai_logs import __version__
from mongo_ai_logs.agent_log_repository import AgentLogRepository, InsertReport
from mongo_ai_logs.client import MongoConnection
from mongo_ai_logs.codec import decode_document
from mongo_ai_logs.config import Settings
from mongo_ai_logs.errors import MongoAILogsError
from mongo_ai_logs.ids import parse_event_id
from mongo_ai_logs.jsonl import from_jsonable, to_jsonable
from mongo_ai_logs.models import AgentLogEvent, EventType
from mongo_ai_logs.runs import RunNode, build_tree
from mongo_ai_logs.server._auth import KeyRing, Principal
from mongo_ai_logs.server._errors import ApiError, install_error_handlers
from mongo_ai_logs.server._guard import RequestGuard
from mongo_ai_logs.server._runs import (
    daily_usage,
    list_runs,
    run_summaries,
    translated,
)
from mongo_ai_logs.server._settings import Role, ServerSettings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Document = dict[str, Any]

_STATIC = Path(__file__).with_name("static")
MAX_RUN_EVENTS = 10_000
"""Events a run tree holds at most; a longer run is cut and says so."""

_PAYLOAD_FIELDS = ("content", "input", "output", "metadata", "source")
_TOOL_PAYLOAD_FIELDS = ("arguments", "result")
_PREVIEW_CHARS = 160
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_JSON_TYPES = ("application/json",)
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


# -- the store behind the routes -------------------------------------------------------


class _Store:
    """The repository of the service, and a lock when the backend needs one."""

    def __init__(self, repository: AgentLogRepository) -> None:
        self.repository = repository
        embedded = type(repository.collection).__module__.startswith("mongomock")
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if embedded else contextlib.nullcontext()
        )

    def scoped(self, principal: Principal) -> AgentLogRepository:
        return self.repository.for_project(principal.project)

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def locked() -> T:
            with self._lock:
                return function(*args, **kwargs)

        return await run_in_threadpool(locked)


def _store(request: Request) -> _Store:
    store: _Store = request.app.state.store
    return store


# -- who is asking ---------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The key in its own header"
)


def _principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    keyring: KeyRing = request.app.state.keyring
    presented = bearer.credentials if bearer is not None else api_key
    principal = keyring.identify(presented)
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "this service needs an API key: send 'Authorization: Bearer <key>' "
            "or 'X-API-Key: <key>'"
            if not presented
            else "the API key is not valid",
            headers={"WWW-Authenticate": 'Bearer realm="mongo-ai-logs"'},
        )
    return principal


def _role(role: Role) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not principal.may(role):
            raise ApiError(
                403,
                "forbidden",
                f"this key has the {principal.role.label} role; this operation "
                f"needs {role.label}",
            )
        return principal

    return check


Reader = Annotated[Principal, Depends(_role(Role.READ))]
Writer = Annotated[Principal, Depends(_role(Role.WRITE))]
Admin = Annotated[Principal, Depends(_role(Role.ADMIN))]
StoreDep = Annotated[_Store, Depends(_store)]


# -- strict query strings --------------------------------------------------------------


def _strict_query(request: Request) -> None:
    """Refuse unknown, repeated and operator-looking query parameters."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known: dict[str, bool] = {}
    for param in _query_params(dependant):
        alias = getattr(param, "alias", None) or param.name
        annotation = str(getattr(param.field_info, "annotation", ""))
        known[alias] = "list" in annotation
    counts: dict[str, int] = {}
    for name, value in request.query_params.multi_items():
        if name not in known:
            accepted = ", ".join(sorted(known)) or "none"
            raise ApiError(
                422,
                "unknown_parameter",
                f"unknown query parameter {name!r}; accepted: {accepted}",
                field=name,
            )
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > 1 and not known[name]:
            raise ApiError(
                422,
                "repeated_parameter",
                f"query parameter {name!r} is given more than once; it takes one value",
                field=name,
            )
        _refuse_operator(name, value)


def _query_params(dependant: Any) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_params(sub)


def _refuse_operator(name: str, value: str) -> None:
    text = value.strip()
    operator = text.startswith("$")
    if not operator and text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        operator = isinstance(parsed, dict) and any(
            str(k).startswith("$") for k in parsed
        )
    if operator:
        raise ApiError(
            422,
            "invalid_filter",
            f"query parameter {name!r} looks like a MongoDB operator "
            f"({text[:40]!r}); filters compare values for equality only",
            field=name,
        )


# -- JSON in and out -------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _read_json(request: Request) -> tuple[Any, bool]:
    """The request's JSON body, and whether it may hold lone surrogates."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES and not media.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as application/json, got {media or 'no content type'!r}",
        )
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the request body is empty")

    def parse() -> Any:
        return json.loads(raw, parse_constant=_reject_constant)

    try:
        data = await run_in_threadpool(parse)
    except RecursionError:
        raise ApiError(
            400, "invalid_json", "the JSON body is nested too deeply to read"
        ) from None
    except ValueError as exc:
        raise ApiError(
            400, "invalid_json", f"the body is not valid JSON: {exc}"
        ) from None
    return data, bool(_SURROGATE_HINT.search(raw))


def _unencodable_path(value: Any, path: str = "") -> str | None:
    """The path of the first string or key that UTF-8 cannot hold, if any."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return where or "event"
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                try:
                    str(key).encode("utf-8")
                except UnicodeEncodeError:
                    return where or "event"
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{i}") for i, child in enumerate(item))
    return None


def _decode_event(data: Any, check_text: bool) -> Document:
    """Turn one JSON event into the caller's dict, or raise ``ValueError``."""
    if not isinstance(data, dict):
        raise ValueError(
            "an event must be a JSON object, got "
            + ("null" if data is None else type(data).__name__)
        )
    if check_text:
        where = _unencodable_path(data)
        if where is not None:
            raise _TextError(where)
    try:
        return from_jsonable(data)
    except RecursionError:
        raise ValueError("the event is nested too deeply to read") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"a %-marker is not valid: {exc}") from None


class _TextError(ValueError):
    def __init__(self, where: str) -> None:
        super().__init__(
            f"{where}: the text holds a lone UTF-16 surrogate, which UTF-8 and "
            "MongoDB cannot store"
        )
        self.field = where


def _json_response(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _row_out(row: Mapping[str, Any]) -> Document:
    """A summary or statistics row as JSON: datetimes as ISO 8601 strings."""
    out: Document = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            out[key] = value.isoformat()
        elif value is None or isinstance(value, (str, int, float, list)):
            out[key] = value
        else:
            out.update(to_jsonable({key: value}))
    return out


def _event_out(event: Mapping[str, Any]) -> Document:
    try:
        return to_jsonable(event)
    except RecursionError:
        raise ApiError(
            422,
            "too_deep_to_show",
            f"event {event.get('_id')} is nested too deeply to write as JSON; "
            "read it with the library",
        ) from None


# -- parameters ------------------------------------------------------------------------


def _metadata_filters(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    metadata: dict[str, Any] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key or key == ":":
            raise ApiError(
                422,
                "invalid_filter",
                f"meta {item!r} is not KEY=VALUE (a string) or KEY:=JSON (a number, "
                "true, false or null)",
                field="meta",
            )
        if key.endswith(":"):
            try:
                parsed = json.loads(value, parse_constant=_reject_constant)
            except ValueError:
                raise ApiError(
                    422,
                    "invalid_filter",
                    f"meta {item!r}: {value!r} is not JSON; write KEY=VALUE for "
                    "a string",
                    field="meta",
                ) from None
            if isinstance(parsed, (dict, list)):
                raise ApiError(
                    422,
                    "invalid_filter",
                    f"meta {item!r}: a metadata filter takes one value, not an "
                    "object or a list",
                    field="meta",
                )
            metadata[key[:-1]] = parsed
        else:
            metadata[key] = value
    return metadata


class _Filters:
    """The event filters shared by listings and statistics."""

    def __init__(
        self,
        user_id: Annotated[str | None, Query(description="The user's id.")] = None,
        session_id: Annotated[str | None, Query(description="The session.")] = None,
        run_id: Annotated[str | None, Query(description="The run.")] = None,
        type: Annotated[EventType | None, Query(description="The event type.")] = None,
        model: Annotated[str | None, Query(description="The model name.")] = None,
        status: Annotated[Literal["ok", "error"] | None, Query()] = None,
        tag: Annotated[
            list[str] | None, Query(description="Events having every tag given.")
        ] = None,
        meta: Annotated[
            list[str] | None,
            Query(
                description="Metadata equality: KEY=VALUE (a string) or KEY:=JSON "
                "(a number, true, false or null); keys may contain dots."
            ),
        ] = None,
        since: Annotated[
            str | None, Query(description="started_at from (ISO 8601, included).")
        ] = None,
        until: Annotated[
            str | None, Query(description="started_at before (ISO 8601, excluded).")
        ] = None,
    ) -> None:
        self.values: dict[str, Any] = {
            "user_id": user_id,
            "session_id": session_id,
            "run_id": run_id,
            "type": type,
            "model": model,
            "status": status,
            "tags": tag or None,
            "metadata": _metadata_filters(meta),
            "since": since,
            "until": until,
        }

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if v is not None}


class _RunFilters:
    """The filters of the runs listing."""

    def __init__(
        self,
        user_id: Annotated[str | None, Query()] = None,
        session_id: Annotated[str | None, Query()] = None,
        model: Annotated[str | None, Query()] = None,
        type: Annotated[EventType | None, Query()] = None,
        status: Annotated[
            Literal["ok", "error"] | None,
            Query(description="The run's status: error when one event failed."),
        ] = None,
        since: Annotated[str | None, Query()] = None,
        until: Annotated[str | None, Query()] = None,
    ) -> None:
        self.values: dict[str, Any] = {
            "user_id": user_id,
            "session_id": session_id,
            "model": model,
            "type": type,
            "status": status,
            "since": since,
            "until": until,
        }

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if v is not None}


EventId = Annotated[str, PathParam(description="The event's id (24 hex digits).")]


# -- response shapes, for the OpenAPI document -----------------------------------------


class ErrorBody(BaseModel):
    """What every error response carries."""

    error: str = Field(description="A short stable code: invalid_json, not_found, ...")
    message: str = Field(description="What was wrong, for people.")
    field: str | None = Field(default=None, description="The field to blame.")
    details: list[dict[str, Any]] | None = None


class EventPage(BaseModel):
    """One page of events, newest first."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class RefusedOut(BaseModel):
    """One event of a batch that was not stored."""

    index: int
    reason: str
    field: str | None = None


class BatchResult(BaseModel):
    """What ``POST /v1/events`` did with each event of the batch."""

    ok: bool = Field(description="Whether no event was refused.")
    ids: list[str | None] = Field(description="Per position: the id, or null.")
    inserted: int
    duplicates: int
    refused: list[RefusedOut]


class SingleResult(BaseModel):
    """What ``POST /v1/events`` did with one event."""

    id: str
    inserted: bool = Field(description="False when the event was already stored.")


class DeleteResult(BaseModel):
    """The deletion state of an event after the call."""

    id: str
    deleted: bool


class RunPageOut(BaseModel):
    """One page of runs, newest first."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class RunOut(BaseModel):
    """A run: its summary and its events as trees."""

    run_id: str
    summary: dict[str, Any]
    roots: list[dict[str, Any]]
    truncated: bool


class StatsOut(BaseModel):
    """Sums per group."""

    group_by: str
    rows: list[dict[str, Any]]


class DailyOut(BaseModel):
    """Sums per day and model."""

    rows: list[dict[str, Any]]


class PurgeIn(BaseModel):
    """The cutoff of a purge."""

    deleted_before: dt.datetime = Field(
        description="Remove events soft-deleted before this time (ISO 8601; UTC "
        "when no zone is given)."
    )


class PurgeOut(BaseModel):
    """How many events a purge removed."""

    purged: int


class WhoAmI(BaseModel):
    """The key behind the request."""

    project: str | None
    role: str
    name: str
    auth: bool


class Health(BaseModel):
    """Whether the database answers."""

    status: str
    database: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 415, 422, 503)
}


# -- the application -------------------------------------------------------------------


def create_app(
    settings: Settings | None = None,
    server_settings: ServerSettings | None = None,
    *,
    repository: AgentLogRepository | None = None,
) -> FastAPI:
    """Build the service.

    Connects (the database must answer), creates the indexes, and returns
    the ASGI application. Run it with :func:`mongo_ai_logs.server.serve`, or
    with any ASGI server.

    Args:
        settings: Where the events live. Defaults to :meth:`Settings.load`.
            Ignored when ``repository`` is given.
        server_settings: Keys and limits. Defaults to
            :meth:`ServerSettings.load`.
        repository: A repository to serve instead of one made from
            ``settings`` (its project is not used: each request is bound to
            the project of its key).

    Raises:
        ConfigurationError: The settings cannot work.
        ConnectionFailedError: The database did not answer within the timeout.
    """
    server_settings = (
        ServerSettings.load() if server_settings is None else server_settings
    )
    if repository is None:
        connection = MongoConnection(settings)
        connection.ping()
        repository = AgentLogRepository.from_settings(connection.settings)
    repository.ensure_indexes()

    app = FastAPI(
        title="mongo-ai-logs",
        version=__version__,
        summary="Store and read the logs of AI agents in MongoDB.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.store = _Store(repository)
    app.state.keyring = KeyRing(server_settings)
    app.state.server_settings = server_settings
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=server_settings.max_body_bytes,
        loopback_only=not server_settings.auth_required,
    )
    _add_headers(app)
    _add_event_routes(app, server_settings)
    _add_run_routes(app)
    _add_other_routes(app)
    _add_viewer(app)
    _custom_openapi(app)
    return app


def _add_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Any]]
    ) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path.startswith("/v1/"):
            response.headers.setdefault("Cache-Control", "no-store")
        else:
            response.headers.setdefault("Content-Security-Policy", _CSP)
        return response


def _batch_out(report: InsertReport, refused_first: list[Document]) -> Document:
    refused = sorted(
        refused_first
        + [
            {"index": r.index, "reason": r.reason, "field": r.field}
            for r in report.refused
        ],
        key=lambda r: int(r["index"]),
    )
    return {
        "ok": not refused,
        "ids": report.ids,
        "inserted": len(report.inserted_ids),
        "duplicates": len(report.duplicate_ids),
        "refused": refused,
    }


def _add_event_routes(app: FastAPI, server_settings: ServerSettings) -> None:
    strict = [Depends(_strict_query)]

    @app.post(
        "/v1/events",
        summary="Store one event or a batch",
        response_model=SingleResult | BatchResult,
        status_code=201,
        dependencies=strict,
        responses=_ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/AgentLogEvent"},
                                {
                                    "type": "array",
                                    "items": {
                                        "$ref": "#/components/schemas/AgentLogEvent"
                                    },
                                },
                            ]
                        }
                    }
                },
            }
        },
    )
    async def post_events(
        request: Request, principal: Writer, store: StoreDep
    ) -> JSONResponse:
        """Store an event (a JSON object) or a batch (a JSON array).

        A batch is stored even when some of its events are refused: the answer
        gives each event's id by position and each refused event's position
        and reason. One event that is refused is answered with 422.
        Values JSON has no type for are written as the %-markers of
        ``mongo_ai_logs.jsonl`` (``{"%datetime": ...}``, ``{"%bytes": ...}``).
        """
        data, check_text = await _read_json(request)
        single = isinstance(data, dict)
        items = [data] if single else data
        if not isinstance(items, list):
            raise ApiError(
                422,
                "invalid_body",
                "the body must be an event (a JSON object) or a batch (an array "
                f"of events), got {type(data).__name__}",
            )
        if len(items) > server_settings.max_batch_events:
            raise ApiError(
                413,
                "batch_too_large",
                f"a batch holds at most {server_settings.max_batch_events:,} "
                f"events, this one {len(items):,}; send it in parts",
            )

        events: list[Document] = []
        positions: list[int] = []
        refused: list[Document] = []
        for index, item in enumerate(items):
            try:
                events.append(_decode_event(item, check_text))
                positions.append(index)
            except _TextError as exc:
                refused.append({"index": index, "reason": str(exc), "field": exc.field})
            except ValueError as exc:
                refused.append({"index": index, "reason": str(exc), "field": None})

        repo = store.scoped(principal)
        report = await store.call(repo.insert_many, events)
        remapped = InsertReport(
            ids=[None] * len(items),
            inserted_ids=report.inserted_ids,
            duplicate_ids=report.duplicate_ids,
        )
        for position, event_id in zip(positions, report.ids, strict=True):
            remapped.ids[position] = event_id
        for r in report.refused:
            refused.append(
                {"index": positions[r.index], "reason": r.reason, "field": r.field}
            )
        result = _batch_out(remapped, refused)
        logger.info(
            "%s stored %d events, %d already present, %d refused",
            principal.name,
            result["inserted"],
            result["duplicates"],
            len(result["refused"]),
        )
        if not single:
            return _json_response(result, 200)
        if result["refused"]:
            first = result["refused"][0]
            raise ApiError(422, "invalid_event", first["reason"], field=first["field"])
        event_id = result["ids"][0]
        return _json_response(
            {"id": event_id, "inserted": bool(result["inserted"])}, 201
        )

    @app.get(
        "/v1/events",
        summary="Find events",
        response_model=EventPage,
        dependencies=strict,
        responses=_ERRORS,
    )
    async def get_events(
        principal: Reader,
        store: StoreDep,
        filters: Annotated[_Filters, Depends()],
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        cursor: Annotated[
            str | None, Query(max_length=200, description="next_cursor of a page.")
        ] = None,
        include_deleted: bool = False,
        load_large_values: Annotated[
            bool,
            Query(
                description="Read offloaded values back whole; when false they "
                "appear as {offloaded: true, bytes, sha256} markers."
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
            **filters.given(),
        )
        return _json_response(
            {
                "items": [_event_out(e) for e in page.items],
                "next_cursor": page.next_cursor,
            }
        )

    @app.get(
        "/v1/events/{event_id}",
        summary="Read one event",
        dependencies=strict,
        responses=_ERRORS,
    )
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
            _get, repo, event_id, include_deleted, load_large_values
        )
        return _json_response(_event_out(event))

    @app.patch(
        "/v1/events/{event_id}",
        summary="Change fields of an event",
        dependencies=strict,
        responses=_ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": True,
                            "description": "Top-level fields to set; null removes one.",
                        }
                    }
                },
            }
        },
    )
    async def patch_event(
        event_id: EventId, request: Request, principal: Writer, store: StoreDep
    ) -> JSONResponse:
        """Set top-level fields of a live event; ``null`` removes a field.

        Identity, audit and deletion fields cannot be changed here.
        """
        data, check_text = await _read_json(request)
        if not isinstance(data, dict) or not data:
            raise ApiError(
                422,
                "invalid_update",
                "the body must be a JSON object of the fields to change",
            )
        try:
            changes = _decode_event(data, check_text)
        except _TextError as exc:
            raise ApiError(422, "invalid_update", str(exc), field=exc.field) from None
        except ValueError as exc:
            raise ApiError(422, "invalid_update", str(exc)) from None
        repo = store.scoped(principal)

        def change() -> Document:
            if not repo.update(event_id, changes):
                raise _not_found(event_id)
            return _get(repo, event_id, False, True)

        event = await store.call(change)
        logger.info("%s changed event %s", principal.name, event_id)
        return _json_response(_event_out(event))

    @app.delete(
        "/v1/events/{event_id}",
        summary="Soft-delete an event",
        response_model=DeleteResult,
        dependencies=strict,
        responses=_ERRORS,
    )
    async def delete_event(
        event_id: EventId,
        principal: Writer,
        store: StoreDep,
        reason: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> JSONResponse:
        """Hide the event from every read; restore brings it back.

        Deleting an event that is already deleted changes nothing.
        """
        repo = store.scoped(principal)

        def delete() -> None:
            if repo.soft_delete(event_id, by=principal.name, reason=reason):
                return
            if repo.get(event_id, include_deleted=True) is None:
                raise _not_found(event_id)

        await store.call(delete)
        logger.info("%s soft-deleted event %s", principal.name, event_id)
        return _json_response({"id": event_id, "deleted": True})

    @app.post(
        "/v1/events/{event_id}/restore",
        summary="Restore a soft-deleted event",
        response_model=DeleteResult,
        dependencies=strict,
        responses=_ERRORS,
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
                raise _not_found(event_id)

        await store.call(restore)
        logger.info("%s restored event %s", principal.name, event_id)
        return _json_response({"id": event_id, "deleted": False})

    @app.post(
        "/v1/purge",
        summary="Remove soft-deleted events for good (admin)",
        response_model=PurgeOut,
        dependencies=strict,
        responses=_ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/PurgeIn"}
                    }
                },
            }
        },
    )
    async def purge(
        request: Request, principal: Admin, store: StoreDep
    ) -> JSONResponse:
        """Remove the key's project's events soft-deleted before the cutoff.

        Live events are never removed, whatever the cutoff.
        """
        data, _ = await _read_json(request)
        try:
            cutoff = PurgeIn.model_validate(data).deleted_before
        except ValueError as exc:
            raise ApiError(
                422,
                "invalid_purge",
                'the body must be {"deleted_before": "<ISO 8601 time>"}: '
                + _first_error(exc),
                field="deleted_before",
            ) from None
        repo = store.scoped(principal)
        purged = await store.call(repo.purge, deleted_before=cutoff)
        logger.info("%s purged %d events", principal.name, purged)
        return _json_response({"purged": purged})


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            return str(found[0].get("msg", exc))
    return str(exc)


def _not_found(event_id: str) -> ApiError:
    return ApiError(
        404,
        "not_found",
        f"no event {event_id[:40]!r} in this project",
        field="event_id",
    )


def _get(
    repo: AgentLogRepository,
    event_id: str,
    include_deleted: bool,
    load_large_values: bool,
) -> Document:
    if load_large_values:
        event = repo.get(event_id, include_deleted=include_deleted)
    else:
        event = _get_with_markers(repo, event_id, include_deleted)
    if event is None:
        raise _not_found(event_id)
    return event


def _get_with_markers(
    repo: AgentLogRepository, event_id: str, include_deleted: bool
) -> Document | None:
    """The event as ``find(load_large_values=False)`` shows it."""
    oid = parse_event_id(event_id)
    if oid is None:
        return None
    query: Document = {"_id": oid, "project_id": repo.project_id}
    if not include_deleted:
        query["deleted"] = False
    with translated("get"):
        document = repo.collection.find_one(query)
    if document is None:
        return None
    event = decode_document(document, None)
    event["_id"] = str(oid)
    return event


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


def _tree_out(node: RunNode, payloads: bool) -> Document:
    event = _event_out(node.event)
    if not payloads:
        preview = _preview(node.event)
        if preview is not None:
            event["preview"] = preview
        present = [
            name for name in _PAYLOAD_FIELDS if event.pop(name, None) is not None
        ]
        tool = event.get("tool")
        if isinstance(tool, dict):
            for name in _TOOL_PAYLOAD_FIELDS:
                if tool.pop(name, None) is not None:
                    present.append(f"tool.{name}")
        event["payload_fields"] = present
    event["children"] = [_tree_out(child, payloads) for child in node.children]
    return event


def _add_run_routes(app: FastAPI) -> None:
    strict = [Depends(_strict_query)]

    @app.get(
        "/v1/runs",
        summary="List runs",
        response_model=RunPageOut,
        dependencies=strict,
        responses=_ERRORS,
    )
    async def get_runs(
        principal: Reader,
        store: StoreDep,
        filters: Annotated[_RunFilters, Depends()],
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        include_deleted: Annotated[
            bool, Query(description="Also list runs whose events are all deleted.")
        ] = False,
    ) -> JSONResponse:
        """Runs that have an event matching every filter, by their newest event.

        Each run comes with its first and last time, users, sessions, models,
        event counts, tokens, cost and status, summed over the whole run.
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
        return _json_response(
            {
                "items": [_row_out(r) for r in page.items],
                "next_cursor": page.next_cursor,
            }
        )

    @app.get(
        "/v1/runs/{run_id:path}",
        summary="Read a run as a tree",
        response_model=RunOut,
        dependencies=strict,
        responses=_ERRORS,
    )
    async def get_run(
        run_id: Annotated[str, PathParam(max_length=1000)],
        principal: Reader,
        store: StoreDep,
        include_deleted: bool = False,
        payloads: Annotated[
            bool,
            Query(
                description="Include content, input, output, metadata, source and "
                "tool arguments and results; when false, each node names the "
                "ones it has in payload_fields, to read with GET /v1/events/{id}."
            ),
        ] = True,
    ) -> JSONResponse:
        """The run's events as trees by ``parent_id``, with the run's summary."""
        repo = store.scoped(principal)

        def load() -> tuple[list[RunNode], bool, Document | None]:
            events = repo.iter_events(
                run_id=run_id,
                include_deleted=include_deleted,
                load_large_values=payloads,
            )
            with translated("get_run"):
                taken = list(islice(events, MAX_RUN_EVENTS + 1))
            truncated = len(taken) > MAX_RUN_EVENTS
            roots = build_tree(taken[:MAX_RUN_EVENTS])
            summary = run_summaries(repo, [run_id], include_deleted=include_deleted)
            return roots, truncated, summary.get(run_id)

        roots, truncated, summary = await store.call(load)
        if not roots or summary is None:
            raise ApiError(
                404,
                "not_found",
                f"no run {run_id[:80]!r} in this project",
                field="run_id",
            )
        return _json_response(
            {
                "run_id": run_id,
                "summary": _row_out(summary),
                "roots": [_tree_out(root, payloads) for root in roots],
                "truncated": truncated,
            }
        )


def _add_other_routes(app: FastAPI) -> None:
    strict = [Depends(_strict_query)]

    @app.get(
        "/v1/stats",
        summary="Usage per model, user, day or type",
        response_model=StatsOut,
        dependencies=strict,
        responses=_ERRORS,
    )
    async def get_stats(
        principal: Reader,
        store: StoreDep,
        filters: Annotated[_Filters, Depends()],
        group_by: Literal["model", "user_id", "day", "type"] = "model",
    ) -> JSONResponse:
        """Events, tokens and cost summed per group; deleted events left out."""
        repo = store.scoped(principal)
        rows = await store.call(repo.usage_stats, group_by=group_by, **filters.given())
        return _json_response(
            {"group_by": group_by, "rows": [_row_out(r) for r in rows]}
        )

    @app.get(
        "/v1/stats/daily",
        summary="Usage per day and model",
        response_model=DailyOut,
        dependencies=strict,
        responses=_ERRORS,
    )
    async def get_daily(
        principal: Reader,
        store: StoreDep,
        filters: Annotated[_Filters, Depends()],
    ) -> JSONResponse:
        """Events, tokens and cost per UTC day and model name."""
        repo = store.scoped(principal)
        rows = await store.call(daily_usage, repo, **filters.given())
        return _json_response({"rows": [_row_out(r) for r in rows]})

    @app.get(
        "/v1/whoami",
        summary="The key behind the request",
        response_model=WhoAmI,
        dependencies=strict,
        responses=_ERRORS,
    )
    async def whoami(request: Request, principal: Reader) -> JSONResponse:
        """The project and role of the request's key."""
        keyring: KeyRing = request.app.state.keyring
        return _json_response(
            {
                "project": principal.project,
                "role": principal.role.label,
                "name": principal.name,
                "auth": keyring.required,
            }
        )

    @app.get(
        "/healthz",
        summary="Whether the database answers",
        response_model=Health,
        dependencies=strict,
        responses={503: {"model": Health}},
    )
    async def healthz(store: StoreDep) -> JSONResponse:
        """200 when the database answers a ping, 503 when it does not."""
        repo = store.repository

        def ping() -> None:
            with translated("ping"):
                repo.collection.database.client.admin.command("ping")

        try:
            await store.call(ping)
        except MongoAILogsError as exc:
            logger.warning("health check failed: %s", exc)
            return _json_response({"status": "unavailable", "database": "down"}, 503)
        return _json_response({"status": "ok", "database": "up"})


def _add_viewer(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False, dependencies=[Depends(_strict_query)])
    async def index() -> FileResponse:
        return FileResponse(_STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")


def _custom_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        event_schema = AgentLogEvent.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, definition in event_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["AgentLogEvent"] = event_schema
        components["PurgeIn"] = PurgeIn.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
