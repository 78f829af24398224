"""Freezing a payload at the moment it is recorded, cheaply.

Agent code keeps changing the objects it logs (a list of messages grows after
each turn), and events are written later, on another thread. So each payload
is copied when it is recorded. The copy is a pickle made by the C pickler,
a few microseconds for a typical list of messages, and is turned back into
objects on the writer's thread. Objects of provider SDKs (anything with
``model_dump()`` or ``to_dict()``) become plain dicts in the copy. A payload
that cannot be pickled is copied by walking it instead, keeping what it cannot
copy by reference.

The length of the pickle also measures the payload, which bounds the memory
the writer's queue holds.
"""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["Frozen", "freeze", "snapshot", "thaw"]

_ATOMS = (int, float, bool, type(None))
_NODE_BYTES = 16


class Frozen:
    """A pickled copy of a payload, told apart from the caller's own bytes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # Called only for objects that are not plain str/int/float/dict/list/
        # tuple/set, so the common case runs at the C pickler's speed.
        dumped = _as_dict(obj)
        if dumped is not None:
            return (dict, (dumped,))
        return NotImplemented


def _as_dict(obj: Any) -> dict[str, Any] | None:
    if isinstance(obj, type):
        return None
    for method in ("model_dump", "to_dict"):
        dump = getattr(obj, method, None)
        if callable(dump):
            try:
                dumped = dump()
            except Exception:
                return None
            return dict(dumped) if isinstance(dumped, Mapping) else None
    return None


class _ThreadPickler(threading.local):
    """One pickler per thread, reused: making one costs as much as using it."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.pickler = _Pickler(self.buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self.busy = False

    def dumps(self, value: Any) -> bytes:
        if self.busy:  # a model_dump() that records an event while frozen
            buffer = io.BytesIO()
            _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
            return buffer.getvalue()
        self.busy = True
        try:
            self.pickler.dump(value)
            return self.buffer.getvalue()
        finally:
            self.buffer.seek(0)
            self.buffer.truncate()
            self.pickler.clear_memo()
            self.busy = False


_pickler = _ThreadPickler()


def freeze(value: Any) -> tuple[Any, int]:
    """Return a copy of ``value`` to keep (see :func:`thaw`) and its size."""
    kind = type(value)
    if kind is str:
        return value, len(value) + _NODE_BYTES
    if kind in _ATOMS:
        return value, _NODE_BYTES
    try:
        data = _pickler.dumps(value)
    except Exception:
        return snapshot(value)
    return Frozen(data), len(data)


def thaw(value: Any) -> Any:
    """Undo :func:`freeze`."""
    if type(value) is Frozen:
        return pickle.loads(value.data)
    return value


def snapshot(value: Any) -> tuple[Any, int]:
    """Copy ``value`` by walking it: dicts and lists are copied, the rest kept."""
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
    size[0] += _NODE_BYTES
    if kind is dict or isinstance(value, Mapping):
        return {k: _copy(v, size, depth + 1) for k, v in value.items()}
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        return [_copy(v, size, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        size[0] += len(data)
        return data
    if isinstance(value, (set, frozenset)):
        return type(value)(_copy(v, size, depth + 1) for v in value)
    dumped = _as_dict(value)
    if dumped is not None:
        return _copy(dumped, size, depth)
    return value
