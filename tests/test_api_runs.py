"""Runs for the viewer: the listing, a run as a tree, usage statistics."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.jsonl import to_jsonable
from mongo_ai_logs.server._runs import list_runs
from tests.api_support import ACME_ADMIN, T0, Api, auth, serve_api, wire_event
from tests.helpers import chain, chain_seqs, loads_deep

A = auth(ACME_ADMIN)
SINCE = (T0 + dt.timedelta(minutes=20)).isoformat()
UNTIL = (T0 + dt.timedelta(minutes=15)).isoformat()


@pytest.fixture
def api(collection: Collection[Any]) -> Iterator[Api]:
    with serve_api(collection) as served:
        yield served


def post(api: Api, events: list[dict[str, Any]]) -> list[str]:
    report = api.client.post("/v1/events", json=events, headers=A).json()
    assert report["ok"], report["refused"]
    return [i for i in report["ids"] if i is not None]


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def interleaved_runs(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` runs of 1 to 4 events each, overlapping in time."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        start = rng.uniform(0, count)
        for step in range(rng.randint(1, 4)):
            events.append(
                wire_event(
                    run_id=f"run-{n:03d}",
                    seq=step,
                    user_id=f"user-{n % 3}",
                    model={"name": "big" if n % 4 == 0 else "small"},
                    status="error" if n % 5 == 0 and step == 1 else "ok",
                    started_at=minutes(start + rng.uniform(0, 10)),
                )
            )
    rng.shuffle(events)
    return events


def newest_first(events: list[dict[str, Any]]) -> list[str]:
    last: dict[str, str] = {}
    for e in events:
        last[e["run_id"]] = max(last.get(e["run_id"], ""), e["started_at"])
    return sorted(last, key=lambda r: last[r], reverse=True)


def page_through(api: Api, limit: int, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(1000):
        query = {"limit": limit, **params}
        if cursor:
            query["cursor"] = cursor
        page = api.client.get("/v1/runs", params=query, headers=A).json()
        seen += [r["run_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


def test_the_listing_sums_up_each_run(api: Api) -> None:
    post(
        api,
        [
            wire_event(run_id="r1", seq=0, user_id="ann", session_id="s9",
                       type="message", usage=None, cost=None, started_at=minutes(0)),
            wire_event(run_id="r1", seq=1, user_id="ann", session_id="s9",
                       model={"name": "gpt-4o"}, started_at=minutes(1),
                       ended_at=minutes(3)),
            wire_event(run_id="r1", seq=2, user_id="ann", session_id="s9",
                       model={"name": "claude"}, status="error",
                       usage={"input_tokens": 100, "output_tokens": 1},
                       cost={"total": 0.5}, started_at=minutes(2)),
            wire_event(run_id="r2", started_at=minutes(10)),
        ],
    )  # fmt: skip

    page = api.client.get("/v1/runs", headers=A).json()

    assert [r["run_id"] for r in page["items"]] == ["r2", "r1"]
    r1 = page["items"][1]
    assert r1["events"] == 3
    assert r1["users"] == ["ann"]
    assert r1["sessions"] == ["s9"]
    assert r1["models"] == ["claude", "gpt-4o"]
    assert r1["types"] == ["llm_call", "message"]
    assert r1["input_tokens"] == 110
    assert r1["output_tokens"] == 6
    assert r1["total_tokens"] == 116
    assert r1["cost"] == pytest.approx(0.503)
    assert r1["errors"] == 1
    assert r1["status"] == "error"
    assert dt.datetime.fromisoformat(r1["first_at"]) == minutes(0)
    assert dt.datetime.fromisoformat(r1["last_at"]) == minutes(2)
    assert r1["duration_ms"] == 3 * 60 * 1000
    assert page["items"][0]["status"] == "ok"


@pytest.mark.parametrize("limit", [1, 3, 7, 50])
def test_paging_lists_every_run_once_newest_first(api: Api, limit: int) -> None:
    events = interleaved_runs(40)
    post(api, events)

    assert page_through(api, limit) == newest_first(events)


def test_a_bounded_walk_returns_short_pages_that_still_reach_every_run(
    collection: Collection[Any],
) -> None:
    repo = AgentLogRepository(collection).for_project("acme")
    events = interleaved_runs(30, seed=3)
    repo.insert_many({**e, "project_id": "acme"} for e in events)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = list_runs(repo, limit=10, cursor=cursor, scan_limit=4)
        pages += 1
        assert len(page.items) <= 4
        seen += [r["run_id"] for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert pages > 3
    assert seen == newest_first(events)


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"user_id": "user-1"}, lambda e: e["user_id"] == "user-1"),
        ({"model": "big"}, lambda e: e["model"]["name"] == "big"),
        ({"status": "error"}, lambda e: e["status"] == "error"),
        ({"since": SINCE}, lambda e: e["started_at"] >= SINCE),
        ({"until": UNTIL}, lambda e: e["started_at"] < UNTIL),
    ],
)
def test_filters_list_the_runs_with_a_matching_event_in_order(
    api: Api, params: dict[str, str], keep: Any
) -> None:
    events = interleaved_runs(40, seed=11)
    post(api, events)
    matching = [e for e in events if keep(e)]

    listed = page_through(api, 6, **params)

    assert listed == newest_first(matching)


def test_status_ok_lists_runs_without_any_error(api: Api) -> None:
    events = interleaved_runs(40, seed=5)
    post(api, events)
    failed = {e["run_id"] for e in events if e["status"] == "error"}

    listed = page_through(api, 4, status="ok")

    assert listed == [r for r in newest_first(events) if r not in failed]
    assert failed


def test_deleted_events_leave_the_totals_and_runs_all_deleted_leave_the_list(
    api: Api,
) -> None:
    _, dropped = post(
        api,
        [
            wire_event(run_id="r1", seq=0, started_at=minutes(0)),
            wire_event(run_id="r1", seq=1, started_at=minutes(1)),
        ],
    )
    (gone,) = post(api, [wire_event(run_id="r2", started_at=minutes(2))])
    api.client.delete(f"/v1/events/{dropped}", headers=A)
    api.client.delete(f"/v1/events/{gone}", headers=A)

    live = api.client.get("/v1/runs", headers=A).json()["items"]
    everything = api.client.get(
        "/v1/runs", params={"include_deleted": "true"}, headers=A
    ).json()["items"]

    assert [(r["run_id"], r["events"], r["total_tokens"]) for r in live] == [
        ("r1", 1, 15)
    ]
    assert [(r["run_id"], r["events"], r["deleted_events"]) for r in everything] == [
        ("r2", 0, 1),
        ("r1", 1, 1),
    ]


def test_a_run_comes_back_as_a_tree_with_its_summary(api: Api) -> None:
    root, step, call, tool = post(
        api,
        [
            wire_event(type="run", run_id="r/1", seq=0, started_at=minutes(0),
                       _id="0" * 23 + "1", input="plan a trip"),
            wire_event(type="agent_step", run_id="r/1", seq=1, parent_id="0" * 23 + "1",
                       _id="0" * 23 + "2", started_at=minutes(1)),
            wire_event(run_id="r/1", seq=2, parent_id="0" * 23 + "2",
                       started_at=minutes(2), output={"text": "ok"}),
            wire_event(type="tool_call", run_id="r/1", seq=3, parent_id="0" * 23 + "2",
                       tool={"name": "search", "arguments": {"q": "x"}, "result": "y"},
                       started_at=minutes(3)),
        ],
    )  # fmt: skip

    full = api.client.get("/v1/runs/r%2F1", headers=A).json()
    light = api.client.get(
        "/v1/runs/r/1", params={"payloads": "false"}, headers=A
    ).json()

    assert full["run_id"] == "r/1"
    assert full["summary"]["events"] == 4
    assert full["truncated"] is False
    (top,) = full["roots"]
    assert top["_id"] == root
    assert [c["_id"] for c in top["children"]] == [step]
    assert [c["_id"] for c in top["children"][0]["children"]] == [call, tool]
    assert top["children"][0]["children"][1]["tool"]["result"] == "y"
    (light_top,) = light["roots"]
    assert "input" not in light_top
    assert light_top["payload_fields"] == ["input"]
    assert light_top["preview"] == "plan a trip"
    light_tool = light_top["children"][0]["children"][1]
    assert light_tool["tool"] == {"name": "search"}
    assert light_tool["payload_fields"] == ["tool.arguments", "tool.result"]


@pytest.mark.parametrize("payloads", ["true", "false"])
def test_a_run_thousands_deep_comes_back_whole(api: Api, payloads: str) -> None:
    events = [to_jsonable(e) for e in chain("deep", 3000)]
    for start in range(0, len(events), 1000):
        post(api, events[start : start + 1000])

    response = api.client.get("/v1/runs/deep", params={"payloads": payloads}, headers=A)

    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    body = loads_deep(response.text)
    assert body["summary"]["events"] == 3000
    assert body["truncated"] is False
    (root,) = body["roots"]
    assert chain_seqs(root) == list(range(3000))


def test_a_run_shows_its_deleted_events_only_when_asked(api: Api) -> None:
    first, second = post(
        api,
        [
            wire_event(run_id="r1", seq=0, started_at=minutes(0)),
            wire_event(run_id="r1", seq=1, started_at=minutes(1)),
        ],
    )
    api.client.delete(f"/v1/events/{second}", headers=A)

    live = api.client.get("/v1/runs/r1", headers=A).json()
    everything = api.client.get(
        "/v1/runs/r1", params={"include_deleted": "true"}, headers=A
    ).json()

    assert [n["_id"] for n in live["roots"]] == [first]
    assert [(n["_id"], n["deleted"]) for n in everything["roots"]] == [
        (first, False),
        (second, True),
    ]
    assert everything["summary"]["deleted_events"] == 1


def test_stats_group_by_each_key_with_filters(api: Api) -> None:
    post(
        api,
        [
            wire_event(seq=0, user_id="ann", model={"name": "a"},
                       started_at=minutes(0)),
            wire_event(seq=1, user_id="bob", model={"name": "a"},
                       started_at=minutes(0)),
            wire_event(seq=2, user_id="bob", model={"name": "b"},
                       started_at=minutes(60 * 24)),
            wire_event(seq=3, type="tool_call", user_id="bob", usage=None, cost=None,
                       model=None, started_at=minutes(60 * 24)),
        ],
    )  # fmt: skip

    def rows(**params: str) -> list[dict[str, Any]]:
        body = api.client.get("/v1/stats", params=params, headers=A).json()
        result: list[dict[str, Any]] = body["rows"]
        return result

    by_model = {r["model"]: r["events"] for r in rows(group_by="model")}
    by_user = {r["user_id"]: r["total_tokens"] for r in rows(group_by="user_id")}
    by_day = {r["day"]: r["events"] for r in rows(group_by="day")}
    by_type = {r["type"]: r["events"] for r in rows(group_by="type", user_id="bob")}

    assert by_model == {"a": 2, "b": 1, None: 1}
    assert by_user == {"ann": 15, "bob": 30}
    assert by_day == {"2025-03-01": 2, "2025-03-02": 2}
    assert by_type == {"llm_call": 2, "tool_call": 1}


def test_daily_usage_splits_each_day_by_model(api: Api) -> None:
    post(
        api,
        [
            wire_event(seq=0, model={"name": "a"}, started_at=minutes(0)),
            wire_event(seq=1, model={"name": "a"}, started_at=minutes(1)),
            wire_event(seq=2, model={"name": "b"}, started_at=minutes(2),
                       cost={"total": 1.25}),
            wire_event(seq=3, model={"name": "a"}, started_at=minutes(60 * 24)),
        ],
    )  # fmt: skip

    rows = api.client.get("/v1/stats/daily", headers=A).json()["rows"]
    only_b = api.client.get("/v1/stats/daily", params={"model": "b"}, headers=A)

    assert [(r["day"], r["model"], r["events"], r["total_tokens"]) for r in rows] == [
        ("2025-03-01", "a", 2, 30),
        ("2025-03-01", "b", 1, 15),
        ("2025-03-02", "a", 1, 15),
    ]
    assert rows[1]["cost"] == pytest.approx(1.25)
    assert [r["model"] for r in only_b.json()["rows"]] == ["b"]
