"""AgentLogRepository: create, read, update, soft delete, on every backend."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from bson.objectid import ObjectId

from mongo_ai_logs import (
    AgentLogEvent,
    AgentLogRepository,
    InvalidEventError,
    InvalidFilterError,
    InvalidUpdateError,
)
from mongo_ai_logs.agent_log_repository import MAX_PAGE_SIZE, PROTECTED_FIELDS
from tests.helpers import T0, at, event

# -- insert and get --


def test_insert_then_get_returns_the_event_with_audit_fields(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert(event(content="hello"))

    stored = repo.get(event_id)

    assert stored is not None
    assert stored["_id"] == event_id
    assert stored["content"] == "hello"
    assert stored["usage"] == {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
    }
    assert stored["cost"]["total"] == pytest.approx(0.003)
    assert stored["deleted"] is False
    assert stored["schema_version"] == 1
    assert stored["created_at"].tzinfo is not None
    assert stored["created_at"].utcoffset() == dt.timedelta(0)
    assert stored["updated_at"] == stored["created_at"]


def test_insert_accepts_a_model_and_keeps_unknown_fields(
    repo: AgentLogRepository,
) -> None:
    model = AgentLogEvent.model_validate(
        {
            "type": "debug",
            "langfuse_level": "DEFAULT",
            "agent": {"name": "a", "build": 7},
        }
    )

    stored = repo.get(repo.insert(model))

    assert stored is not None
    assert stored["langfuse_level"] == "DEFAULT"
    assert stored["agent"] == {"name": "a", "build": 7}


def test_insert_does_not_change_the_callers_dict(repo: AgentLogRepository) -> None:
    original = event(metadata={"a.b": {"$ref": [1, 2]}}, tags=["x"])
    snapshot = copy.deepcopy(original)

    repo.insert(original)

    assert original == snapshot
    assert "_id" not in original


def test_the_same_dict_inserted_twice_is_stored_once(repo: AgentLogRepository) -> None:
    payload = event(content="once")

    first = repo.insert(payload)
    second = repo.insert(payload)

    assert first == second
    assert repo.count() == 1


def test_events_that_differ_are_both_stored(repo: AgentLogRepository) -> None:
    repo.insert(event(seq=1))
    repo.insert(event(seq=2))

    assert repo.count() == 2


def test_given_object_id_is_used(repo: AgentLogRepository) -> None:
    oid = ObjectId()

    assert repo.insert(event(_id=oid)) == str(oid)
    assert repo.insert(event(_id=str(oid), content="retry")) == str(oid)
    assert repo.count() == 1


@pytest.mark.parametrize(
    "foreign_id",
    [
        "call_iXFttys57ap0o16JSlC8yhYo",
        "3f2b8c1e-8a2d-4d6c-9e55-6a8d2f0b9c11",
        "ab" * 16,
    ],
)
def test_foreign_ids_are_refused_as_event_ids(
    repo: AgentLogRepository, foreign_id: str
) -> None:
    with pytest.raises(InvalidEventError, match="_id") as caught:
        repo.insert(event(_id=foreign_id))

    assert caught.value.field == "_id"


def test_foreign_ids_in_payload_fields_stay_strings(repo: AgentLogRepository) -> None:
    hex24 = "65f1c0ffee00000000000000"
    event_id = repo.insert(
        event(type="tool_call", tool={"name": "t", "call_id": hex24}, parent_id=hex24)
    )

    raw = repo.collection.find_one({"_id": ObjectId(event_id)})

    assert raw is not None
    assert raw["tool"]["call_id"] == hex24
    assert raw["parent_id"] == hex24


@pytest.mark.parametrize(
    "not_an_id",
    [
        "favicon.ico",
        "",
        "3f2b8c1e-8a2d-4d6c-9e55-6a8d2f0b9c11",
        "ab" * 16,
        "zz" * 12,
        None,
        7,
    ],
)
def test_get_with_something_that_is_not_an_event_id_is_none(
    repo: AgentLogRepository, not_an_id: Any
) -> None:
    repo.insert(event())

    assert repo.get(not_an_id) is None


def test_get_of_an_unknown_object_id_is_none(repo: AgentLogRepository) -> None:
    assert repo.get(str(ObjectId())) is None


def test_get_refuses_an_include_deleted_that_is_not_a_bool(
    repo: AgentLogRepository,
) -> None:
    with pytest.raises(InvalidFilterError, match="include_deleted"):
        repo.get(repo.insert(event()), include_deleted="no")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "chat"}, "type"),
        ({"usage": {"input_tokens": -1}}, "usage.input_tokens"),
        ({"usage": {"output_tokens": 2**64}}, "usage.output_tokens"),
        ({"cost": {"total": float("inf")}}, "cost.total"),
        ({"cost": {"input": 1.7e308}}, "cost.input"),
        ({"duration_ms": float("nan")}, "duration_ms"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"tags": "not-a-list"}, "tags"),
        ({"status": "fine"}, "status"),
    ],
)
def test_invalid_event_is_refused_naming_the_field(
    repo: AgentLogRepository, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        repo.insert(event(**fields))

    assert caught.value.field == field
    assert field in str(caught.value)
    assert repo.count(include_deleted=True) == 0


def test_event_without_type_is_refused(repo: AgentLogRepository) -> None:
    with pytest.raises(InvalidEventError, match="type"):
        repo.insert({"content": "no type"})


def test_a_non_mapping_event_is_refused(repo: AgentLogRepository) -> None:
    with pytest.raises(InvalidEventError, match="dict"):
        repo.insert(["type", "message"])  # type: ignore[arg-type]


# -- insert_many --


def test_one_bad_event_in_a_thousand_leaves_the_others_stored(
    repo: AgentLogRepository,
) -> None:
    events = [event(seq=i) for i in range(1000)]
    events[417] = event(seq=417, usage={"input_tokens": "many"})

    report = repo.insert_many(events)

    assert len(report.inserted_ids) == 999
    assert [(r.index, r.field) for r in report.refused] == [(417, "usage.input_tokens")]
    assert "usage.input_tokens" in report.refused[0].reason
    assert report.ids[417] is None
    assert all(i is not None for n, i in enumerate(report.ids) if n != 417)
    assert repo.count() == 999
    assert not report.ok


def test_insert_many_reports_already_stored_events_as_duplicates(
    repo: AgentLogRepository,
) -> None:
    first = repo.insert_many([event(seq=1), event(seq=2)])

    again = repo.insert_many([event(seq=2), event(seq=3), event(seq=3)])

    assert len(first.inserted_ids) == 2
    assert again.inserted_ids == [again.ids[1]]
    assert again.duplicate_ids == [first.ids[1], again.ids[1]]
    assert again.ok
    assert repo.count() == 3


def test_insert_many_spans_several_batches(repo: AgentLogRepository) -> None:
    report = repo.insert_many(event(seq=i) for i in range(2500))

    assert len(report.inserted_ids) == 2500
    assert repo.count() == 2500


# -- find and count --


@pytest.fixture
def varied(repo: AgentLogRepository) -> AgentLogRepository:
    repo.insert_many(
        [
            event(seq=0, started_at=at(0), tags=["a"], metadata={"llm.vendor": "x"}),
            event(seq=1, started_at=at(1), user_id="u2", tags=["a", "b"]),
            event(seq=2, started_at=at(2), session_id="s2", status="error"),
            event(seq=3, started_at=at(3), run_id="r2", type="tool_call"),
            event(seq=4, started_at=at(4), model={"name": "claude-sonnet-4"}),
        ]
    )
    return repo


@pytest.mark.parametrize(
    ("filters", "expected_seqs"),
    [
        ({}, [4, 3, 2, 1, 0]),
        ({"user_id": "u2"}, [1]),
        ({"session_id": "s2"}, [2]),
        ({"run_id": "r2"}, [3]),
        ({"type": "tool_call"}, [3]),
        ({"model": "claude-sonnet-4"}, [4]),
        ({"status": "error"}, [2]),
        ({"tags": "a"}, [1, 0]),
        ({"tags": ["a", "b"]}, [1]),
        ({"metadata": {"llm.vendor": "x"}}, [0]),
        ({"since": at(1), "until": at(3)}, [2, 1]),
        ({"since": "2025-03-01T12:03:00Z"}, [4, 3]),
        ({"user_id": "u1", "session_id": "s1", "status": "ok"}, [4, 3, 0]),
    ],
)
def test_find_and_count_apply_each_filter(
    varied: AgentLogRepository, filters: dict[str, Any], expected_seqs: list[int]
) -> None:
    page = varied.find(**filters)

    assert [e["seq"] for e in page.items] == expected_seqs
    assert varied.count(**filters) == len(expected_seqs)
    assert page.next_cursor is None


def test_keyset_pages_cover_ties_without_gaps_or_repeats(
    repo: AgentLogRepository,
) -> None:
    # Many events share each started_at, so the _id tie-break carries the order.
    repo.insert_many(event(seq=i, started_at=at(i // 10)) for i in range(95))

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = repo.find(limit=7, cursor=cursor)
        seen.extend(e["seq"] for e in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert sorted(seen) == list(range(95))
    assert len(seen) == len(set(seen))
    assert pages == 14
    started = [e["started_at"] for e in repo.find(limit=95).items]
    assert started == sorted(started, reverse=True)


def test_pages_with_deleted_events_interleave_both_in_one_order(
    repo: AgentLogRepository,
) -> None:
    ids = repo.insert_many(event(seq=i, started_at=at(i // 4)) for i in range(40)).ids
    for event_id in ids[::3]:
        assert event_id is not None
        repo.soft_delete(event_id)

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = repo.find(limit=6, cursor=cursor, include_deleted=True)
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert sorted(e["seq"] for e in seen) == list(range(40))
    keys = [(e["started_at"], e["_id"]) for e in seen]
    assert keys == sorted(keys, reverse=True)
    assert {e["seq"] for e in seen if e["deleted"]} == set(range(0, 40, 3))


def test_max_bytes_ends_a_page_early_and_the_cursor_goes_on(
    repo: AgentLogRepository,
) -> None:
    big = "x" * (2 * 1024 * 1024)  # offloaded: counted only when read back
    repo.insert_many(event(seq=i, started_at=at(i), output=big) for i in range(5))

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = repo.find(limit=50, cursor=cursor, max_bytes=5 * 1024 * 1024)
        assert 1 <= len(page.items) <= 2
        seen.extend(e["seq"] for e in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == [4, 3, 2, 1, 0]
    assert pages == 3
    markers = repo.find(limit=50, max_bytes=5 * 1024 * 1024, load_large_values=False)
    assert len(markers.items) == 5


def test_limit_is_capped(repo: AgentLogRepository) -> None:
    repo.insert_many(event(seq=i) for i in range(MAX_PAGE_SIZE + 5))

    page = repo.find(limit=10_000)

    assert len(page.items) == MAX_PAGE_SIZE
    assert page.next_cursor is not None


@pytest.mark.parametrize("limit", [0, -1, "10", 2.5, True])
def test_bad_limit_is_refused(repo: AgentLogRepository, limit: Any) -> None:
    with pytest.raises(InvalidFilterError, match="limit"):
        repo.find(limit=limit)


@pytest.mark.parametrize("cursor", ["nonsense", "MTo=", "", "x" * 500, "MTpub3Q6YQ"])
def test_bad_cursor_is_refused(repo: AgentLogRepository, cursor: str) -> None:
    with pytest.raises(InvalidFilterError, match="cursor"):
        repo.find(cursor=cursor)


@pytest.mark.parametrize(
    "filters",
    [
        {"user_id": {"$ne": ""}},
        {"user_id": ["u1", "u2"]},
        {"session_id": {"$gt": ""}},
        {"model": {"$regex": ".*"}},
        {"metadata": {"$where": "sleep(1000)"}},
        {"metadata": {"tier": {"$ne": None}}},
        {"metadata": {"tier": ["gold"]}},
        {"metadata": "tier=gold"},
        {"tags": {"$all": []}},
        {"since": {"$gt": 0}},
        {"type": "chat"},
        {"status": "weird"},
        {"include_deleted": "yes"},
        {"metadata": {"k\udc00": 1}},
        {"$where": "1"},
        {"users": "u1"},
    ],
)
def test_operator_injection_and_bad_filters_are_refused(
    varied: AgentLogRepository, filters: dict[str, Any]
) -> None:
    for call in (varied.find, varied.count, varied.usage_stats):
        with pytest.raises(InvalidFilterError):
            call(**filters)
    with pytest.raises(InvalidFilterError):
        varied.soft_delete_many(**filters)
    assert varied.count() == 5


def test_iter_events_follows_the_cursor_to_the_end(repo: AgentLogRepository) -> None:
    repo.insert_many(event(seq=i) for i in range(23))

    assert sorted(e["seq"] for e in repo.iter_events(page_size=5)) == list(range(23))


# -- update and add_usage --


def test_update_sets_fields_and_updated_at(repo: AgentLogRepository) -> None:
    event_id = repo.insert(event())
    before = repo.get(event_id)
    assert before is not None

    changed = repo.update(
        event_id, {"status": "error", "error": {"type": "Timeout", "message": "slow"}}
    )

    after = repo.get(event_id)
    assert changed is True
    assert after is not None
    assert after["status"] == "error"
    assert after["error"] == {"type": "Timeout", "message": "slow"}
    assert after["updated_at"] >= before["updated_at"]
    assert after["created_at"] == before["created_at"]


def test_update_with_none_removes_an_optional_field(repo: AgentLogRepository) -> None:
    event_id = repo.insert(event(tags=["x"]))

    repo.update(event_id, {"tags": None})

    stored = repo.get(event_id)
    assert stored is not None
    assert "tags" not in stored


@pytest.mark.parametrize("field", sorted(PROTECTED_FIELDS))
def test_update_refuses_protected_fields(repo: AgentLogRepository, field: str) -> None:
    event_id = repo.insert(event())

    with pytest.raises(InvalidUpdateError, match=field):
        repo.update(event_id, {field: None if field == "_id" else "x"})


@pytest.mark.parametrize(
    "changes",
    [
        {"$set": {"status": "ok"}},
        {"metadata.tier": "gold"},
        {"type": None},
        {"started_at": None},
        {"type": "chat"},
        {"usage": {"input_tokens": -5}},
        {"usage": {"input_tokens": 2**64}},
        {"cost": {"total": float("inf")}},
        {"": 1},
        {},
    ],
)
def test_update_refuses_bad_changes(
    repo: AgentLogRepository, changes: dict[str, Any]
) -> None:
    event_id = repo.insert(event())

    with pytest.raises(InvalidUpdateError):
        repo.update(event_id, changes)


def test_update_of_missing_or_deleted_event_is_false(repo: AgentLogRepository) -> None:
    event_id = repo.insert(event())
    repo.soft_delete(event_id)

    assert repo.update(event_id, {"status": "error"}) is False
    assert repo.update(str(ObjectId()), {"status": "error"}) is False
    assert repo.update("favicon.ico", {"status": "error"}) is False
    stored = repo.get(event_id, include_deleted=True)
    assert stored is not None
    assert stored["status"] == "ok"


def test_add_usage_increments_tokens_and_cost(repo: AgentLogRepository) -> None:
    event_id = repo.insert(event())

    repo.add_usage(
        event_id, input_tokens=100, output_tokens=20, reasoning_tokens=7, cost=0.5
    )
    repo.add_usage(
        event_id, cache_read_input_tokens=64, cost={"input": 0.25, "output": 0.25}
    )

    stored = repo.get(event_id)
    assert stored is not None
    assert stored["usage"] == {
        "input_tokens": 110,
        "output_tokens": 25,
        "total_tokens": 135,
        "reasoning_tokens": 7,
        "cache_read_input_tokens": 64,
    }
    assert stored["cost"]["total"] == pytest.approx(1.003)
    assert stored["cost"]["input"] == pytest.approx(0.251)


def test_add_usage_creates_usage_on_an_event_without_it(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert({"type": "agent_step"})

    assert repo.add_usage(event_id, input_tokens=3, output_tokens=4) is True

    stored = repo.get(event_id)
    assert stored is not None
    assert stored["usage"] == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


@pytest.mark.parametrize(
    "arguments",
    [
        {"input_tokens": -1},
        {"output_tokens": 1.5},
        {"reasoning_tokens": True},
        {"cost": -0.1},
        {"cost": {"total": "1"}},
        {"cost": {"tax": 1.0}},
        {"cost": "free"},
        {"input_tokens": 2**64},
        {"cost": float("nan")},
        {"cost": {"input": float("inf")}},
        {"cost": 10**400},
        {"cost": 1.7e308},
    ],
)
def test_add_usage_refuses_bad_amounts(
    repo: AgentLogRepository, arguments: dict[str, Any]
) -> None:
    event_id = repo.insert(event())

    with pytest.raises(InvalidUpdateError):
        repo.add_usage(event_id, **arguments)


def test_add_usage_on_a_deleted_event_is_false(repo: AgentLogRepository) -> None:
    event_id = repo.insert(event())
    repo.soft_delete(event_id)

    assert repo.add_usage(event_id, input_tokens=1) is False


# -- soft delete, restore, purge --


def test_soft_deleted_event_is_hidden_from_every_read_path(
    varied: AgentLogRepository,
) -> None:
    victim = varied.find(user_id="u2").items[0]["_id"]

    assert varied.soft_delete(victim, by="alice", reason="pii") is True

    assert varied.get(victim) is None
    assert all(e["_id"] != victim for e in varied.find().items)
    assert varied.count() == 4
    assert varied.count(user_id="u2") == 0
    assert sum(row["events"] for row in varied.usage_stats(group_by="type")) == 4
    assert all(e["_id"] != victim for e in varied.iter_events())
    hidden = varied.get(victim, include_deleted=True)
    assert hidden is not None
    assert hidden["deleted"] is True
    assert (hidden["deleted_by"], hidden["delete_reason"]) == ("alice", "pii")
    assert hidden["deleted_at"].tzinfo is not None
    assert varied.count(include_deleted=True) == 5
    assert victim in [e["_id"] for e in varied.find(include_deleted=True).items]


def test_soft_delete_twice_or_of_unknown_id_is_false(repo: AgentLogRepository) -> None:
    event_id = repo.insert(event())

    assert repo.soft_delete(event_id) is True
    assert repo.soft_delete(event_id) is False
    assert repo.soft_delete(str(ObjectId())) is False
    assert repo.soft_delete("not-an-id") is False


def test_restore_brings_the_event_back_without_deletion_marks(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert(event())
    repo.soft_delete(event_id, by="bob", reason="oops")

    assert repo.restore(event_id) is True
    assert repo.restore(event_id) is False

    stored = repo.get(event_id)
    assert stored is not None
    assert stored["deleted"] is False
    assert not {"deleted_at", "deleted_by", "delete_reason"} & set(stored)


def test_soft_delete_many_refuses_an_empty_filter(varied: AgentLogRepository) -> None:
    for filters in ({}, {"include_deleted": True}):
        with pytest.raises(InvalidFilterError, match="at least one filter"):
            varied.soft_delete_many(**filters)
    assert varied.count() == 5


def test_a_none_metadata_filter_matches_a_stored_null_only(
    varied: AgentLogRepository,
) -> None:
    kept = varied.insert(event(seq=5, metadata={"reviewed": None}))

    assert [e["_id"] for e in varied.find(metadata={"reviewed": None}).items] == [kept]
    assert varied.soft_delete_many(metadata={"no_such_key": None}) == 0
    assert varied.count() == 6


def test_filters_find_values_stored_in_another_form(
    repo: AgentLogRepository,
) -> None:
    odd = "caf\udce9"
    wanted = repo.insert(
        event(user_id=odd, tags=[odd], metadata={"big": 2**70, "text": odd})
    )
    repo.insert(event(metadata={"big": 1, "text": "cafe"}))

    for filters in (
        {"user_id": odd},
        {"tags": [odd]},
        {"metadata": {"big": 2**70}},
        {"metadata": {"text": odd}},
    ):
        assert [e["_id"] for e in repo.find(**filters).items] == [wanted], filters
        assert repo.count(**filters) == 1
    users = [row["user_id"] for row in repo.usage_stats(group_by="user_id")]
    assert odd in users


def test_soft_delete_many_deletes_what_matches(varied: AgentLogRepository) -> None:
    deleted = varied.soft_delete_many(user_id="u1", reason="gdpr request")

    assert deleted == 4
    assert varied.count() == 1
    assert varied.soft_delete_many(user_id="u1") == 0


def test_purge_removes_only_events_deleted_before_the_cutoff(
    repo: AgentLogRepository,
) -> None:
    old, recent, live = (repo.insert(event(seq=i)) for i in range(3))
    repo.soft_delete(old)
    repo.collection.update_one(
        {"_id": ObjectId(old)}, {"$set": {"deleted_at": T0 - dt.timedelta(days=90)}}
    )
    repo.soft_delete(recent)

    removed = repo.purge(
        deleted_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    )

    assert removed == 1
    assert repo.get(old, include_deleted=True) is None
    assert repo.get(recent, include_deleted=True) is not None
    assert repo.get(live) is not None


def test_an_event_stored_deleted_gets_a_deletion_time_and_can_be_purged(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert(event(deleted=True))

    stored = repo.get(event_id, include_deleted=True)
    assert stored is not None
    assert isinstance(stored["deleted_at"], dt.datetime)
    assert repo.purge(deleted_before=dt.datetime(9999, 1, 1)) == 1


def test_a_live_event_with_deletion_fields_is_refused(
    repo: AgentLogRepository,
) -> None:
    # The retention TTL would remove a live event that had a deleted_at.
    with pytest.raises(InvalidEventError, match="deleted_at"):
        repo.insert(event(deleted_at=T0))
    assert repo.count(include_deleted=True) == 0


def test_purge_never_touches_live_events(repo: AgentLogRepository) -> None:
    repo.insert_many(event(seq=i) for i in range(5))

    assert repo.purge(deleted_before=dt.datetime(9999, 1, 1)) == 0
    assert repo.count() == 5


def test_purge_needs_a_datetime(repo: AgentLogRepository) -> None:
    with pytest.raises(InvalidFilterError, match="deleted_before"):
        repo.purge(deleted_before="2025-01-01")  # type: ignore[arg-type]


# -- usage_stats --


def test_usage_stats_by_model_sums_tokens_and_cost(varied: AgentLogRepository) -> None:
    rows = varied.usage_stats(group_by="model")

    assert [r["model"] for r in rows] == ["claude-sonnet-4", "gpt-4o"]
    gpt = rows[1]
    assert gpt["events"] == 4
    assert (gpt["input_tokens"], gpt["output_tokens"], gpt["total_tokens"]) == (
        40,
        20,
        60,
    )
    assert gpt["cost"] == pytest.approx(0.012)


@pytest.mark.parametrize(
    ("group_by", "keys"),
    [
        ("user_id", ["u1", "u2"]),
        ("type", ["llm_call", "tool_call"]),
        ("day", ["2025-03-01", "2025-03-02"]),
    ],
)
def test_usage_stats_groups(
    varied: AgentLogRepository, group_by: Any, keys: list[str]
) -> None:
    varied.insert(event(seq=9, started_at=T0 + dt.timedelta(days=1), user_id="u2"))

    rows = varied.usage_stats(group_by=group_by)

    assert [r[group_by] for r in rows] == keys
    assert sum(r["events"] for r in rows) == 6


def test_usage_stats_takes_filters_and_refuses_unknown_grouping(
    varied: AgentLogRepository,
) -> None:
    rows = varied.usage_stats(group_by="model", user_id="u2")

    assert [(r["model"], r["events"]) for r in rows] == [("gpt-4o", 1)]
    with pytest.raises(InvalidFilterError, match="group_by"):
        varied.usage_stats(group_by="provider")  # type: ignore[arg-type]
    with pytest.raises(InvalidFilterError):
        varied.usage_stats(include_deleted=True)


def test_update_with_a_large_value_offloads_it_and_reads_it_back(
    repo: AgentLogRepository,
) -> None:
    event_id = repo.insert(event(output="x" * (2 * 1024 * 1024)))
    replacement = "y" * (3 * 1024 * 1024)

    repo.update(event_id, {"output": replacement, "metadata": {"small": 1}})

    stored = repo.get(event_id)
    assert stored is not None
    assert stored["output"] == replacement
    assert stored["metadata"] == {"small": 1}
