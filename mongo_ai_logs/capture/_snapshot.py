"""Copying a payload at the moment an event is recorded.

Agent code keeps changing the objects it logs (a list of messages grows after
each turn), and events are written later, on another thread. So the event
keeps its own copy of every dict and list, made on the calling thread; strings,
numbers and other immutable values are shared. Objects of provider SDKs
(anything with ``model_dump()`` or ``to_dict()``) are turned into dicts, so a
response or message object can be logged as it is.

The copy also measures the payload roughly (the length of its strings and
bytes), which bounds the memory the writer's queue holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["snapshot"]

_ATOMS = (str, int, float, bool, type(None))
_NODE_BYTES = 16


def snapshot(value: Any) -> tuple[Any, int]:
    """Return a copy of ``value`` safe to keep, and its approximate size."""
    size = [0]
    return _copy(value, size, 0), size[0]


def _copy(value: Any, size: list[int], depth: int) -> Any:
    kind = type(value)
    if kind is str:
        size[0] += len(value) + _NODE_BYTES
        return value
    if kind in _ATOMS:
        size[0] += _NODE_BYTES
        return value
    if depth > 200:
        # Deeper than the codec stores inline; it packs or refuses it.
        return value
    if kind is dict:
        size[0] += _NODE_BYTES
        return {k: _copy(v, size, depth + 1) for k, v in value.items()}
    if kind is list or kind is tuple:
        size[0] += _NODE_BYTES
        return [_copy(v, size, depth + 1) for v in value]
    return _copy_other(value, size, depth)


def _copy_other(value: Any, size: list[int], depth: int) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        size[0] += len(data) + _NODE_BYTES
        return data
    if isinstance(value, str):
        return _copy(str(value), size, depth)
    if isinstance(value, Mapping):
        size[0] += _NODE_BYTES
        return {k: _copy(v, size, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        size[0] += _NODE_BYTES
        return [_copy(v, size, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        size[0] += _NODE_BYTES
        return type(value)(_copy(v, size, depth + 1) for v in value)
    for method in ("model_dump", "to_dict"):
        dump = getattr(value, method, None)
        if callable(dump) and not isinstance(value, type):
            try:
                dumped = dump()
            except Exception:
                break
            if isinstance(dumped, Mapping):
                return _copy(dumped, size, depth)
            break
    size[0] += _NODE_BYTES
    return value
