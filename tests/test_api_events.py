"""The events endpoints: store, find, read, change, delete, restore, purge."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from mongo_ai_logs.jsonl import from_jsonable
from mongo_ai_logs.server import _routes_events
from tests.api_support import (
    ACME_ADMIN,
    ACME_READ,
    ACME_WRITE,
    T0,
    Api,
    auth,
    serve_api,
    wire_event,
)

W = auth(ACME_WRITE)


@pytest.fixture
def api(collection: Collection[Any]) -> Iterator[Api]:
    with serve_api(collection) as served:
        yield served


def post(api: Api, body: Any, key: str = ACME_WRITE) -> Any:
    return api.client.post("/v1/events", json=body, headers=auth(key))


def test_one_event_is_stored_and_reads_back_as_posted(api: Api) -> None:
    sent = wire_event(content="hello", metadata={"llm.request.type": "chat"})

    response = post(api, sent)

    assert response.status_code == 201
    body = response.json()
    assert body["inserted"] is True
    read = api.client.get(f"/v1/events/{body['id']}", headers=W)
    assert read.status_code == 200
    event = read.json()
    assert event["content"] == "hello"
    assert event["metadata"] == {"llm.request.type": "chat"}
    assert event["project_id"] == "acme"
    assert dt.datetime.fromisoformat(event["started_at"]) == T0


def test_values_json_has_no_type_for_round_trip_through_markers(api: Api) -> None:
    payload = {
        "blob": b"\x00\xffbinary",
        "price": decimal.Decimal("1.10"),
        "when": dt.datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=dt.timezone.utc),
        "labels": {"b", "a"},
        "nan": float("nan"),
        "huge": 2**80,
        "$ref": "#/defs/x",
        "%literal": "kept",
    }
    sent = wire_event(output=payload)

    event_id = post(api, sent).json()["id"]
    got = from_jsonable(api.client.get(f"/v1/events/{event_id}", headers=W).json())

    out = got["output"]
    assert out["blob"] == payload["blob"]
    assert out["price"] == payload["price"]
    assert out["when"] == payload["when"]
    assert out["labels"] == payload["labels"]
    assert out["nan"] != out["nan"]
    assert out["huge"] == 2**80
    assert out["$ref"] == "#/defs/x"
    assert out["%literal"] == "kept"
    stored = api.repo.for_project("acme").get(event_id)
    assert stored is not None
    del stored["output"]["nan"], got["output"]["nan"]
    assert got == stored


def test_posting_the_same_event_twice_stores_it_once(api: Api) -> None:
    sent = wire_event(content="once")

    first = post(api, sent).json()
    second = post(api, sent).json()

    assert first["id"] == second["id"]
    assert (first["inserted"], second["inserted"]) == (True, False)
    assert api.repo.for_project("acme").count() == 1


def test_a_batch_stores_the_good_events_and_reports_each_refused_one(
    api: Api,
) -> None:
    batch = [
        wire_event(seq=0),
        {"type": "not-a-type"},
        wire_event(seq=2),
        "not an object",
        wire_event(seq=4, usage={"input_tokens": -5}),
        {**wire_event(seq=5), "output": {"%bytes": "***not base64***"}},
        wire_event(seq=6),
        {**wire_event(seq=7), "output": {"%decimal": "abc"}},
        {**wire_event(seq=8), "metadata": {"id": {"%uuid": 5}}},
    ]

    response = post(api, batch)

    assert response.status_code == 200
    report = response.json()
    assert report["ok"] is False
    assert [r["index"] for r in report["refused"]] == [1, 3, 4, 5, 7, 8]
    by_index = {r["index"]: r for r in report["refused"]}
    assert by_index[1]["field"] == "type"
    assert by_index[4]["field"] == "usage.input_tokens"
    assert "JSON object" in by_index[3]["reason"]
    assert "%decimal" in by_index[7]["reason"]
    assert report["inserted"] == 3
    assert [i is not None for i in report["ids"]] == [
        True,
        False,
        True,
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    stored = {e["seq"] for e in api.repo.for_project("acme").find().items}
    assert stored == {0, 2, 6}


def test_a_refused_single_event_is_a_422_naming_the_field(api: Api) -> None:
    response = post(api, wire_event(type="chat"))

    assert response.status_code == 422
    assert response.json()["field"] == "type"
    assert api.repo.for_project("acme").count(include_deleted=True) == 0


def test_a_body_that_is_neither_an_event_nor_a_batch_is_refused(api: Api) -> None:
    for body in ("5", '"text"', "null", "true"):
        response = api.client.post(
            "/v1/events",
            content=body,
            headers={**W, "Content-Type": "application/json"},
        )

        assert response.status_code == 422, body
        assert response.json()["error"] == "invalid_body"


def test_find_filters_and_pages_with_cursors_through_every_event(api: Api) -> None:
    batch = [
        wire_event(
            seq=i,
            user_id="alice" if i % 2 else "bob",
            started_at=T0 + dt.timedelta(minutes=i),
            tags=["even"] if i % 2 == 0 else ["odd"],
            metadata={"env.name": "prod" if i < 10 else "dev", "retries": i % 3},
        )
        for i in range(25)
    ]
    assert post(api, batch).json()["inserted"] == 25

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"user_id": "alice", "limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get("/v1/events", params=params, headers=W).json()
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted((i for i in range(25) if i % 2), reverse=True)
    tagged = api.client.get(
        "/v1/events", params={"tag": "even", "limit": 100}, headers=W
    )
    assert {e["seq"] for e in tagged.json()["items"]} == set(range(0, 25, 2))
    dotted = api.client.get(
        "/v1/events", params={"meta": ["env.name=prod", "retries:=1"]}, headers=W
    )
    assert {e["seq"] for e in dotted.json()["items"]} == {1, 4, 7}
    window = api.client.get(
        "/v1/events",
        params={
            "since": (T0 + dt.timedelta(minutes=3)).isoformat(),
            "until": (T0 + dt.timedelta(minutes=6)).isoformat(),
        },
        headers=W,
    )
    assert {e["seq"] for e in window.json()["items"]} == {3, 4, 5}


def test_large_values_can_be_listed_as_markers_and_read_whole(api: Api) -> None:
    big = "x" * (1024 * 1024 + 10)
    event_id = post(api, wire_event(output=big)).json()["id"]

    listed = api.client.get(
        "/v1/events", params={"load_large_values": "false"}, headers=W
    ).json()
    marker = listed["items"][0]["output"]
    one_marker = api.client.get(
        f"/v1/events/{event_id}", params={"load_large_values": "false"}, headers=W
    ).json()["output"]
    whole = api.client.get(f"/v1/events/{event_id}", headers=W).json()["output"]

    assert marker["offloaded"] is True
    assert marker["bytes"] == len(big)
    assert one_marker == marker
    assert whole == big


def test_a_page_of_large_events_ends_early_with_a_cursor(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_routes_events, "PAGE_BYTES", 3 * 1024 * 1024)
    big = "x" * (2 * 1024 * 1024)
    for seq in range(3):
        post(api, wire_event(seq=seq, output=big))

    first = api.client.get("/v1/events", headers=W).json()
    rest = api.client.get(
        "/v1/events", params={"cursor": first["next_cursor"]}, headers=W
    ).json()

    assert len(first["items"]) == 1
    assert first["items"][0]["output"] == big
    assert first["next_cursor"] is not None
    assert len(rest["items"]) == 1


def test_patch_sets_and_removes_fields_and_refuses_protected_ones(api: Api) -> None:
    event_id = post(api, wire_event(tags=["a"])).json()["id"]

    changed = api.client.patch(
        f"/v1/events/{event_id}",
        json={"status": "error", "error": {"type": "Timeout"}, "tags": None},
        headers=W,
    )
    protected = api.client.patch(
        f"/v1/events/{event_id}", json={"project_id": "globex"}, headers=W
    )
    bad_value = api.client.patch(
        f"/v1/events/{event_id}", json={"usage": {"input_tokens": "many"}}, headers=W
    )

    assert changed.status_code == 200
    assert changed.json()["status"] == "error"
    assert "tags" not in changed.json()
    assert protected.status_code == 422
    assert protected.json()["field"] == "project_id"
    assert bad_value.status_code == 422
    assert bad_value.json()["field"] == "usage.input_tokens"
    stored = api.repo.for_project("acme").get(event_id)
    assert stored is not None
    assert stored["project_id"] == "acme"


def test_patch_of_an_unknown_or_malformed_id_is_404(api: Api) -> None:
    for event_id in ("0" * 24, "not-an-id"):
        response = api.client.patch(
            f"/v1/events/{event_id}", json={"status": "ok"}, headers=W
        )

        assert response.status_code == 404, event_id


def test_delete_hides_an_event_and_restore_brings_it_back(api: Api) -> None:
    event_id = post(api, wire_event()).json()["id"]

    deleted = api.client.delete(
        f"/v1/events/{event_id}", params={"reason": "pii"}, headers=W
    )
    hidden = api.client.get(f"/v1/events/{event_id}", headers=W)
    listed = api.client.get("/v1/events", headers=W).json()["items"]
    kept = api.client.get(
        f"/v1/events/{event_id}", params={"include_deleted": "true"}, headers=W
    ).json()
    restored = api.client.post(f"/v1/events/{event_id}/restore", headers=W)
    back = api.client.get(f"/v1/events/{event_id}", headers=W)

    assert deleted.status_code == 200
    assert deleted.json() == {"id": event_id, "deleted": True}
    assert hidden.status_code == 404
    assert listed == []
    assert kept["deleted"] is True
    assert kept["delete_reason"] == "pii"
    assert kept["deleted_by"] == "acme/write"
    assert restored.json() == {"id": event_id, "deleted": False}
    assert back.status_code == 200
    assert "deleted_at" not in back.json()


def test_delete_and_restore_are_idempotent_and_404_for_unknown_ids(api: Api) -> None:
    event_id = post(api, wire_event()).json()["id"]

    assert (
        api.client.post(f"/v1/events/{event_id}/restore", headers=W).status_code == 200
    )
    assert api.client.delete(f"/v1/events/{event_id}", headers=W).status_code == 200
    assert api.client.delete(f"/v1/events/{event_id}", headers=W).status_code == 200
    for unknown in ("0" * 24, "favicon.ico", "zz" * 12):
        assert api.client.delete(f"/v1/events/{unknown}", headers=W).status_code == 404
        restore = api.client.post(f"/v1/events/{unknown}/restore", headers=W)
        assert restore.status_code == 404


def test_purge_removes_only_events_deleted_before_the_cutoff_and_needs_admin(
    api: Api,
) -> None:
    live = post(api, wire_event(seq=1)).json()["id"]
    gone = post(api, wire_event(seq=2)).json()["id"]
    api.client.delete(f"/v1/events/{gone}", headers=W)
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()

    by_writer = api.client.post("/v1/purge", json={"deleted_before": future}, headers=W)
    too_early = api.client.post(
        "/v1/purge", json={"deleted_before": "2000-01-01"}, headers=auth(ACME_ADMIN)
    )
    purged = api.client.post(
        "/v1/purge", json={"deleted_before": future}, headers=auth(ACME_ADMIN)
    )

    assert by_writer.status_code == 403
    assert too_early.json() == {"purged": 0}
    assert purged.json() == {"purged": 1}
    repo = api.repo.for_project("acme")
    assert repo.get(gone, include_deleted=True) is None
    assert repo.get(live) is not None


def test_purge_refuses_a_body_without_a_time(api: Api) -> None:
    for body in (
        {},
        {"deleted_before": "yesterday"},
        [],
        {"deleted_before": None},
        {"deleted_before": 0},
        {"deleted_before": 1.5e9},
    ):
        response = api.client.post("/v1/purge", json=body, headers=auth(ACME_ADMIN))

        assert response.status_code == 422, body
        assert response.json()["field"] == "deleted_before"


def test_a_read_key_reads_but_cannot_write_change_or_delete(api: Api) -> None:
    event_id = post(api, wire_event()).json()["id"]
    r = auth(ACME_READ)

    assert api.client.get(f"/v1/events/{event_id}", headers=r).status_code == 200
    assert (
        api.client.post("/v1/events", json=wire_event(), headers=r).status_code == 403
    )
    patch = api.client.patch(f"/v1/events/{event_id}", json={"seq": 1}, headers=r)
    assert patch.status_code == 403
    assert api.client.delete(f"/v1/events/{event_id}", headers=r).status_code == 403
    restore = api.client.post(f"/v1/events/{event_id}/restore", headers=r)
    assert restore.status_code == 403
    stored = api.repo.for_project("acme").get(event_id)
    assert stored is not None
    assert "seq" not in stored


def test_whoami_names_the_project_and_role_of_the_key(api: Api) -> None:
    me = api.client.get("/v1/whoami", headers=auth(ACME_ADMIN)).json()

    assert me == {"project": "acme", "role": "admin", "name": "alice", "auth": True}


def test_healthz_pings_the_database(api: Api) -> None:
    response = api.client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}
