"""Error responses: every refusal is JSON that says what was wrong.

The body of every error is ``{"error": CODE, "message": TEXT}``, with
``"field"`` when one field is to blame and ``"details"`` for request
validation errors. Library errors map to statuses by kind: refused input is
422, a missing event 404, an unreachable or failing database 503. Anything
else is a bug of the service: it is logged with its traceback and answered
with a 500 that shows no internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mongo_ai_logs.errors import (
    ConnectionFailedError,
    InvalidEventError,
    InvalidFilterError,
    InvalidInputError,
    InvalidUpdateError,
    MongoAILogsError,
    NotFoundError,
    StoreError,
)

__all__ = ["ApiError", "error_response", "install_error_handlers"]

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "database_unavailable",
}


class ApiError(Exception):
    """A refusal with its status, code and message.

    Args:
        status: The HTTP status.
        code: A short stable word for programs (``invalid_json``, ...).
        message: What was wrong, for people.
        field: The field or parameter to blame, when there is one.
        headers: Extra response headers (``WWW-Authenticate`` on 401).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The JSON response of one error."""
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _library_error(exc: MongoAILogsError) -> JSONResponse:
    if isinstance(exc, InvalidInputError):
        code = "invalid_input"
        if isinstance(exc, InvalidEventError):
            code = "invalid_event"
        elif isinstance(exc, InvalidFilterError):
            code = "invalid_filter"
        elif isinstance(exc, InvalidUpdateError):
            code = "invalid_update"
        return error_response(422, code, str(exc), field=exc.field)
    if isinstance(exc, NotFoundError):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, ConnectionFailedError):
        logger.warning("database unreachable: %s", exc)
        return error_response(
            503, "database_unavailable", "the database cannot be reached; retry later"
        )
    if isinstance(exc, StoreError):
        logger.error("database operation failed: %s", exc)
        return error_response(503, "database_error", str(exc))
    logger.error("unexpected library error: %s", exc)
    return error_response(500, "internal_error", "the service failed; see its log")


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "body", "header"):
        parts = parts[1:]
    return ".".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with the JSON body of the module docstring."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(
            exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers
        )

    async def on_library_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MongoAILogsError)
        return _library_error(exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = []
        for error in exc.errors():
            where = _location(error.get("loc", ()))
            details.append({"field": where, "message": str(error.get("msg", ""))})
        first = exc.errors()[0] if exc.errors() else {}
        where = _location(first.get("loc", ()))
        message = f"{where or 'request'}: {first.get('msg', 'invalid')}"
        if "input" in first and first.get("type") != "missing":
            message += f", got {_short(first['input'])}"
        return error_response(
            422, "invalid_request", message, field=where or None, details=details
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such resource: {request.url.path}"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(
            exc.status_code, code, message, headers=getattr(exc, "headers", None)
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception(
            "unhandled error in %s %s", request.method, request.url.path, exc_info=exc
        )
        return error_response(
            500, "internal_error", "the service failed; its log has the details"
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(MongoAILogsError, on_library_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
