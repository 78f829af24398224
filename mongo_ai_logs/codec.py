"""Turning Python payloads into BSON that every MongoDB accepts, and back.

AI logs carry values that MongoDB either refuses or stores differently from
what was given: keys such as ``$ref`` or ``llm.token_count.prompt``, integers
beyond 64 bits, ``Decimal``, sets, microsecond datetimes, JSON nested deeper
than MongoDB's 100 levels, tool outputs of tens of megabytes. mongomock lets
most of them through while a real server refuses them, so the library makes
them all safe itself, the same way on every backend:

- Keys are escaped reversibly: ``%`` becomes ``%25``, ``.`` ``%2E``, a leading
  ``$`` ``%24`` and NUL ``%00``. Escaped keys can be stored, indexed and
  filtered on like any other. Because every ``%`` of a caller's key is escaped,
  a key that starts with a bare ``%`` can only be one of the library's own
  markers below.
- Values BSON cannot hold are wrapped in a one-key marker and unwrapped on
  read: ``{"%int": "…"}`` for integers beyond 64 bits, ``{"%decimal": "…"}``
  for a ``Decimal`` that ``Decimal128`` would round, ``{"%set": […]}`` and
  ``{"%frozenset": […]}``, ``{"%date": "…"}`` for a ``datetime.date``.
- Text with unpaired surrogates (a cut emoji from a JSON ``\ud83d`` escape),
  which UTF-8 and so BSON cannot carry, is kept as ``{"%text": <bytes>}``.
- Datetimes become timezone-aware UTC cut to milliseconds, which is what
  MongoDB keeps; naive datetimes are taken as UTC.
- A subtree that would pass MongoDB's nesting limit of 100 levels is packed
  into one BSON binary value, ``{"%deep": …}``, and unpacked on read. Payloads
  nested more than 200 levels are refused.
- A string or bytes value above the inline size is handled by the caller's
  policy: offloaded into chunks beside the event (``{"%blob": n, …}``) and
  read back whole, truncated to its head with a marker that says so, or
  refused. Values are also offloaded, largest first, when the whole document
  would otherwise pass the 16 MiB limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import bson
from bson.binary import Binary, UuidRepresentation
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId

from mongo_ai_logs.errors import InvalidEventError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_NESTING",
    "MAX_PAYLOAD_NESTING",
    "EncodedDocument",
    "Encoder",
    "decode_document",
    "escape_key",
    "to_utc_millis",
    "unescape_key",
]

MAX_NESTING = 100
"""MongoDB refuses documents nested deeper than this."""

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 - 64 * 1024
"""The 16 MiB BSON limit, less room for the command that carries a document."""

MAX_PAYLOAD_NESTING = 200
"""The deepest nesting the library stores; deeper payloads are refused."""

_PACK_AT = 90
_SURROGATE = re.compile("[\ud800-\udfff]")
_OFFLOAD_CANDIDATE_BYTES = 16 * 1024
_TRUNCATED_HEAD_CHARS = 4096
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PACK_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, uuid_representation=UuidRepresentation.STANDARD
)

LargeValuePolicy = Literal["offload", "truncate", "refuse"]


def escape_key(key: str) -> str:
    """Escape a payload key so that MongoDB stores and queries it literally."""
    if "%" in key:
        key = key.replace("%", "%25")
    if "." in key:
        key = key.replace(".", "%2E")
    if "\x00" in key:
        key = key.replace("\x00", "%00")
    if key.startswith("$"):
        key = "%24" + key[1:]
    return key


def unescape_key(key: str) -> str:
    """Undo :func:`escape_key`."""
    if "%" not in key:
        return key
    return (
        key.replace("%2E", ".")
        .replace("%00", "\x00")
        .replace("%24", "$")
        .replace("%25", "%")
    )


def to_utc_millis(value: dt.datetime) -> dt.datetime:
    """Return ``value`` in UTC, cut to milliseconds; naive values are UTC.

    Raises:
        ValueError: The datetime falls outside years 1 to 9999 once in UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    elif value.utcoffset() != dt.timedelta(0) or value.tzinfo is not dt.timezone.utc:
        try:
            value = value.astimezone(dt.timezone.utc)
        except OverflowError:
            raise ValueError(
                f"{value.isoformat()} falls outside years 1 to 9999 in UTC"
            ) from None
    if value.microsecond % 1000:
        value = value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    return value


