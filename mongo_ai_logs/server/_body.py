"""JSON in and out of the service.

Request bodies are read as strict JSON: ``NaN`` and ``Infinity`` are refused,
and so is a number too large for a 64-bit float, which Python's parser would
otherwise turn into infinity. Values JSON has no type for come in and go out
as the %-markers of :mod:`mongo_ai_logs.jsonl`, so what is read back is what
was stored. Parsing runs on a worker thread, so a large body does not hold up
other requests.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from mongo_ai_logs.jsonl import from_jsonable, to_jsonable
from mongo_ai_logs.server._errors import ApiError

__all__ = [
    "decode_event",
    "event_out",
    "read_json",
    "row_out",
]

Document = dict[str, Any]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} does not fit in a 64-bit float")
    return value


def parse_json(raw: bytes | str) -> Any:
    """Parse strict JSON; raise ``ValueError`` on anything else."""
    try:
        return json.loads(
            raw, parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None


async def read_json(request: Request) -> Any:
    """The request's JSON body.

    Raises:
        ApiError: 415 when the body is not declared as JSON, 400 when it is
            empty or not valid JSON. A body over the limit is refused with 413
            by :class:`~mongo_ai_logs.server._guard.RequestGuard` as it is read.
    """
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as application/json, got {media or 'no content type'!r}",
        )
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the request body is empty")
    try:
        data = await run_in_threadpool(parse_json, raw)
    except ValueError as exc:
        raise ApiError(
            400, "invalid_json", f"the body is not valid JSON: {exc}"
        ) from None
    return data


def decode_event(data: Any) -> Document:
    """Turn one event (or a change) as JSON into the caller's dict.

    Raises:
        ValueError: ``data`` is not an object, or a %-marker is malformed.
    """
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise ValueError(f"an event must be a JSON object, got {kind}")
    try:
        return from_jsonable(data)
    except RecursionError:
        raise ValueError("the event is nested too deeply to read") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"a %-marker is not valid: {exc}") from None


def event_out(event: Mapping[str, Any]) -> Document:
    """An event as JSON, without loss.

    Raises:
        ApiError: 422 when the event is nested too deeply to write (it was
            stored through the library, which accepts deeper payloads).
    """
    try:
        return to_jsonable(event)
    except RecursionError:
        raise ApiError(
            422,
            "too_deep_to_show",
            f"event {event.get('_id')} is nested too deeply to write as JSON; "
            "read it with the library",
        ) from None


def row_out(row: Mapping[str, Any]) -> Document:
    """A summary or statistics row as JSON: datetimes as ISO 8601 strings.

    A sum that overflowed to infinity is written as a ``%float`` marker.
    """
    out: Document = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            out[key] = value.isoformat()
        elif isinstance(value, float) and not math.isfinite(value):
            out.update(to_jsonable({key: value}))
        elif value is None or isinstance(value, (str, int, float, list)):
            out[key] = value
        else:
            out.update(to_jsonable({key: value}))
    return out
