"""Events as JSON: the format of ``export``, the service and the viewer.

An event read back from the repository can hold values JSON has no type for:
datetimes, bytes, ``Decimal``, sets, NaN, UUIDs. They are written as one-key
objects whose key starts with ``%``, the same markers the storage codec uses,
so an exported event reads back equal to the original:

=====================  ==========================================
Python value           JSON
=====================  ==========================================
``datetime``           ``{"%datetime": "2025-01-31T12:00:00.123+00:00"}``
``date``               ``{"%date": "2025-01-31"}``
``bytes``              ``{"%bytes": "<base64>"}``
``Decimal``            ``{"%decimal": "1.10"}``
``set``/``frozenset``  ``{"%set": […]}`` / ``{"%frozenset": […]}``
NaN, ±infinity         ``{"%float": "nan"}``, ``{"%float": "inf"}``
``UUID``               ``{"%uuid": "…"}``
``ObjectId``           ``{"%oid": "…"}`` (the event's own ``_id`` is a string)
unpaired surrogates    ``{"%text": "<base64 of the text's bytes>"}``
=====================  ==========================================

The event's own datetime fields (``started_at``, ``created_at``, ...) are
written as plain ISO 8601 strings, which read better and which the event
model parses back. A payload key that itself starts with ``%`` is written with
``%25`` in place of that ``%``, so it is never taken for a marker.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bson.errors import BSONError
from bson.objectid import ObjectId

from mongo_ai_logs.codec import set_member

__all__ = [
    "TOP_LEVEL_DATETIMES",
    "dumps",
    "from_jsonable",
    "loads",
    "nested_deeper_than",
    "to_jsonable",
]

_SURROGATE = re.compile("[\ud800-\udfff]")

TOP_LEVEL_DATETIMES = frozenset(
    ["started_at", "ended_at", "created_at", "updated_at", "deleted_at"]
)


def _key(key: str) -> str:
    return "%25" + key[1:] if key.startswith("%") else key


def _unkey(key: str) -> str:
    return "%" + key[3:] if key.startswith("%25") else key


def _value(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        if value.isascii() or not _SURROGATE.search(value):
            return value
        raw = value.encode("utf-8", "surrogatepass")
        return {"%text": base64.b64encode(raw).decode("ascii")}
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        return {
            "%float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        }
    if isinstance(value, Mapping):
        return {_key(str(k)): _value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    if isinstance(value, dt.datetime):
        return {"%datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"%date": value.isoformat()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"%bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return {"%decimal": str(value)}
    if isinstance(value, (set, frozenset)):
        tag = "%set" if isinstance(value, set) else "%frozenset"
        return {tag: [_value(v) for v in value]}
    if isinstance(value, uuid.UUID):
        return {"%uuid": str(value)}
    if isinstance(value, ObjectId):
        return {"%oid": str(value)}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _value(float(value))
    return str(value)


def to_jsonable(event: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``event`` as data that ``json.dumps`` writes without loss."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        if key in TOP_LEVEL_DATETIMES and isinstance(value, dt.datetime):
            out[key] = value.isoformat()
        elif key == "_id" and isinstance(value, ObjectId):
            out[key] = str(value)
        else:
            out[_key(str(key))] = _value(value)
    return out


def _restore(value: Any) -> Any:
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag.startswith("%") and not tag.startswith("%25"):
            if tag not in _MARKERS:
                raise ValueError(f"unknown marker {tag!r}")
            try:
                return _restore_marker(tag, inner)
            except (ValueError, TypeError, AttributeError, BSONError) as exc:
                # ObjectId("x"), a dict inside "%set", uuid.UUID(5), ...
                raise ValueError(f"bad {tag} marker {_preview(inner)}: {exc}") from None
            except ArithmeticError:  # Decimal("abc")
                raise ValueError(
                    f"bad {tag} marker {_preview(inner)}: not a decimal number"
                ) from None
    return {_unkey(k): _restore(v) for k, v in value.items()}


_MARKERS = frozenset(
    ["%datetime", "%date", "%bytes", "%decimal", "%set", "%frozenset", "%float",
     "%uuid", "%oid", "%text"]
)  # fmt: skip


def _restore_marker(tag: str, inner: Any) -> Any:
    if tag == "%datetime":
        return dt.datetime.fromisoformat(inner)
    if tag == "%date":
        return dt.date.fromisoformat(inner)
    if tag == "%bytes":
        return base64.b64decode(inner, validate=True)
    if tag == "%decimal":
        return Decimal(inner)
    if tag == "%set":
        return {set_member(_restore(v)) for v in inner}
    if tag == "%frozenset":
        return frozenset(set_member(_restore(v)) for v in inner)
    if tag == "%float":
        return float(inner)
    if tag == "%uuid":
        return uuid.UUID(inner)
    if tag == "%oid":
        return ObjectId(inner)
    assert tag == "%text", tag
    return base64.b64decode(inner, validate=True).decode("utf-8", "surrogatepass")


def _preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=repr)
    return text if len(text) <= 40 else f"{text[:37]}..."


def from_jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    """Undo :func:`to_jsonable`, top-level datetimes included.

    Raises:
        ValueError: A marker is unknown or its value malformed.
    """
    event = {_unkey(k): _restore(v) for k, v in data.items()}
    for key in TOP_LEVEL_DATETIMES & event.keys():
        if isinstance(event[key], str):
            event[key] = dt.datetime.fromisoformat(event[key])
    return event


def dumps(event: Mapping[str, Any]) -> str:
    """One line of JSON for ``event``, without loss (see the module docstring)."""
    return json.dumps(to_jsonable(event), ensure_ascii=False, separators=(",", ":"))


def loads(line: str) -> dict[str, Any]:
    """Read one line written by :func:`dumps`.

    Raises:
        ValueError: The line is not JSON, not an object, or has a bad marker.
    """
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("an event must be a JSON object")
    return from_jsonable(data)


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` holds more than ``limit`` levels of dicts and lists.

    Measured without recursion, so that a value of any depth can be checked
    before code that recurses into it.
    """
    if not isinstance(value, (dict, list)):
        return False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list)):
                pending.append((child, depth + 1))
    return False
