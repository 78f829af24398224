"""Reading LLM provider responses without importing any provider SDK.

Three response shapes are understood, as dicts or as the SDKs' objects (any
object with ``model_dump()``, ``to_dict()`` or ``dict()``):

- OpenAI Chat Completions, ``{"object": "chat.completion", "choices": …}``;
- OpenAI Responses, ``{"object": "response", "output": […]}``;
- Anthropic Messages, ``{"type": "message", "content": […]}``.

Token counts are put on one scale, the one of the OpenTelemetry GenAI
conventions: ``input_tokens`` counts every input token, cached ones included,
and ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` say how many
of them hit or filled the cache. OpenAI already counts this way; Anthropic's
``input_tokens`` leaves cached tokens out, so they are added. Counts a response
does not report are left out, never guessed. :func:`describe_usage` reads a
usage dict on its own, LangChain's ``usage_metadata`` included, and
:func:`describe_error` reads the error body of a failed call.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mongo_ai_logs.codec import MAX_PAYLOAD_NESTING
from mongo_ai_logs.jsonl import nested_deeper_than

__all__ = [
    "LLMResponse",
    "as_dict",
    "describe_error",
    "describe_response",
    "describe_usage",
    "detect_api",
]

Api = Literal["openai.chat", "openai.responses", "anthropic.messages"]


@dataclass
class LLMResponse:
    """What a provider response says about one LLM call.

    Attributes:
        api: Which shape the response had.
        provider: ``"openai"`` or ``"anthropic"`` (``gen_ai.system``).
        model: The model that answered, as the provider names it.
        response_id: The provider's id of the response.
        output: The assistant's answer: its text when the answer is text only,
            otherwise the provider's list of output items or content blocks.
        finish_reason: Why generation stopped (``stop``, ``tool_calls``,
            ``end_turn``, ``tool_use``, ...).
        tool_calls: Tools the model asked for: ``name``, ``call_id``,
            ``arguments`` (parsed from JSON when the provider sent a string).
        usage: Token counts with the names of the event's ``usage`` field.
        created_at: When the provider says the response was made, if it does.
        reasoning: Reasoning or thinking text the response carries, if any.
    """

    api: Api
    provider: str
    model: str | None
    response_id: str | None
    output: Any
    finish_reason: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    reasoning: str | None = None


def as_dict(response: Any) -> dict[str, Any]:
    """Return a provider response (dict or SDK object) as a plain dict.

    Raises:
        TypeError: ``response`` is neither a mapping nor an object that can
            give one.
    """
    if isinstance(response, Mapping):
        return dict(response)
    for method in ("model_dump", "to_dict", "dict"):
        dump = getattr(response, method, None)
        if callable(dump):
            value = dump()
            if isinstance(value, Mapping):
                return dict(value)
    raise TypeError(f"cannot read a provider response from {type(response).__name__}")


def detect_api(response: Mapping[str, Any]) -> Api | None:
    """Tell which provider shape ``response`` has, or ``None``."""
    kind = response.get("object")
    if kind == "chat.completion" or (kind is None and "choices" in response):
        return "openai.chat"
    if kind == "response" or (
        kind is None and isinstance(response.get("output"), list)
    ):
        return "openai.responses"
    if response.get("type") == "message" and "content" in response:
        return "anthropic.messages"
    return None


def describe_response(response: Any) -> LLMResponse:
    """Read model, output, finish reason, tool calls and usage from a response.

    Raises:
        ValueError: The response has none of the known shapes.
        TypeError: See :func:`as_dict`.
    """
    data = as_dict(response)
    api = detect_api(data)
    if api == "openai.chat":
        return _openai_chat(data)
    if api == "openai.responses":
        return _openai_responses(data)
    if api == "anthropic.messages":
        return _anthropic(data)
    raise ValueError(
        "not a known provider response: expected an OpenAI chat.completion or "
        "response, or an Anthropic message"
    )


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _get(data: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    """The dicts of a list; nothing when ``value`` is not a list."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _usage(**counts: int | None) -> dict[str, int]:
    return {name: value for name, value in counts.items() if value is not None}


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            return raw
        # Arguments nested deeper than the library stores stay text, which
        # the storage and every reader of the event can handle.
        return raw if nested_deeper_than(parsed, MAX_PAYLOAD_NESTING) else parsed
    return raw


def _epoch(value: Any) -> dt.datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    return None


def _openai_chat(data: Mapping[str, Any]) -> LLMResponse:
    choices = data.get("choices")
    first = _mapping(choices[0] if isinstance(choices, list) and choices else None)
    message = _mapping(first.get("message"))
    tool_calls = [
        {
            "name": _get(call, "function", "name"),
            "call_id": call.get("id"),
            "arguments": _arguments(_get(call, "function", "arguments")),
        }
        for call in _mappings(message.get("tool_calls"))
    ]
    return LLMResponse(
        api="openai.chat",
        provider="openai",
        model=data.get("model"),
        response_id=data.get("id"),
        output=message.get("content"),
        finish_reason=first.get("finish_reason"),
        tool_calls=tool_calls,
        usage=_chat_usage(data.get("usage")),
        created_at=_epoch(data.get("created")),
        reasoning=message.get("reasoning_content") or None,
    )