@dataclass
class EncodedDocument:
    """A document ready for MongoDB, with the large values taken out of it.

    Attributes:
        document: The document to write.
        blobs: The offloaded values, by the key their marker carries.
    """

    document: dict[str, Any]
    blobs: dict[str, bytes] = field(default_factory=dict)


# A field's path, built lazily as (parent, key) pairs and turned into a dotted
# string only when a message or a candidate needs it: most values never do.
_Path = tuple[Any, Any] | None


def _dotted(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(str(key))
    return ".".join(reversed(parts))


def _short(path: str) -> str:
    """A path short enough for an error message."""
    return path if len(path) <= 80 else f"{path[:40]}...{path[-30:]}"


@dataclass
class _Candidate:
    size: int
    container: dict[str, Any] | list[Any]
    key: Any
    path: _Path


_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_LIMIT = 10_000


def _cached_escape(key: str) -> str:
    escaped = escape_key(key)
    if len(_KEY_CACHE) < _KEY_CACHE_LIMIT and len(key) <= 64:
        _KEY_CACHE[key] = escaped
    return escaped


class Encoder:
    """Encodes one document; see the module docstring for the rules.

    Args:
        large_values: ``"offload"``, ``"truncate"`` or ``"refuse"``.
        max_inline_bytes: Size above which a string or bytes value is large.
    """

    def __init__(self, large_values: LargeValuePolicy, max_inline_bytes: int) -> None:
        self.large_values = large_values
        self.max_inline_bytes = max_inline_bytes

    def encode(
        self, document: Mapping[str, Any], *, blob_prefix: str = ""
    ) -> EncodedDocument:
        """Return a BSON-safe copy of ``document``; the input is not changed.

        Args:
            document: The document to encode.
            blob_prefix: Put before the content hash of each offloaded value
                to make its key, so that the values one update offloads have
                keys of their own, which no other write uses.

        Raises:
            InvalidEventError: A value cannot be stored under the policy (its
                type is unknown, a key is not a string, or it is too large),
                naming the field.
        """
        state = _EncodeState(self, blob_prefix)
        try:
            encoded = state.mapping(document, None, 0)
        except RecursionError:
            raise InvalidEventError(
                "the event is nested too deeply to store (the interpreter's "
                "recursion limit was reached); flatten the payload"
            ) from None
        if state.estimated_bytes > MAX_DOCUMENT_BYTES // 2:
            state.fit(encoded)
        return EncodedDocument(encoded, state.blobs)


class _EncodeState:
    """The work of one :meth:`Encoder.encode` call.

    The loops below are the library's hot path: every stored event goes
    through them, so common values (short strings, small numbers, plain dicts
    and lists) are handled inline and paths are only spelled out when needed.
    """

    def __init__(self, encoder: Encoder, blob_prefix: str) -> None:
        self.policy = encoder.large_values
        self.max_inline = encoder.max_inline_bytes
        self.blob_prefix = blob_prefix
        # A string of n characters takes at most 4n bytes in UTF-8: shorter
        # strings need no size check at all.
        self.check_chars_above = min(self.max_inline, _OFFLOAD_CANDIDATE_BYTES) // 4
        self.blobs: dict[str, bytes] = {}
        self.candidates: list[_Candidate] = []
        self.estimated_bytes = 0

    def mapping(
        self, value: Mapping[Any, Any], path: _Path, depth: int
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        check = self.check_chars_above
        self.estimated_bytes += 16 * len(value)
        for key, item in value.items():
            if type(key) is not str:
                key = self.odd_key(key, path)
            escaped = _KEY_CACHE.get(key) or self.new_key(key, path)
            kind = type(item)
            if kind is str:
                if len(item) > check:
                    item = self.text(item, (path, key), out, escaped)
                else:
                    self.estimated_bytes += len(item)
                    if not item.isascii() and _SURROGATE.search(item):
                        item = _surrogate_text(item)
            elif kind is int:
                if not _INT64_MIN <= item <= _INT64_MAX:
                    item = {"%int": str(item)}
            elif kind is dict or kind is list:
                item = self.container(item, (path, key), depth + 1)
            elif not (kind is float or kind is bool or item is None):
                item = self.value(item, (path, key), depth + 1, out, escaped)
            out[escaped] = item
        return out

    def sequence(self, value: Any, path: _Path, depth: int) -> list[Any]:
        out: list[Any] = []
        check = self.check_chars_above
        self.estimated_bytes += 16 * len(value)
        for index, item in enumerate(value):
            kind = type(item)
            if kind is str:
                if len(item) > check:
                    item = self.text(item, (path, index), out, index)
                else:
                    self.estimated_bytes += len(item)
                    if not item.isascii() and _SURROGATE.search(item):
                        item = _surrogate_text(item)
            elif kind is int:
                if not _INT64_MIN <= item <= _INT64_MAX:
                    item = {"%int": str(item)}
            elif kind is dict or kind is list:
                item = self.container(item, (path, index), depth + 1)
            elif not (kind is float or kind is bool or item is None):
                item = self.value(item, (path, index), depth + 1, out, index)
            out.append(item)
        return out

    def new_key(self, key: str, path: _Path) -> str:
        """Escape a key not seen before; refuse one UTF-8 cannot carry."""
        if not key.isascii() and _SURROGATE.search(key):
            where = _dotted(path) or "event"
            raise InvalidEventError(
                f"{_short(where)}: key {key!r} holds an unpaired surrogate, which "
                "cannot be stored",
                field=_dotted(path) or None,
            )
        return _cached_escape(key)

    def odd_key(self, key: Any, path: _Path) -> str:
        """A key that is not exactly a ``str``: a subclass is fine, others not."""
        if isinstance(key, str):
            return str.__str__(key)
        where = _dotted(path) or "event"
        raise InvalidEventError(
            f"{_short(where)}: key {key!r} is a {type(key).__name__}; only string "
            "keys can be stored",
            field=_dotted(path) or None,
        )

    def value(
        self,
        value: Any,
        path: _Path,
        depth: int,
        container: dict[str, Any] | list[Any],
        key: Any,
    ) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value, path, container, key)
        if kind is int:
            if _INT64_MIN <= value <= _INT64_MAX:
                return value
            return {"%int": str(value)}
        if kind is float or kind is bool or value is None:
            return value
        if kind is dict or kind is list:
            return self.container(value, path, depth)
        if kind is dt.datetime:
            return self.moment(value, path)
        return self.other(value, path, depth, container, key)

    def moment(self, value: dt.datetime, path: _Path) -> dt.datetime:
        try:
            return to_utc_millis(value)
        except ValueError as exc:
            where = _dotted(path)
            raise InvalidEventError(f"{_short(where)}: {exc}", field=where) from None

    def container(self, value: Any, path: _Path, depth: int) -> Any:
        if depth > MAX_PAYLOAD_NESTING:
            where = _dotted(path)
            raise InvalidEventError(
                f"{_short(where)}: the payload is nested more than "
                f"{MAX_PAYLOAD_NESTING} levels deep, which the library does not "
                "store; flatten it or store it as a JSON string",
                field=where,
            )
        if isinstance(value, Mapping):
            encoded: Any = self.mapping(value, path, depth)
        else:
            encoded = self.sequence(value, path, depth)
        return _packed_if_deep(encoded, depth)

    def text(
        self, value: str, path: _Path, container: dict[str, Any] | list[Any], key: Any
    ) -> Any:
        size = len(value)
        if size > self.check_chars_above:
            size = len(value.encode("utf-8", "surrogatepass"))
            if size > self.max_inline:
                return self.large(value.encode("utf-8", "surrogatepass"), "str", path)
            if size > _OFFLOAD_CANDIDATE_BYTES:
                self.candidates.append(_Candidate(size, container, key, path))
        self.estimated_bytes += size
        if not value.isascii() and _SURROGATE.search(value):
            return _surrogate_text(value)
        return value

    def binary(
        self, value: bytes, path: _Path, container: dict[str, Any] | list[Any], key: Any
    ) -> Any:
        if len(value) > self.max_inline:
            return self.large(value, "bytes", path)
        if len(value) > _OFFLOAD_CANDIDATE_BYTES:
            self.candidates.append(_Candidate(len(value), container, key, path))
        self.estimated_bytes += len(value)
        return value

    def large(self, data: bytes, kind: str, path: _Path) -> Any:
        """Apply the large-value policy to one value's bytes."""
        if self.policy == "refuse":
            where = _dotted(path)
            raise InvalidEventError(
                f"{_short(where)}: a {kind} value of {len(data):,} bytes is larger "
                f"than the inline limit of {self.max_inline:,} bytes and the "
                "large-value policy is 'refuse'",
                field=where,
            )
        digest = hashlib.sha256(data).hexdigest()
        if self.policy == "truncate":
            head: str | bytes
            if kind == "str":
                head = data.decode("utf-8", "surrogatepass")[:_TRUNCATED_HEAD_CHARS]
            else:
                head = data[:_TRUNCATED_HEAD_CHARS]
            self.estimated_bytes += len(head) * 4
            return {
                "truncated": True,
                "kind": kind,
                "original_bytes": len(data),
                "sha256": digest,
                "head": head,
            }
        # The key names the content, so chunks of one key always hold the
        # same bytes: a retried write finds its chunks already there, and a
        # different value can never be read with another's chunks.
        key = f"{self.blob_prefix}{digest[:32]}"
        self.blobs[key] = data
        return {"%blob": key, "kind": kind, "bytes": len(data), "sha256": digest}

    def other(
        self,
        value: Any,
        path: _Path,
        depth: int,
        container: dict[str, Any] | list[Any],
        key: Any,
    ) -> Any:
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.binary(bytes(value), path, container, key)
        if isinstance(value, str):
            # str.__str__ gives the characters of a str subclass (an enum
            # member, say), where str() may give its name instead.
            return self.text(str.__str__(value), path, container, key)
        if isinstance(value, int):
            return self.value(int(value), path, depth, container, key)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, (Mapping, list, tuple)):
            return self.container(value, path, depth)
        if isinstance(value, dt.datetime):
            return self.moment(value, path)
        if isinstance(value, dt.date):
            return {"%date": value.isoformat()}
        if isinstance(value, Decimal):
            return _encode_decimal(value)
        if isinstance(value, (set, frozenset)):
            tag = "%set" if isinstance(value, set) else "%frozenset"
            items = self.container(list(value), (path, tag), depth + 1)
            return _packed_if_deep({tag: items}, depth)
        if isinstance(value, uuid.UUID):
            return Binary.from_uuid(value)
        if isinstance(value, (ObjectId, Binary, Decimal128)):
            return value
        if isinstance(value, Int64):
            return int(value)
        where = _dotted(path)
        raise InvalidEventError(
            f"{_short(where)}: values of type {type(value).__name__} cannot be "
            "stored; convert it to str, int, float, bool, None, list, dict, bytes "
            "or datetime",
            field=where,
        )

    def fit(self, document: dict[str, Any]) -> None:
        """Shrink a document over the size limit by its largest values."""
        size = len(bson.encode(document))
        if size <= MAX_DOCUMENT_BYTES:
            return
        self.candidates.sort(key=lambda c: c.size, reverse=True)
        for candidate in self.candidates:
            if size <= MAX_DOCUMENT_BYTES:
                break
            current = candidate.container[candidate.key]
            if isinstance(current, str):
                data = current.encode("utf-8", "surrogatepass")
                kind = "str"
            elif isinstance(current, bytes):
                data, kind = current, "bytes"
            else:
                continue
            candidate.container[candidate.key] = self.large(data, kind, candidate.path)
            size = len(bson.encode(document))
        if size > MAX_DOCUMENT_BYTES:
            raise InvalidEventError(
                f"the event takes {size:,} bytes in BSON, over MongoDB's limit of "
                f"16 MiB, and no value in it can be moved out under the "
                f"large-value policy {self.policy!r}"
            )


