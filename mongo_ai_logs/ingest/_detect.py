"""Telling a file's format from its first JSON value.

Each format has keys no other one has at its top level, checked from the
most specific to the least: our own exported events first when they carry
an event id, since their free fields could hold any other name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from mongo_ai_logs.ids import parse_event_id
from mongo_ai_logs.models import EventType

__all__ = ["classify", "is_exchange", "is_provider_response"]

_EVENT_TYPES = frozenset(get_args(EventType))
_PROVIDER_OBJECTS = frozenset(["chat.completion", "response"])


def classify(value: Any) -> str | None:
    """The format whose records look like ``value``, or ``None``."""
    if not isinstance(value, Mapping):
        return None
    if _is_event(value) and parse_event_id(value.get("_id")) is not None:
        return "events"
    if isinstance(value.get("trajectory"), list):
        return "sweagent"
    if isinstance(value.get("trace"), Mapping) or (
        isinstance(value.get("observations"), list) and "id" in value
    ):
        return "langfuse"
    if _is_langsmith(value):
        return "langsmith"
    if isinstance(value.get("conversations"), list):
        return "sharegpt"
    if is_exchange(value):
        return "exchanges"
    if _is_event(value):
        return "events"
    return None


def is_exchange(value: Mapping[str, Any]) -> bool:
    """Whether ``value`` is a recorded exchange or a bare provider response."""
    if "response" in value and ("request" in value or "status" in value):
        return True
    return is_provider_response(value)


def is_provider_response(value: Mapping[str, Any]) -> bool:
    """Whether ``value`` is an OpenAI or Anthropic response body.

    Stricter than :func:`mongo_ai_logs.providers.detect_api`, which reads any
    dict it is handed: here an event of type ``message`` must not pass for an
    Anthropic message, so the provider's own fields are required.
    """
    kind = value.get("object")
    if isinstance(kind, str) and kind in _PROVIDER_OBJECTS:
        return True
    return (
        value.get("type") == "message"
        and value.get("role") == "assistant"
        and isinstance(value.get("model"), str)
        and isinstance(value.get("content"), list)
        and "stop_reason" in value
    )


def _is_event(value: Mapping[str, Any]) -> bool:
    kind = value.get("type")
    return isinstance(kind, str) and kind in _EVENT_TYPES


def _is_langsmith(value: Mapping[str, Any]) -> bool:
    if any(isinstance(value.get(key), list) for key in ("post", "patch")):
        return True
    return "dotted_order" in value or ("run_type" in value and "id" in value)