def _openai_responses(data: Mapping[str, Any]) -> LLMResponse:
    items = _mappings(data.get("output"))
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            for part in _mappings(item.get("content")):
                if part.get("type") == "output_text":
                    texts.append(str(part.get("text", "")))
        elif kind == "reasoning":
            for part in _mappings(item.get("summary")):
                if part.get("text"):
                    reasoning.append(str(part["text"]))
        elif kind == "function_call":
            tool_calls.append(
                {
                    "name": item.get("name"),
                    "call_id": item.get("call_id"),
                    "arguments": _arguments(item.get("arguments")),
                }
            )
    only_text = all(item.get("type") in ("message", "reasoning") for item in items)
    status = data.get("status")
    finish_reason = "tool_calls" if tool_calls else status
    incomplete = _get(data, "incomplete_details", "reason")
    if incomplete:
        finish_reason = str(incomplete)
    return LLMResponse(
        api="openai.responses",
        provider="openai",
        model=data.get("model"),
        response_id=data.get("id"),
        output="".join(texts) if only_text and texts else list(items),
        finish_reason=finish_reason,
        tool_calls=tool_calls,
        usage=_responses_usage(data.get("usage")),
        created_at=_epoch(data.get("created_at")),
        reasoning="\n\n".join(reasoning) or None,
    )


def _anthropic(data: Mapping[str, Any]) -> LLMResponse:
    blocks = _mappings(data.get("content"))
    texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
    thinking = [
        str(b.get("thinking", "")) for b in blocks if b.get("type") == "thinking"
    ]
    tool_calls = [
        {"name": b.get("name"), "call_id": b.get("id"), "arguments": b.get("input")}
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    only_text = all(
        b.get("type") in ("text", "thinking", "redacted_thinking") for b in blocks
    )
    return LLMResponse(
        api="anthropic.messages",
        provider="anthropic",
        model=data.get("model"),
        response_id=data.get("id"),
        output="".join(texts) if only_text and texts else list(blocks),
        finish_reason=data.get("stop_reason"),
        tool_calls=tool_calls,
        usage=_anthropic_usage(data.get("usage")),
        reasoning="\n\n".join(thinking) or None,
    )


def describe_usage(usage: Any) -> dict[str, int]:
    """Put a usage dict of any known shape on the event's ``usage`` scale.

    The shape is told from the key names: OpenAI Chat Completions
    (``prompt_tokens``), OpenAI Responses (``input_tokens_details``),
    Anthropic Messages (``cache_read_input_tokens``, which ``input_tokens``
    leaves out) and LangChain's ``usage_metadata`` (``input_token_details``).
    A dict with only ``input_tokens`` and ``output_tokens`` reads the same in
    each of them. Counts that are missing or not whole numbers are left out;
    anything that is not a mapping gives an empty dict.
    """
    if not isinstance(usage, Mapping):
        return {}
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return _chat_usage(usage)
    if "input_token_details" in usage or "output_token_details" in usage:
        return _langchain_usage(usage)
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        return _anthropic_usage(usage)
    return _responses_usage(usage)


def describe_error(body: Any) -> dict[str, str]:
    """Read the type and message of a provider's error response body.

    Understands OpenAI's ``{"error": {"type", "code", "message"}}``,
    Anthropic's ``{"type": "error", "error": {"type", "message"}}`` and the
    looser ``{"error": "..."}``, ``{"message": "..."}`` or ``{"detail": ...}``
    bodies of gateways and proxies. A body that is plain text is the message.
    Returns a dict with ``type`` and ``message`` when the body says them.
    """
    if isinstance(body, str):
        return {"message": body} if body else {}
    if not isinstance(body, Mapping):
        return {}
    error = body.get("error")
    if isinstance(error, Mapping):
        kind = error.get("type") or error.get("code")
        message = error.get("message")
    elif isinstance(error, str):
        kind, message = None, error
    else:
        kind = None if body.get("type") == "error" else body.get("type")
        message = body.get("message") or body.get("detail")
    described: dict[str, str] = {}
    if kind:
        described["type"] = str(kind)
    if message:
        described["message"] = (
            message if isinstance(message, str) else json.dumps(message)
        )
    return described


def _chat_usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, Mapping):
        return {}
    return _usage(
        input_tokens=_int(usage.get("prompt_tokens")),
        output_tokens=_int(usage.get("completion_tokens")),
        total_tokens=_int(usage.get("total_tokens")),
        cache_read_input_tokens=_int(
            _get(usage, "prompt_tokens_details", "cached_tokens")
        ),
        reasoning_tokens=_int(
            _get(usage, "completion_tokens_details", "reasoning_tokens")
        ),
    )


def _responses_usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, Mapping):
        return {}
    return _usage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        total_tokens=_int(usage.get("total_tokens")),
        cache_read_input_tokens=_int(
            _get(usage, "input_tokens_details", "cached_tokens")
        ),
        reasoning_tokens=_int(_get(usage, "output_tokens_details", "reasoning_tokens")),
    )


def _langchain_usage(usage: Any) -> dict[str, int]:
    # LangChain counts like OpenTelemetry: input_tokens includes cached ones.
    if not isinstance(usage, Mapping):
        return {}
    return _usage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        total_tokens=_int(usage.get("total_tokens")),
        cache_read_input_tokens=_int(_get(usage, "input_token_details", "cache_read")),
        cache_creation_input_tokens=_int(
            _get(usage, "input_token_details", "cache_creation")
        ),
        reasoning_tokens=_int(_get(usage, "output_token_details", "reasoning")),
    )


def _anthropic_usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, Mapping):
        return {}
    fresh = _int(usage.get("input_tokens"))
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_creation = _int(usage.get("cache_creation_input_tokens"))
    output_tokens = _int(usage.get("output_tokens"))
    input_tokens = None
    if fresh is not None:
        input_tokens = fresh + (cache_read or 0) + (cache_creation or 0)
    total = None
    if input_tokens is not None or output_tokens is not None:
        total = (input_tokens or 0) + (output_tokens or 0)
    return _usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
    )
