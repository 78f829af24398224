"""The storage codec and the JSON form of events, without a database."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest

from mongo_ai_logs import jsonl
from mongo_ai_logs.codec import Encoder, decode_document, escape_key, unescape_key

ODD_KEYS = [
    "a.b",
    "$ref",
    "%",
    "%25",
    "%2E",
    "a%2Eb",
    "$",
    ".",
    "\x00",
    "x$y",
    "$$",
    "",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_escaped_keys_are_safe_and_reversible(key: str) -> None:
    escaped = escape_key(key)

    assert "." not in escaped
    assert "\x00" not in escaped
    assert not escaped.startswith("$")
    assert unescape_key(escaped) == key


def test_distinct_keys_stay_distinct_when_escaped() -> None:
    assert len({escape_key(k) for k in ODD_KEYS}) == len(ODD_KEYS)


def test_encoding_leaves_the_input_unchanged() -> None:
    payload: dict[str, Any] = {
        "a.b": [{"$c": {1, 2}}],
        "when": dt.datetime(2025, 1, 1, 0, 0, 0, 1),
    }
    before = repr(payload)

    Encoder("offload", 1024).encode(payload)

    assert repr(payload) == before


def test_large_value_can_be_decoded_without_loading() -> None:
    encoded = Encoder("offload", 10).encode({"out": "x" * 100})

    decoded = decode_document(encoded.document, None)

    assert decoded["out"]["offloaded"] is True
    assert list(encoded.blobs.values()) == [b"x" * 100]


JSON_EVENT: dict[str, Any] = {
    "_id": "65f1c0ffee00000000000000",
    "type": "tool_call",
    "started_at": dt.datetime(2025, 1, 1, 12, 0, 0, 123000, dt.timezone.utc),
    "metadata": {
        "when": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc),
        "day": dt.date(2024, 5, 1),
        "raw": b"\x00\x01",
        "price": Decimal("1.10"),
        "ids": {1, 2},
        "frozen": frozenset({"a"}),
        "pairs": {(1, 2), (3, ("a", b"b"))},
        "sets_in_sets": frozenset({frozenset({1})}),
        "inf": float("-inf"),
        "uuid": uuid.UUID(int=7),
        "%datetime": "a key that looks like a marker",
        "%25": "a key with an escape in it",
        "big": 2**80,
        "nested": [{"$ref": "#/x", "a.b": None}],
    },
}


def test_json_lines_round_trip_every_value_exactly() -> None:
    line = jsonl.dumps(JSON_EVENT)

    assert "\n" not in line
    assert jsonl.loads(line) == JSON_EVENT


def test_json_keeps_top_level_datetimes_readable() -> None:
    data = jsonl.to_jsonable(JSON_EVENT)

    assert data["started_at"] == "2025-01-01T12:00:00.123000+00:00"
    assert data["metadata"]["when"] == {"%datetime": "2024-05-01T00:00:00+00:00"}


def test_json_nan_round_trips() -> None:
    assert math.isnan(jsonl.loads(jsonl.dumps({"x": float("nan")}))["x"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1, 2]", "must be a JSON object"),
        ("not json", "Expecting value"),
        ('{"x": {"%nope": 1}}', "unknown marker"),
    ],
)
def test_bad_json_lines_are_value_errors(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jsonl.loads(line)


def test_json_keeps_nested_object_ids_and_unpaired_surrogates() -> None:
    from bson.objectid import ObjectId

    original = {"_id": "65f1c0ffee00000000000000", "ref": ObjectId(), "text": "a\ud83d"}

    line = jsonl.dumps(original)

    line.encode("utf-8")  # writable as UTF-8
    assert jsonl.loads(line) == original
