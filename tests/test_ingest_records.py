"""The helpers every format reader shares: timestamps, counts, content ids."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mongo_ai_logs.ingest._records import (
    ContentIds,
    RecordError,
    count,
    leftover,
    money,
    parse_json_text,
    timestamp,
)

UTC = dt.timezone.utc
MOMENT = dt.datetime(2024, 10, 13, 7, 5, 38, 291000, UTC)


@pytest.mark.parametrize(
    "value",
    [
        1728803138.291,
        1728803138291,
        1728803138291000,
        1728803138291000000,
        "1728803138291",
        "2024-10-13T07:05:38.291Z",
        "2024-10-13T07:05:38.291000+00:00",
        "2024-10-13 07:05:38.291",
        "2024-10-13T09:05:38.291+02:00",
        "2024-10-13T01:35:38.291-0530",
        "2024-10-13T07:05:38.291000123Z",
    ],
)
def test_each_form_of_a_timestamp_is_read_as_utc(value: Any) -> None:
    moment = timestamp(value, "start_time")

    assert moment is not None
    assert moment.utcoffset() == dt.timedelta(0)
    assert abs(moment - MOMENT) < dt.timedelta(milliseconds=1)


def test_microseconds_are_kept_for_the_repository_to_cut() -> None:
    moment = timestamp("2025-01-02T03:04:05.100002Z", "t")

    assert moment == dt.datetime(2025, 1, 2, 3, 4, 5, 100002, UTC)
    assert timestamp("2025-01-02", "t") == dt.datetime(2025, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", True, [1]])
def test_what_is_not_a_timestamp_is_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(RecordError, match=r"^startTime: not a timestamp"):
        timestamp(value, "startTime")


def test_a_missing_timestamp_is_none() -> None:
    assert timestamp(None, "t") is None
    assert timestamp("", "t") is None


def test_counts_and_amounts_are_taken_as_given() -> None:
    assert count(12.0, "usage.input") == 12
    assert count(None, "usage.input") is None
    assert money("0.0003", "total_cost") == pytest.approx(0.0003)
    assert money(0, "total_cost") == 0.0
    with pytest.raises(RecordError, match=r"^usage\.input: not a token count: 1\.5"):
        count(1.5, "usage.input")
    with pytest.raises(RecordError, match=r"^cost: not an amount in USD: -1"):
        money(-1, "cost")


def test_content_ids_ignore_key_order_and_tell_repeats_apart() -> None:
    ids = ContentIds()

    first = ids({"a": 1, "b": [1, 2]})
    again = ids({"b": [1, 2], "a": 1})
    other = ids({"a": 2})

    assert len(first) == 32
    assert again == f"{first}-2"
    assert other != first
    assert ContentIds()({"a": 1, "b": [1, 2]}) == first


def test_leftover_keeps_unused_fields_that_say_something() -> None:
    record = {"id": "x", "name": "n", "release": None, "bookmarked": False}

    assert leftover(record, {"id"}) == {"name": "n", "bookmarked": False}
    assert leftover(record, {"id", "name", "bookmarked"}) is None


def test_json_text_too_deep_to_store_stays_text() -> None:
    shallow = "[" * 200 + "]" * 200
    too_deep = "[" * 201 + "]" * 201
    far_too_deep = "[" * 100_000 + "]" * 100_000

    assert parse_json_text(shallow) != shallow
    assert parse_json_text(too_deep) == too_deep
    assert parse_json_text(far_too_deep) == far_too_deep
    assert parse_json_text('{"n": ' + "9" * 5000 + "}").startswith('{"n": 999')