def _packed_if_deep(encoded: Any, depth: int) -> Any:
    """Pack a container at depth ``_PACK_AT`` into bytes if it goes too deep."""
    if depth == _PACK_AT and _height(encoded) > MAX_NESTING - _PACK_AT - 1:
        packed = bson.encode({"v": encoded}, codec_options=_PACK_OPTIONS)
        return {"%deep": Binary(packed)}
    return encoded


def stored_scalar(value: Any) -> Any:
    """A string or number as the encoder stores it, to compare with in a filter."""
    if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
        return _surrogate_text(value)
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return {"%int": str(value)}
    return value


def _surrogate_text(value: str) -> dict[str, Binary]:
    return {"%text": Binary(value.encode("utf-8", "surrogatepass"))}


def _height(value: Any) -> int:
    """Nesting levels below and including ``value`` (0 for a scalar)."""
    if isinstance(value, dict):
        return 1 + max((_height(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_height(v) for v in value), default=0)
    return 0


def _encode_decimal(value: Decimal) -> Any:
    # Decimal128 refuses (raises) rather than round when a value needs more
    # than its 34 digits; those values are kept as text instead.
    try:
        encoded = Decimal128(value)
    except (ArithmeticError, ValueError):
        return {"%decimal": str(value)}
    if str(encoded.to_decimal()) != str(value):
        return {"%decimal": str(value)}
    return encoded


BlobLoader = Callable[[str], "bytes | None"]


def decode_document(
    document: Mapping[str, Any], load_blob: BlobLoader | None
) -> dict[str, Any]:
    """Return the caller's view of a stored document.

    Args:
        document: A document as the driver returned it.
        load_blob: Returns the bytes of the offloaded value with a key. ``None`` leaves
            the markers of offloaded values in place.
    """
    decoded: dict[str, Any] = _decode_mapping(document, load_blob)
    return decoded


def _decode_mapping(value: Mapping[str, Any], load_blob: BlobLoader | None) -> Any:
    if len(value) <= 5:
        marker = _decode_marker(value, load_blob)
        if marker is not _NOT_A_MARKER:
            return marker
    return {unescape_key(k): _decode_value(v, load_blob) for k, v in value.items()}


def _decode_value(value: Any, load_blob: BlobLoader | None) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return _decode_mapping(value, load_blob)
    if kind is list:
        return [_decode_value(v, load_blob) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, Binary):
        if value.subtype == 4:
            return value.as_uuid()
        if value.subtype == 0:
            return bytes(value)
        return value
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, Int64):
        return int(value)
    return value


