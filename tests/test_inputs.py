"""The inputs real agent logs contain: each round-trips exactly or is refused
clearly, on mongomock exactly as on a real server."""

from __future__ import annotations

import base64
import datetime as dt
import enum
import math
import os
import uuid
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import bson
import pytest
from bson.objectid import ObjectId
from pymongo.collection import Collection

from mongo_ai_logs import AgentLogEvent, AgentLogRepository, InvalidEventError
from mongo_ai_logs.codec import MAX_NESTING, MAX_PAYLOAD_NESTING
from tests.helpers import event

MB = 1024 * 1024


def _raw(repo: AgentLogRepository, event_id: str) -> dict[str, Any]:
    raw = repo.collection.find_one({"_id": ObjectId(event_id)})
    assert raw is not None
    return raw


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _nested(levels: int, leaf: Any = "bottom") -> Any:
    value = leaf
    for level in range(levels):
        value = {"level": level, "child": value} if level % 2 else [value]
    return value


# -- large values --


def test_a_20_mb_tool_output_is_stored_and_read_back_whole(
    repo: AgentLogRepository,
) -> None:
    image = base64.b64encode(os.urandom(15 * MB)).decode("ascii")  # 20 MB of text
    page = "<html>" + "é" * (3 * MB) + "</html>"
    blob = os.urandom(20 * MB)
    event_id = repo.insert(
        event(
            type="tool_call",
            tool={"name": "screenshot", "result": {"png": image}},
            output=page,
            metadata={"raw": blob},
        )
    )

    stored = repo.get(event_id)

    assert stored is not None
    assert stored["tool"]["result"]["png"] == image
    assert stored["output"] == page
    assert stored["metadata"]["raw"] == blob
    assert len(bson.encode(_raw(repo, event_id))) < 16 * MB


def test_many_medium_values_that_pass_16_mb_together_are_offloaded(
    repo: AgentLogRepository,
) -> None:
    chunks = {f"part{i}": os.urandom(700 * 1024).hex()[: 900 * 1024] for i in range(20)}

    event_id = repo.insert(event(output=chunks))

    stored = repo.get(event_id)
    assert stored is not None
    assert stored["output"] == chunks
    assert len(bson.encode(_raw(repo, event_id))) < 16 * MB


def test_large_values_can_be_left_as_markers_when_listing(
    repo: AgentLogRepository,
) -> None:
    repo.insert(event(output="x" * (2 * MB)))

    item = repo.find(load_large_values=False).items[0]

    assert item["output"]["offloaded"] is True
    assert item["output"]["bytes"] == 2 * MB


def test_truncate_policy_keeps_the_head_with_a_marker(
    collection: Collection[Any],
) -> None:
    repo = AgentLogRepository(collection, large_values="truncate", max_inline_bytes=MB)

    stored = repo.get(repo.insert(event(output="y" * (5 * MB))))

    assert stored is not None
    marker = stored["output"]
    assert marker["truncated"] is True
    assert marker["original_bytes"] == 5 * MB
    assert marker["head"] == "y" * len(marker["head"])
    assert 0 < len(marker["head"]) < MB


def test_refuse_policy_refuses_naming_the_field(collection: Collection[Any]) -> None:
    repo = AgentLogRepository(collection, large_values="refuse", max_inline_bytes=MB)

    with pytest.raises(InvalidEventError) as caught:
        repo.insert(event(tool={"name": "t", "result": "z" * (2 * MB)}))

    assert caught.value.field == "tool.result"
    assert repo.count() == 0


def test_offloaded_values_follow_soft_delete_restore_and_purge(
    repo: AgentLogRepository,
) -> None:
    payload = "w" * (3 * MB)
    event_id = repo.insert(event(output=payload))
    oid = ObjectId(event_id)

    repo.soft_delete(event_id)
    assert all("deleted_at" in c for c in repo.blobs.find({"event_id": oid}))
    repo.restore(event_id)
    assert all("deleted_at" not in c for c in repo.blobs.find({"event_id": oid}))
    stored = repo.get(event_id)
    assert stored is not None
    assert stored["output"] == payload

    repo.soft_delete(event_id)
    repo.purge(
        deleted_before=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    )
    assert repo.blobs.count_documents({"event_id": oid}) == 0


def _chunk_keys(repo: AgentLogRepository, event_id: str) -> set[str]:
    return {c["blob"] for c in repo.blobs.find({"event_id": ObjectId(event_id)})}


