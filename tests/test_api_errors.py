"""Bad requests get a 4xx with a JSON body that says what was wrong, never a 500."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.collection import Collection

from mongo_ai_logs import AgentLogRepository, Settings, jsonl, reset_clients
from mongo_ai_logs.server import ServerSettings, create_app
from tests.api_support import (
    ACME_ADMIN,
    ACME_READ,
    ACME_WRITE,
    Api,
    LiveServer,
    auth,
    keyed_settings,
    serve_api,
    wire_event,
)

W = auth(ACME_WRITE)
JSON = {**W, "Content-Type": "application/json"}


@pytest.fixture
def api(collection: Collection[Any]) -> Iterator[Api]:
    with serve_api(collection, keyed_settings(max_body_bytes=64 * 1024)) as served:
        yield served


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["message"]
    if code is not None:
        assert body["error"] == code
    return body


@pytest.mark.parametrize(
    "event_id",
    ["nope", "0" * 23, "g" * 24, "0" * 25, "favicon.ico", "%00", "..", "0" * 24],
)
def test_a_malformed_or_unknown_id_is_404_on_every_event_route(
    api: Api, event_id: str
) -> None:
    path = f"/v1/events/{event_id}"

    assert_error(api.client.get(path, headers=W), 404, "not_found")
    assert_error(api.client.patch(path, json={"seq": 1}, headers=W), 404)
    assert_error(api.client.delete(path, headers=W), 404)
    assert_error(api.client.post(path + "/restore", headers=W), 404)


@pytest.mark.parametrize(
    "query",
    [
        "user_id=$ne",
        "user_id=%7B%22%24ne%22%3A%20null%7D",
        "model=%7B%22%24regex%22%3A%22.*%22%7D",
        "meta=%24where%3D1",
        "meta=a:=%7B%22%24gt%22%3A1%7D",
    ],
)
def test_an_operator_in_a_filter_is_a_422(api: Api, query: str) -> None:
    api.client.post("/v1/events", json=wire_event(), headers=W)

    for path in ("/v1/events", "/v1/stats", "/v1/stats/daily", "/v1/runs"):
        if path == "/v1/runs" and query.startswith("meta"):
            continue
        response = api.client.get(f"{path}?{query}", headers=W)

        assert_error(response, 422)


@pytest.mark.parametrize(
    "query",
    ["user_id[$ne]=x", "$where=1", "project_id=globex", "filter=%7B%7D", "limit[]=3"],
)
def test_an_unknown_query_parameter_is_a_422_naming_it(api: Api, query: str) -> None:
    response = api.client.get(f"/v1/events?{query}", headers=W)

    body = assert_error(response, 422, "unknown_parameter")
    assert body["field"] == query.split("=")[0]


def test_a_filter_given_twice_is_a_422(api: Api) -> None:
    response = api.client.get("/v1/events?user_id=a&user_id=b", headers=W)

    assert assert_error(response, 422)["field"] == "user_id"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("type=chat", "type"),
        ("status=fine", "status"),
        ("since=yesterday", "since"),
        ("until=2025-13-01", "until"),
        ("cursor=not-a-cursor", "cursor"),
        ("include_deleted=maybe", "include_deleted"),
        ("meta=novalue", "meta"),
        ("meta=n:=notjson", "meta"),
    ],
)
def test_a_bad_parameter_value_is_a_422_naming_it(
    api: Api, query: str, field: str
) -> None:
    body = assert_error(api.client.get(f"/v1/events?{query}", headers=W), 422)

    assert body["field"] == field


def test_bad_json_is_a_400(api: Api) -> None:
    for raw in (
        b"{",
        b"[1,",
        b"\xff\xfe{",
        b"NaN",
        b'{"a": Infinity}',
        b"   ",
        b'{"type": "debug", "cost": 1e400}',
        b'{"type": "debug", "content": -1e999}',
    ):
        response = api.client.post("/v1/events", content=raw, headers=JSON)

        assert_error(response, 400, "invalid_json")


def test_costs_too_large_to_sum_are_refused_and_sums_stay_numbers(
    api: Api,
) -> None:
    huge = [wire_event(seq=i, run_id="r", cost={"total": 1.5e308}) for i in range(3)]
    large = [wire_event(seq=i, run_id="r", cost={"total": 1e15}) for i in range(3)]

    refused = api.client.post("/v1/events", json=huge, headers=W).json()
    api.client.post("/v1/events", json=large, headers=W)
    stats = api.client.get("/v1/stats", headers=W)
    daily = api.client.get("/v1/stats/daily", headers=W)
    runs = api.client.get("/v1/runs", headers=W)

    assert [r["field"] for r in refused["refused"]] == ["cost.total"] * 3
    assert stats.json()["rows"][0]["cost"] == 3e15
    assert daily.json()["rows"][0]["cost"] == 3e15
    assert runs.json()["items"][0]["cost"] == 3e15


def test_an_empty_filter_is_a_422(api: Api) -> None:
    for query in ("user_id=", "since=", "meta=", "cursor="):
        assert_error(api.client.get(f"/v1/events?{query}", headers=W), 422)
    assert_error(api.client.get("/v1/runs?model=", headers=W), 422)


def test_a_body_that_is_not_json_is_a_415(api: Api) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = dict(W)
        if content_type:
            headers["Content-Type"] = content_type
        response = api.client.post("/v1/events", content=b"{}", headers=headers)

        assert_error(response, 415, "unsupported_media_type")


def test_a_body_over_the_limit_is_a_413_and_nothing_is_stored(api: Api) -> None:
    big = [wire_event(seq=i, content="x" * 1000) for i in range(100)]

    response = api.client.post("/v1/events", json=big, headers=W)

    assert_error(response, 413, "body_too_large")
    assert api.repo.for_project("acme").count() == 0


def test_a_batch_over_the_event_limit_is_a_413(collection: Collection[Any]) -> None:
    with serve_api(collection, keyed_settings(max_batch_events=3)) as api:
        response = api.client.post("/v1/events", json=[{}] * 4, headers=W)

        assert_error(response, 413, "batch_too_large")


def test_a_chunked_body_is_cut_off_at_the_limit_while_it_is_read(
    collection: Collection[Any],
) -> None:
    limit = 256 * 1024
    app = create_app(
        server_settings=keyed_settings(max_body_bytes=limit),
        repository=AgentLogRepository(collection),
    )
    chunk = b"[" + b'{"type":"debug","content":"' + b"x" * 65000 + b'"},'
    offered = 64 * 1024 * 1024

    with (
        LiveServer(app) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + ACME_WRITE.encode() + b"\r\n"
            b"Content-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        sock.setblocking(False)
        reply = b""
        while sent < offered and not reply:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.01)
            with contextlib.suppress(BlockingIOError):
                reply = sock.recv(65536)
        sock.setblocking(True)
        while b"\r\n\r\n" in reply and not reply.endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            reply += more

    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < offered // 4
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"] == "body_too_large"


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        '{"type": "debug", "content": ' + "[" * 950 + "]" * 950 + "}",
        '{"type": "debug", "output": ' + '{"a":' * 600 + "1" + "}" * 600 + "}",
        '{"type": "debug", "content": 1' + "0" * 5000 + "}",
        '{"type": "debug", "content": "\\ud800"}',
        '{"type": "debug", "metadata": {"\\udfff": 1}}',
        '{"type": "debug", "user_id": "a\\u0000b", "metadata": {"\\u0000": 1}}',
        '{"type": "debug", "output": {"%deep": "x"}}',
        '{"type": "debug", "output": {"%datetime": "not a time"}}',
        '{"type": "debug", "output": {"%set": 5}}',
        '{"type": "debug", "output": {"%float": "loud"}}',
        '{"type": "debug", "_id": {"$oid": "0123"}}',
        '{"type": "debug", "_id": "0123456789abcdef01234567", "project_id": 5}',
        '{"type": "debug", "": "empty key", "$set": {"a": 1}}',
        '{"type": "debug", "started_at": "9999-99-99"}',
        '{"type": "debug", "started_at": "+99999-01-01T00:00:00"}',
        '{"type": "debug", "tags": "not-a-list", "seq": 1e300}',
        '{"type": "debug", "cost": -1}',
        '{"type": "debug", "started_at": "0001-01-01T00:00:00+05:00"}',
        '{"type": "debug", "ended_at": "9999-12-31T23:59:59-05:00"}',
        '{"type": "debug", "output": {"%datetime": "0001-01-01T00:00:00+05:00"}}',
        '{"type": "debug", "_id": "0123456789abcdef01234567", "content": "\\udc80"}',
    ],
)
def test_hostile_bodies_get_an_answer_never_a_500(api: Api, body: str) -> None:
    for payload in (body, f"[{body}]"):
        response = api.client.post("/v1/events", content=payload, headers=JSON)

        assert response.status_code < 500, response.text
        if response.status_code == 200:
            report = response.json()
            assert len(report["ids"]) == 1
            if report["refused"]:
                assert report["refused"][0]["reason"]


def test_a_lone_surrogate_in_text_is_stored_and_in_a_key_refused(api: Api) -> None:
    body = (
        '[{"type": "debug", "content": "cut \\ud800"},'
        ' {"type": "debug", "metadata": {"k\\udfff": 1}}]'
    )

    report = api.client.post("/v1/events", content=body, headers=JSON).json()

    assert report["inserted"] == 1
    assert report["refused"][0]["index"] == 1
    assert report["refused"][0]["field"] == "metadata"
    event = api.client.get(f"/v1/events/{report['ids'][0]}", headers=W)
    assert event.status_code == 200
    assert jsonl.from_jsonable(event.json())["content"] == "cut \ud800"


def test_a_date_out_of_range_refuses_only_its_event(api: Api) -> None:
    batch = [
        wire_event(seq=0),
        {**wire_event(seq=1), "started_at": "0001-01-01T00:00:00+05:00"},
        wire_event(seq=2),
    ]

    report = api.client.post("/v1/events", json=batch, headers=W).json()

    assert [r["index"] for r in report["refused"]] == [1]
    assert "outside years 1 to 9999" in report["refused"][0]["reason"]
    assert report["inserted"] == 2
    assert report["ids"][0] is not None
    assert report["ids"][2] is not None


def test_times_out_of_range_in_filters_patch_and_purge_are_422(api: Api) -> None:
    event_id = api.client.post("/v1/events", json=wire_event(), headers=W).json()["id"]
    early = "0001-01-01T00:00:00+05:00"

    for path in ("/v1/events", "/v1/runs", "/v1/stats", "/v1/stats/daily"):
        response = api.client.get(path, params={"since": early}, headers=W)
        assert assert_error(response, 422)["field"] == "since"
    patch = api.client.patch(
        f"/v1/events/{event_id}", json={"started_at": early}, headers=W
    )
    purge = api.client.post(
        "/v1/purge", json={"deleted_before": early}, headers=auth(ACME_ADMIN)
    )

    assert_error(patch, 422)
    assert assert_error(purge, 422)["field"] == "deleted_before"


def test_a_valid_surrogate_pair_is_stored(api: Api) -> None:
    body = '{"type": "debug", "content": "\\ud83d\\ude00"}'

    response = api.client.post("/v1/events", content=body, headers=JSON)

    assert response.status_code == 201
    event = api.client.get(f"/v1/events/{response.json()['id']}", headers=W).json()
    assert event["content"] == "\U0001f600"


def test_patch_refuses_bad_bodies_with_a_4xx(api: Api) -> None:
    event_id = api.client.post("/v1/events", json=wire_event(), headers=W).json()["id"]
    path = f"/v1/events/{event_id}"

    for raw, status in [
        (b"{", 400),
        (b"[]", 422),
        (b"{}", 422),
        (b'"status"', 422),
        (b'{"metadata": {"k\\udc00": 1}}', 422),
        (b'{"output": {"%decimal": "abc"}}', 422),
        (b'{"$set": {"status": "error"}}', 422),
        (b'{"metadata.x": 1}', 422),
        (b'{"deleted": false}', 422),
        (b'{"type": null}', 422),
    ]:
        assert_error(api.client.patch(path, content=raw, headers=JSON), status)


def test_no_key_is_a_401_that_says_how_to_send_one(api: Api) -> None:
    response = api.client.get("/v1/events")

    body = assert_error(response, 401, "unauthorized")
    assert "Authorization: Bearer" in body["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-key-0123456789"},
        {"Authorization": f"Basic {ACME_ADMIN}"},
        {"Authorization": f"Bearer {ACME_ADMIN}x"},
        {"Authorization": f"Bearer {ACME_ADMIN[:-1]}"},
        {"X-API-Key": ACME_ADMIN.upper()},
    ],
)
def test_a_wrong_key_is_a_401_that_never_echoes_it(
    api: Api, headers: dict[str, str]
) -> None:
    response = api.client.get("/v1/events", headers=headers)

    assert_error(response, 401, "unauthorized")
    presented = headers.get("X-API-Key") or headers["Authorization"].split()[-1]
    assert presented not in response.text


def test_the_key_may_come_in_x_api_key(api: Api) -> None:
    response = api.client.get("/v1/whoami", headers={"X-API-Key": ACME_READ})

    assert response.status_code == 200
    assert response.json()["role"] == "read"


def test_a_role_too_low_is_a_403_naming_both_roles(api: Api) -> None:
    response = api.client.post(
        "/v1/purge", json={"deleted_before": "2030-01-01"}, headers=auth(ACME_WRITE)
    )

    body = assert_error(response, 403, "forbidden")
    assert "write" in body["message"]
    assert "admin" in body["message"]


def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    assert_error(api.client.get("/v1/nothing", headers=W), 404, "not_found")
    assert_error(api.client.put("/v1/events", headers=W), 405, "method_not_allowed")
    assert_error(api.client.get("/docs"), 404)


def test_the_run_and_stats_routes_refuse_bad_parameters(api: Api) -> None:
    assert_error(api.client.get("/v1/runs?limit=201", headers=W), 422)
    assert_error(api.client.get("/v1/runs?status=maybe", headers=W), 422)
    assert_error(api.client.get("/v1/runs?cursor=%00", headers=W), 422)
    assert_error(api.client.get("/v1/runs?run_id=r1", headers=W), 422)
    assert_error(api.client.get("/v1/runs/nope", headers=W), 404, "not_found")
    assert_error(api.client.get("/v1/stats?group_by=project_id", headers=W), 422)
    assert_error(
        api.client.get("/v1/stats?include_deleted=true", headers=W),
        422,
        "unknown_parameter",
    )


def test_a_database_that_stops_answering_is_a_503_not_a_500(
    secantus: Any,
) -> None:

    settings = Settings(
        uri=secantus.uri + "?serverSelectionTimeoutMS=500", timeout_ms=500
    )
    app = create_app(settings, keyed_settings())

    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/healthz").status_code == 200
        secantus.stop()

        health = client.get("/healthz")
        listing = client.get("/v1/events", headers=W)
        posting = client.post("/v1/events", json=wire_event(), headers=W)

    reset_clients()
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert_error(listing, 503, "database_unavailable")
    assert_error(posting, 503, "database_unavailable")
    assert "127.0.0.1" not in listing.text


def test_errors_from_the_local_mode_have_the_same_shape(
    collection: Collection[Any],
) -> None:
    with serve_api(collection, ServerSettings()) as api:
        assert_error(api.client.get("/v1/events?limit=x"), 422, "invalid_request")
        assert_error(api.client.get("/v1/events/nope"), 404, "not_found")
