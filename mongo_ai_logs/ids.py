"""Event ids: ObjectIds made before the write, so a retry cannot duplicate.

An event's ``_id`` is, in order of preference:

1. the ``_id`` the caller gave (an ``ObjectId`` or its 24-hex string);
2. for an imported event, a digest of its project and ``source``, so importing
   the same file again finds the same ids and adds nothing;
3. otherwise a digest of its project and content, so inserting the same event
   twice, or retrying a write whose reply was lost, stores it once.

Ids from elsewhere (UUIDs, 32-hex trace ids, ``call_…`` tool ids) are never
turned into ObjectIds: they belong in ``source.id``, ``tool.call_id`` or
``metadata``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bson.objectid import ObjectId

__all__ = ["content_event_id", "parse_event_id", "source_event_id"]


def parse_event_id(value: Any) -> ObjectId | None:
    """Return the ObjectId ``value`` names, or ``None`` if it names none.

    Only an ``ObjectId`` or a string of exactly 24 hexadecimal digits is an
    event id; anything else (``"favicon.ico"``, a UUID, ``None``) is not.
    """
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and len(value) == 24:
        try:
            return ObjectId(value)
        except Exception:
            return None
    return None


def _digest_id(*parts: bytes) -> ObjectId:
    digest = hashlib.sha256(b"\x00".join(parts)).digest()
    return ObjectId(digest[:12])


def source_event_id(
    project_id: str | None, source_format: str, source_id: str
) -> ObjectId:
    """The id of the event imported from ``source_id`` of ``source_format``."""
    return _digest_id(
        b"source",
        (project_id or "").encode("utf-8", "surrogatepass"),
        source_format.encode("utf-8", "surrogatepass"),
        source_id.encode("utf-8", "surrogatepass"),
    )


def content_event_id(project_id: str | None, encoded_document: bytes) -> ObjectId:
    """The id of an event with no id or source, from its BSON content."""
    return _digest_id(
        b"content",
        (project_id or "").encode("utf-8", "surrogatepass"),
        encoded_document,
    )
