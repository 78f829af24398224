"""A key reaches its own project only: no id, filter or cursor crosses over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from mongo_ai_logs.server import ServerSettings
from tests.api_support import (
    ACME_ADMIN,
    GLOBEX_ADMIN,
    T0,
    Api,
    auth,
    serve_api,
    wire_event,
)

ACME = auth(ACME_ADMIN)
GLOBEX = auth(GLOBEX_ADMIN)


@pytest.fixture
def api(collection: Collection[Any]) -> Iterator[Api]:
    with serve_api(collection) as served:
        yield served


@pytest.fixture
def acme_ids(api: Api) -> list[str]:
    """Events of acme that share users, runs and models with globex's."""
    batch = [
        wire_event(
            seq=i,
            user_id="shared-user",
            run_id="shared-run",
            metadata={"env": "prod"},
            tags=["shared"],
            started_at=T0 + dt.timedelta(minutes=i),
            content=f"acme secret {i}",
        )
        for i in range(6)
    ]
    report = api.client.post("/v1/events", json=batch, headers=ACME).json()
    assert report["inserted"] == 6
    globex = wire_event(seq=0, user_id="shared-user", run_id="globex-run")
    assert api.client.post("/v1/events", json=globex, headers=GLOBEX).status_code == 201
    return [i for i in report["ids"] if i is not None]


def test_another_projects_id_is_404_for_every_route(
    api: Api, acme_ids: list[str]
) -> None:
    secret = acme_ids[0]
    path = f"/v1/events/{secret}"

    assert api.client.get(path, headers=GLOBEX).status_code == 404
    assert (
        api.client.get(path, params={"include_deleted": "true"}, headers=GLOBEX)
    ).status_code == 404
    patch = api.client.patch(path, json={"content": "pwned"}, headers=GLOBEX)
    assert patch.status_code == 404
    assert api.client.delete(path, headers=GLOBEX).status_code == 404
    api.client.delete(f"/v1/events/{acme_ids[1]}", headers=ACME)
    restore = api.client.post(f"/v1/events/{acme_ids[1]}/restore", headers=GLOBEX)
    assert restore.status_code == 404

    untouched = api.client.get(path, headers=ACME).json()
    assert untouched["content"] == "acme secret 0"
    assert api.client.get(f"/v1/events/{acme_ids[1]}", headers=ACME).status_code == 404


def test_filters_find_only_the_keys_project(api: Api, acme_ids: list[str]) -> None:
    queries: list[dict[str, Any]] = [
        {},
        {"user_id": "shared-user"},
        {"run_id": "shared-run"},
        {"tag": "shared"},
        {"meta": "env=prod"},
        {"include_deleted": "true"},
        {"model": "gpt-4o", "limit": 1000},
    ]
    for params in queries:
        page = api.client.get("/v1/events", params=params, headers=GLOBEX).json()

        assert {e["project_id"] for e in page["items"]} <= {"globex"}, params
        assert all("acme" not in str(e.get("content")) for e in page["items"])


def test_a_cursor_from_another_project_pages_only_the_keys_events(
    api: Api, acme_ids: list[str]
) -> None:
    first = api.client.get("/v1/events", params={"limit": 2}, headers=ACME).json()
    cursor = first["next_cursor"]
    assert cursor is not None

    page = api.client.get(
        "/v1/events", params={"cursor": cursor, "limit": 100}, headers=GLOBEX
    ).json()
    runs = api.client.get(
        "/v1/runs", params={"cursor": cursor, "limit": 100}, headers=GLOBEX
    ).json()

    assert all(e["project_id"] == "globex" for e in page["items"])
    assert all(r["run_id"] != "shared-run" for r in runs["items"])


def test_runs_and_stats_count_only_the_keys_project(
    api: Api, acme_ids: list[str]
) -> None:
    run = api.client.get("/v1/runs/shared-run", headers=GLOBEX)
    runs = api.client.get(
        "/v1/runs", params={"include_deleted": "true"}, headers=GLOBEX
    )
    stats = api.client.get("/v1/stats", headers=GLOBEX).json()["rows"]
    daily = api.client.get("/v1/stats/daily", headers=GLOBEX).json()["rows"]
    acme_stats = api.client.get("/v1/stats", headers=ACME).json()["rows"]

    assert run.status_code == 404
    assert [r["run_id"] for r in runs.json()["items"]] == ["globex-run"]
    assert sum(row["events"] for row in stats) == 1
    assert sum(row["events"] for row in daily) == 1
    assert sum(row["events"] for row in acme_stats) == 6


def test_an_event_naming_another_project_is_refused(
    api: Api, acme_ids: list[str]
) -> None:
    response = api.client.post(
        "/v1/events", json=wire_event(project_id="acme"), headers=GLOBEX
    )
    batch = api.client.post(
        "/v1/events",
        json=[wire_event(project_id="acme", seq=9), wire_event(seq=10)],
        headers=GLOBEX,
    ).json()

    assert response.status_code == 422
    assert response.json()["field"] == "project_id"
    assert [r["index"] for r in batch["refused"]] == [0]
    acme = api.client.get("/v1/events", params={"limit": 100}, headers=ACME).json()
    assert len(acme["items"]) == 6


def test_reusing_another_projects_id_does_not_overwrite_or_reveal_it(
    api: Api, acme_ids: list[str]
) -> None:
    taken = acme_ids[0]

    response = api.client.post(
        "/v1/events",
        json={**wire_event(content="globex"), "_id": taken},
        headers=GLOBEX,
    )

    assert response.status_code == 422
    assert "acme" not in response.text
    acme_event = api.client.get(f"/v1/events/{taken}", headers=ACME).json()
    assert acme_event["content"] == "acme secret 0"


def test_purge_removes_only_the_keys_projects_events(
    api: Api, acme_ids: list[str]
) -> None:
    api.client.delete(f"/v1/events/{acme_ids[0]}", headers=ACME)
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()

    purged = api.client.post(
        "/v1/purge", json={"deleted_before": future}, headers=GLOBEX
    ).json()

    assert purged == {"purged": 0}
    kept = api.client.get(
        f"/v1/events/{acme_ids[0]}", params={"include_deleted": "true"}, headers=ACME
    )
    assert kept.status_code == 200


def test_without_keys_every_request_is_the_configured_project(
    collection: Collection[Any],
) -> None:
    with serve_api(collection, ServerSettings(project="local-proj")) as api:
        stored = api.client.post("/v1/events", json=wire_event())
        me = api.client.get("/v1/whoami").json()
        event = api.repo.for_project("local-proj").get(stored.json()["id"])

    assert stored.status_code == 201
    assert me == {
        "project": "local-proj",
        "role": "admin",
        "name": "local",
        "auth": False,
    }
    assert event is not None
