"""What wraps every request: body size, host and origin checks, and headers.

- A body larger than the limit is refused with 413 while it is read: a
  ``Content-Length`` over the limit is refused before any byte is read, and a
  body sent without one (chunked) is counted as it arrives and cut off at the
  limit, so an oversized request never sits whole in memory.
- Without API keys the service answers only requests addressed to a loopback
  name (``Host: 127.0.0.1``, ``localhost``, ``[::1]``), which keeps web pages
  from reaching it by making a name of theirs resolve to 127.0.0.1.
- A request that changes data and carries an ``Origin`` other than the
  service's own is refused, so a page on another site cannot make a
  browser post, delete or purge on its behalf.
- Every response says ``nosniff`` and may not be framed; the API's answers
  are not cached, and the viewer's pages may load nothing but the service's
  own files (a Content-Security-Policy), so logged content that holds markup
  cannot run as script.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from mongo_ai_logs.server._auth import host_of, is_loopback_host

__all__ = ["BodyTooLargeError", "RequestGuard"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNSAFE_METHODS = frozenset(["POST", "PUT", "PATCH", "DELETE"])
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_API_HEADERS = [*_COMMON_HEADERS, (b"cache-control", b"no-store")]
_PAGE_HEADERS = [*_COMMON_HEADERS, (b"content-security-policy", _CSP.encode())]


class BodyTooLargeError(HTTPException):
    """The request body passed the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than the limit of {limit:,} bytes "
            "(AI_LOGS_API_MAX_BODY_BYTES); send the events in smaller batches",
        )
        self.limit = limit


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class RequestGuard:
    """ASGI middleware applying the checks of the module docstring.

    Args:
        app: The application to guard.
        max_body_bytes: The largest body accepted.
        loopback_only: Answer only requests addressed to a loopback host.
    """

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, loopback_only: bool
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        host = _header(scope, b"host") or ""
        if self.loopback_only and not is_loopback_host(host_of(host)):
            await _refuse(
                send,
                403,
                "wrong_host",
                "this service has no API keys, so it answers only requests "
                "addressed to 127.0.0.1 or localhost",
            )
            return

        origin = _header(scope, b"origin")
        if scope["method"] in _UNSAFE_METHODS and origin is not None:
            authority = origin.partition("://")[2]
            if origin == "null" or authority.lower() != host.lower():
                await _refuse(
                    send,
                    403,
                    "cross_origin",
                    "requests that change data are accepted from this "
                    "service's own pages only",
                )
                return

        length = _header(scope, b"content-length")
        if length is not None:
            try:
                too_large = int(length) > self.max_body_bytes
            except ValueError:
                too_large = False
            if too_large:
                error = BodyTooLargeError(self.max_body_bytes)
                await _refuse(send, 413, "body_too_large", str(error.detail))
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        extra = _API_HEADERS if scope["path"].startswith("/v1/") else _PAGE_HEADERS

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {bytes(k).lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in extra if h[0] not in present),
                ]
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError as exc:
            if started:
                raise
            await _refuse(send, 413, "body_too_large", str(exc.detail))


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
                *_API_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
