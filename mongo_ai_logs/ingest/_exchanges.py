"""LLM provider exchanges: one request and its response per record.

A record is ``{"request": ..., "response": ..., "status": ...}``, the pair a
logging middleware around an LLM client sees, or a bare response. The
response may be an OpenAI ``chat.completion``, an OpenAI Responses
``response`` or an Anthropic ``message``; :mod:`mongo_ai_logs.providers`
reads its model, usage, finish reason and tool calls.

Each record becomes one ``llm_call`` event that keeps the request as its
``input`` and the whole response as its ``output``, unchanged. A non-2xx
status (or a response that is an error) becomes an event with status
``error``. The records of a file form one run, named after the content of
its first record, so that records appended to the file later join the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mongo_ai_logs.ingest._detect import is_provider_response
from mongo_ai_logs.ingest._reading import Value
from mongo_ai_logs.ingest._records import (
    ContentIds,
    ParsedRecord,
    RecordError,
    content_digest,
    event,
    leftover,
)
from mongo_ai_logs.providers import LLMResponse, describe_error, describe_response

__all__ = ["parse"]

FORMAT = "exchanges"

# Request fields that are the call's payload rather than its settings.
_PAYLOAD = frozenset(
    ["messages", "input", "model", "tools", "system", "instructions", "prompt"]
)
_WRAPPER = frozenset(["request", "response", "status"])
_MAX_ERROR_MESSAGE = 1000


def parse(values: Iterable[Value]) -> Iterator[ParsedRecord]:
    """Read each value as one exchange."""
    ids = ContentIds()
    run_id: str | None = None
    for position, value in enumerate(values, start=1):
        location = value.location or "record 1"
        if value.error is not None:
            yield ParsedRecord(location, error=value.error)
            continue
        try:
            if run_id is None and isinstance(value.data, Mapping):
                run_id = content_digest(value.data)
            yield ParsedRecord(
                location, event=_exchange(value.data, run_id, position, ids)
            )
        except RecordError as exc:
            yield ParsedRecord(location, error=str(exc))


def _exchange(
    data: Any, run_id: str | None, position: int, ids: ContentIds
) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise RecordError(f"expected an exchange object, got {type(data).__name__}")
    if "response" in data and ("request" in data or "status" in data):
        request, response = data.get("request"), data.get("response")
        status = _status(data.get("status"))
        fields = leftover(data, _WRAPPER)
    elif is_provider_response(data):
        request, response, status, fields = None, data, None, None
    else:
        raise RecordError(
            "not an exchange: expected 'request' and 'response', or an OpenAI "
            "or Anthropic response"
        )

    described = _describe(response)
    failed = _failed(status, response)
    source_id = None
    if described is not None and described.response_id:
        source_id = str(described.response_id)
    error = None
    if failed:
        error = describe_error(response)
        if "type" not in error and status is not None:
            error["type"] = f"HTTP {status}"
        if len(error.get("message", "")) > _MAX_ERROR_MESSAGE:
            error["message"] = error["message"][:_MAX_ERROR_MESSAGE] + "..."

    return event(
        type="llm_call",
        run_id=run_id,
        seq=position,
        model=_model(request, described),
        input=request,
        output=response,
        usage=(described.usage or None) if described else None,
        status="error" if failed else "ok",
        error=error,
        started_at=described.created_at if described else None,
        metadata=event(
            http_status=status,
            finish_reason=described.finish_reason if described else None,
            tool_calls=(described.tool_calls or None) if described else None,
        )
        or None,
        source=event(format=FORMAT, id=source_id or ids(data), fields=fields),
    )


def _status(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"status: not an HTTP status code: {value!r}")
    return value


def _failed(status: int | None, response: Any) -> bool:
    if status is not None and not 200 <= status < 300:
        return True
    return isinstance(response, Mapping) and bool(response.get("error"))


def _describe(response: Any) -> LLMResponse | None:
    if not isinstance(response, Mapping) or not is_provider_response(response):
        return None
    return describe_response(response)


def _model(request: Any, described: LLMResponse | None) -> dict[str, Any] | None:
    settings = None
    requested = None
    if isinstance(request, Mapping):
        requested = request.get("model")
        settings = {k: v for k, v in request.items() if k not in _PAYLOAD} or None
    model = event(
        provider=described.provider if described else None,
        name=(described.model if described else None) or requested,
        parameters=settings,
    )
    return model or None