def test_storing_an_event_again_with_another_large_value_keeps_the_first(
    repo: AgentLogRepository,
) -> None:
    first = event(output="a" * (2 * MB))
    event_id = repo.insert(first)
    kept = _chunk_keys(repo, event_id)

    again = {**first, "_id": event_id, "output": "b" * (9 * MB)}
    assert repo.insert(again) == event_id
    report = repo.insert_many([again])

    assert report.duplicate_ids == [event_id]
    stored = repo.get(event_id)
    assert stored is not None
    assert stored["output"] == "a" * (2 * MB)
    assert _chunk_keys(repo, event_id) == kept


def test_another_project_reusing_an_id_leaves_the_owners_large_value_whole(
    collection: Collection[Any],
) -> None:
    acme = AgentLogRepository(collection, project_id="acme")
    other = AgentLogRepository(collection, project_id="other")
    event_id = acme.insert(event(output="a" * (2 * MB)))

    with pytest.raises(InvalidEventError, match="already used"):
        other.insert(event(_id=event_id, output="b" * (9 * MB)))

    stored = acme.get(event_id)
    assert stored is not None
    assert stored["output"] == "a" * (2 * MB)
    assert (
        collection.database[f"{collection.name}.blobs"].count_documents(
            {"project_id": "other"}
        )
        == 0
    )