_NOT_A_MARKER = object()


def _decode_marker(value: Mapping[str, Any], load_blob: BlobLoader | None) -> Any:
    if "%int" in value:
        return int(value["%int"])
    if "%decimal" in value:
        return Decimal(value["%decimal"])
    if "%set" in value:
        return {set_member(v) for v in _decode_value(value["%set"], load_blob)}
    if "%frozenset" in value:
        items = _decode_value(value["%frozenset"], load_blob)
        return frozenset(set_member(v) for v in items)
    if "%date" in value:
        return dt.date.fromisoformat(value["%date"])
    if "%text" in value:
        return bytes(value["%text"]).decode("utf-8", "surrogatepass")
    if "%deep" in value:
        unpacked = bson.decode(bytes(value["%deep"]), codec_options=_PACK_OPTIONS)
        return _decode_value(unpacked["v"], load_blob)
    if "%blob" in value:
        if load_blob is None:
            return {
                "offloaded": True,
                **{k: v for k, v in value.items() if k != "%blob"},
            }
        data = load_blob(str(value["%blob"]))
        if data is None or hashlib.sha256(data).hexdigest() != value.get("sha256"):
            return {"missing": True, **{k: v for k, v in value.items() if k != "%blob"}}
        return (
            data.decode("utf-8", "surrogatepass")
            if value.get("kind") == "str"
            else data
        )
    return _NOT_A_MARKER


def set_member(value: Any) -> Any:
    """A member of a set as it was: a tuple is stored as a list."""
    if isinstance(value, list):
        return tuple(set_member(v) for v in value)
    return value


def blob_bytes(document: Any) -> int:
    """The bytes of the offloaded values a stored document refers to."""
    if isinstance(document, Mapping):
        if "%blob" in document:
            size = document.get("bytes")
            return size if isinstance(size, int) else 0
        return sum(blob_bytes(v) for v in document.values())
    if isinstance(document, list):
        return sum(blob_bytes(v) for v in document)
    return 0


def blob_keys(document: Any) -> set[str]:
    """The keys of the offloaded values a stored document refers to."""
    if isinstance(document, Mapping):
        if "%blob" in document:
            return {str(document["%blob"])}
        return set().union(*(blob_keys(v) for v in document.values()))
    if isinstance(document, list):
        return set().union(*(blob_keys(v) for v in document))
    return set()
