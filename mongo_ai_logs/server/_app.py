"""The FastAPI application: its routes, guards, headers and the viewer.

Requests pass through :class:`RequestGuard` (host, origin, body size and
the security headers of the answer) before a route. Every route reaches the
events through ``repository.for_project(project)``, where the project is the
one of the request's API key. Events leave the service through
:func:`mongo_ai_logs.jsonl.to_jsonable` and come in through
:func:`~mongo_ai_logs.jsonl.from_jsonable`, so any value the library stores
makes the round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

from mongo_ai_logs import __version__
from mongo_ai_logs.agent_log_repository import AgentLogRepository
from mongo_ai_logs.client import MongoConnection
from mongo_ai_logs.config import Settings
from mongo_ai_logs.models import AgentLogEvent
from mongo_ai_logs.server import _routes_events, _routes_runs
from mongo_ai_logs.server._auth import KeyRing
from mongo_ai_logs.server._deps import Store, strict_query
from mongo_ai_logs.server._errors import install_error_handlers
from mongo_ai_logs.server._guard import RequestGuard
from mongo_ai_logs.server._schemas import PurgeIn
from mongo_ai_logs.server._settings import ServerSettings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_STATIC = Path(__file__).with_name("static")


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
            ``settings``; its own project is not used, since each request is
            bound to the project of its key.

    Raises:
        ConfigurationError: The settings cannot work.
        ConnectionFailedError: The database did not answer within the timeout.
    """
    if server_settings is None:
        server_settings = ServerSettings.load()
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
    app.state.store = Store(repository)
    app.state.keyring = KeyRing(server_settings)
    app.state.server_settings = server_settings

    install_error_handlers(app)
    app.include_router(_routes_events.router)
    app.include_router(_routes_runs.router)
    _add_viewer(app)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=server_settings.max_body_bytes,
        loopback_only=not server_settings.auth_required,
    )
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _add_viewer(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False, dependencies=[Depends(strict_query)])
    async def index() -> FileResponse:
        return FileResponse(_STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The document of ``app``, with the event's schema for request bodies."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        template = "#/components/schemas/{model}"
        for model in (AgentLogEvent, PurgeIn):
            schema = model.model_json_schema(ref_template=template)
            for name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            schemas[model.__name__] = schema
        app.openapi_schema = document
        return document

    return openapi