def test_updates_remove_the_large_values_they_replace(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert(event(output="a" * (2 * MB), content="c" * (2 * MB)))

    for n in range(5):
        assert repo.update(event_id, {"output": str(n) * (2 * MB)})

    stored = repo.get(event_id)
    assert stored is not None
    assert stored["output"] == "4" * (2 * MB)
    assert stored["content"] == "c" * (2 * MB)
    # The content's value and the last output's: nothing left of the others.
    raw = _raw(repo, event_id)
    assert _chunk_keys(repo, event_id) == {
        raw["content"]["%blob"],
        raw["output"]["%blob"],
    }


def test_an_update_that_finds_no_live_event_leaves_no_large_value_behind(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert(event())
    repo.soft_delete(event_id)

    assert not repo.update(event_id, {"output": "x" * (2 * MB)})
    assert not repo.update(str(ObjectId()), {"output": "x" * (2 * MB)})

    assert repo.blobs.count_documents({}) == 0


def test_a_large_value_whose_chunks_were_altered_reads_as_missing(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert(event(output="a" * (2 * MB)))
    repo.blobs.update_many(
        {"event_id": ObjectId(event_id)}, {"$set": {"data": bson.Binary(b"b" * 10)}}
    )

    stored = repo.get(event_id)

    assert stored is not None
    assert stored["output"]["missing"] is True
    assert stored["output"]["bytes"] == 2 * MB


# -- keys --


KEYS_PAYLOAD = {
    "$ref": "#/definitions/Weather",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "llm.token_count.prompt": 68,
    "gen_ai.usage": {"input.tokens": 1, "$id": "x"},
    "100%": "done",
    "%25": "literal",
    "%blob": "not a marker",
    "%int": {"%set": [1]},
    "nul\x00key": True,
    "": "empty key",
    "plain": [{"a.b": {"$c": "d"}}],
}


def test_keys_with_dots_dollars_and_percents_round_trip_exactly(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert(
        event(
            metadata=KEYS_PAYLOAD, input=KEYS_PAYLOAD, tool={"arguments": KEYS_PAYLOAD}
        )
    )

    stored = repo.get(event_id)

    assert stored is not None
    assert stored["metadata"] == KEYS_PAYLOAD
    assert stored["input"] == KEYS_PAYLOAD
    assert stored["tool"]["arguments"] == KEYS_PAYLOAD


def test_unknown_top_level_fields_with_odd_names_round_trip(
    repo: AgentLogRepository,
) -> None:
    stored = repo.get(
        repo.insert(event(**{"$weird": 1, "a.b": 2, "langfuse.level": "x"}))
    )

    assert stored is not None
    assert (stored["$weird"], stored["a.b"], stored["langfuse.level"]) == (1, 2, "x")


def test_metadata_keys_with_dots_can_be_filtered_on(repo: AgentLogRepository) -> None:
    wanted = repo.insert(event(seq=1, metadata={"llm.token_count.prompt": 68}))
    repo.insert(event(seq=2, metadata={"llm": {"token_count": {"prompt": 68}}}))

    page = repo.find(metadata={"llm.token_count.prompt": 68})

    assert [e["_id"] for e in page.items] == [wanted]
    assert repo.count(metadata={"100%": "done"}) == 0


# -- nesting --


@pytest.mark.parametrize(
    "levels", [MAX_NESTING - 5, MAX_NESTING + 1, 150, MAX_PAYLOAD_NESTING - 2]
)
def test_payload_nested_beyond_mongodb_limit_round_trips(
    repo: AgentLogRepository, levels: int
) -> None:
    payload = _nested(levels)

    event_id = repo.insert(event(output=payload))

    stored = repo.get(event_id)
    assert stored is not None
    assert stored["output"] == payload
    assert _depth(_raw(repo, event_id)) <= MAX_NESTING


def test_payload_nested_beyond_the_library_limit_is_refused_clearly(
    repo: AgentLogRepository,
) -> None:
    for levels in (MAX_PAYLOAD_NESTING + 1, 5000):
        with pytest.raises(InvalidEventError, match="nested more than") as caught:
            repo.insert(event(output=_nested(levels)))
        assert caught.value.field is not None
        assert caught.value.field.startswith("output.")
        assert len(str(caught.value)) < 300
    assert repo.count() == 0


# -- values BSON cannot hold as given --


SPECIAL_VALUES: dict[str, Any] = {
    "big": 2**64 + 1,
    "negative_big": -(2**70),
    "int64_edge": 2**63 - 1,
    "decimal": Decimal("1.10"),
    "long_decimal": Decimal("3.14159265358979323846264338327950288419716939937510"),
    "decimal_nan": Decimal("NaN"),
    "set": {1, "two", 3.0},
    "frozenset": frozenset({"a", "b"}),
    "set_of_tuples": {(1, 2), (3, ("a", b"b"))},
    "sets_in_sets": frozenset({frozenset({1}), (frozenset({2}),)}),
    "bytes": b"\x00\xffbinary",
    "bytearray": bytearray(b"ba"),
    "uuid": uuid.UUID("3f2b8c1e-8a2d-4d6c-9e55-6a8d2f0b9c11"),
    "date": dt.date(2025, 1, 31),
    "inf": float("inf"),
    "tuple": (1, 2),
    "none": None,
    "bool": True,
}


def test_special_values_round_trip(repo: AgentLogRepository) -> None:
    stored = repo.get(
        repo.insert(event(metadata=SPECIAL_VALUES, output=[SPECIAL_VALUES]))
    )

    assert stored is not None
    expected = {**SPECIAL_VALUES, "bytearray": b"ba", "tuple": [1, 2]}
    for key, value in expected.items():
        got = stored["metadata"][key]
        if isinstance(value, Decimal) and value.is_nan():
            assert got.is_nan()
        else:
            assert got == value, key
            assert type(got) is type(value) or key == "bytearray", key
    assert stored["output"][0]["set"] == SPECIAL_VALUES["set"]


def _nested_sets(levels: int) -> Any:
    value: Any = frozenset({"core"})
    for _ in range(levels - 1):
        value = frozenset({value})
    return value


@pytest.mark.parametrize("levels", [30, MAX_NESTING - 5])
def test_nested_sets_round_trip_within_the_nesting_limit(
    repo: AgentLogRepository, levels: int
) -> None:
    value = _nested_sets(levels)

    stored = repo.get(repo.insert(event(metadata={"sets": value})))

    assert stored is not None
    assert stored["metadata"]["sets"] == value
    assert _depth(_raw(repo, stored["_id"])) <= MAX_NESTING


def test_sets_nested_past_the_payload_limit_are_refused(
    repo: AgentLogRepository,
) -> None:
    with pytest.raises(InvalidEventError, match="nested more than"):
        repo.insert(event(metadata={"sets": _nested_sets(MAX_PAYLOAD_NESTING)}))
    assert repo.count() == 0


def test_nan_round_trips(repo: AgentLogRepository) -> None:
    stored = repo.get(repo.insert(event(metadata={"score": float("nan")})))

    assert stored is not None
    assert math.isnan(stored["metadata"]["score"])


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(object(), "object"), (dt.time(12, 0), "time"), (complex(1, 2), "complex")],
)
def test_values_of_unknown_types_are_refused_naming_the_path(
    repo: AgentLogRepository, value: Any, type_name: str
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        repo.insert(event(metadata={"deep": [{"bad": value}]}))

    assert caught.value.field == "metadata.deep.0.bad"
    assert type_name in str(caught.value)


@pytest.mark.parametrize("field", ["metadata", "input", "output"])
def test_non_string_keys_are_refused(repo: AgentLogRepository, field: str) -> None:
    with pytest.raises(InvalidEventError, match="only string keys"):
        repo.insert(event(**{field: {200: "ok"}}))


# -- datetimes --


def test_naive_and_microsecond_datetimes_are_stored_as_utc_milliseconds(
    repo: AgentLogRepository,
) -> None:
    naive = dt.datetime(2025, 3, 1, 12, 0, 0, 123456)
    offset = dt.datetime(
        2025, 3, 1, 14, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    given = event(started_at=naive, ended_at=offset, metadata={"seen": naive})

    told = AgentLogEvent.model_validate(given)
    stored = repo.get(repo.insert(given))

    assert stored is not None
    assert stored["started_at"] == told.started_at
    assert stored["started_at"] == dt.datetime(
        2025, 3, 1, 12, 0, 0, 123000, dt.timezone.utc
    )
    assert stored["ended_at"] == told.ended_at
    assert stored["ended_at"] == dt.datetime(
        2025, 3, 1, 12, 0, 0, 999000, dt.timezone.utc
    )
    assert stored["ended_at"].tzinfo is dt.timezone.utc
    assert stored["duration_ms"] == told.duration_ms == pytest.approx(876.0)
    assert stored["metadata"]["seen"] == dt.datetime(
        2025, 3, 1, 12, 0, 0, 123000, dt.timezone.utc
    )


def test_event_without_started_at_gets_its_creation_time(
    repo: AgentLogRepository,
) -> None:
    stored = repo.get(repo.insert({"type": "debug", "content": "no time"}))

    assert stored is not None
    assert stored["started_at"] == stored["created_at"]


# -- the same event twice --


def test_reimporting_by_source_adds_nothing_even_if_content_changed(
    repo: AgentLogRepository,
) -> None:
    source = {"format": "langfuse", "id": "trace-1/obs-7"}

    first = repo.insert(event(source=source, content="v1"))
    second = repo.insert(event(source=source, content="v2, parsed better"))

    assert first == second
    assert repo.count() == 1


def test_same_content_in_two_projects_makes_two_events(
    collection: Collection[Any],
) -> None:
    base = AgentLogRepository(collection)

    a = base.for_project("a").insert(event())
    b = base.for_project("b").insert(event())

    assert a != b


def test_subclasses_of_plain_types_are_stored_as_the_plain_type(
    repo: AgentLogRepository,
) -> None:
    class Color(str, enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    stored = repo.get(
        repo.insert(
            event(metadata=OrderedDict([(Color.RED, [Color.RED, Level.HIGH, (1, 2)])]))
        )
    )

    assert stored is not None
    assert stored["metadata"] == {"red": ["red", 3, [1, 2]]}
    value = stored["metadata"]["red"]
    assert [type(v) for v in value] == [str, int, list]


def test_text_with_unpaired_surrogates_round_trips(repo: AgentLogRepository) -> None:
    # A JSON "\ud83d" escape without its pair: UTF-8, and so BSON, cannot hold it.
    cut = "emoji cut in half: \ud83d"
    long_cut = "x" * 10_000 + "\udc00"

    stored = repo.get(repo.insert(event(content=cut, output=[long_cut])))

    assert stored is not None
    assert stored["content"] == cut
    assert stored["output"] == [long_cut]


def test_a_key_with_an_unpaired_surrogate_is_refused(repo: AgentLogRepository) -> None:
    with pytest.raises(InvalidEventError, match="surrogate") as caught:
        repo.insert(event(metadata={"bad\ud800": 1}))

    assert caught.value.field == "metadata"


def test_a_datetime_outside_the_utc_range_is_refused_naming_the_field(
    repo: AgentLogRepository,
) -> None:
    ahead = dt.timezone(dt.timedelta(hours=5))
    too_early = dt.datetime(1, 1, 1, 1, 0, tzinfo=ahead)

    for fields, field in (
        ({"started_at": too_early}, "started_at"),
        ({"metadata": {"when": too_early}}, "metadata.when"),
    ):
        with pytest.raises(InvalidEventError) as caught:
            repo.insert(event(**fields))
        assert caught.value.field == field
        assert "outside years 1 to 9999" in str(caught.value)
