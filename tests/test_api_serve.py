"""Keys in the settings, the loopback rule, and what guards every request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo.collection import Collection

from mongo_ai_logs import ConfigurationError, Settings
from mongo_ai_logs.server import ApiKey, Role, ServerSettings, serve
from mongo_ai_logs.server._auth import KeyRing
from mongo_ai_logs.server._serve import check_host
from tests.api_support import (
    ACME_ADMIN,
    ACME_WRITE,
    Api,
    auth,
    keyed_settings,
    serve_api,
    wire_event,
)
from tests.cli_support import InProcessCli

SECRET = "s3cret-key-that-must-never-show"


@pytest.fixture
def api(collection: Collection[Any]) -> Iterator[Api]:
    with serve_api(collection) as served:
        yield served


@pytest.fixture
def local(collection: Collection[Any]) -> Iterator[Api]:
    with serve_api(collection, ServerSettings()) as served:
        yield served


# -- keys in the settings --------------------------------------------------------


def test_keys_are_read_from_the_environment_with_project_role_and_name() -> None:
    settings = ServerSettings.load(
        environ={
            "AI_LOGS_API_KEYS": f"{SECRET}:acme:write, {SECRET}-2:globex:admin:ops",
        }
    )

    assert [(k.project, k.role, k.name) for k in settings.api_keys] == [
        ("acme", Role.WRITE, "acme/write"),
        ("globex", Role.ADMIN, "ops"),
    ]
    assert settings.auth_required


def test_keys_are_read_from_a_file_and_add_to_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_text(
        f"# the team's keys\n\n{SECRET}-a:acme:read\n{SECRET}-b:acme:admin:root\n"
    )

    settings = ServerSettings.load(
        environ={
            "AI_LOGS_API_KEYS": f"{SECRET}:globex:write",
            "AI_LOGS_API_KEYS_FILE": str(key_file),
        }
    )

    assert [k.name for k in settings.api_keys] == ["globex/write", "acme/read", "root"]


def test_keys_come_from_a_dotenv_file_too(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"AI_LOGS_API_KEYS={SECRET}:acme:read\nAI_LOGS_PROJECT=ignored\n")

    settings = ServerSettings.load(env_file=env, environ={})

    assert settings.api_keys[0].project == "acme"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (f"{SECRET}:acme", "KEY:PROJECT:ROLE"),
        (f"{SECRET}:acme:root", "read, write or admin"),
        (f"{SECRET}::read", "project is empty"),
        ("short:acme:read", "16 to 256"),
        (f"{SECRET[:10]} {SECRET[10:]}:acme:read", "printable ASCII"),
        (f"{SECRET}:a:read:b:c", "KEY:PROJECT:ROLE"),
    ],
)
def test_a_malformed_key_entry_is_refused_without_showing_the_key(
    entry: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ServerSettings.load(environ={"AI_LOGS_API_KEYS": f"{SECRET}-ok:p:read,{entry}"})

    message = str(caught.value)
    assert says in message
    assert "entry 2" in message
    assert SECRET[:10] not in message


def test_the_same_key_twice_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="listed twice"):
        ServerSettings.load(
            environ={"AI_LOGS_API_KEYS": f"{SECRET}:a:read,{SECRET}:b:admin"}
        )


def test_a_missing_key_file_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        ServerSettings.load(environ={"AI_LOGS_API_KEYS_FILE": "/nonexistent/keys"})


def test_the_body_limit_is_read_and_checked() -> None:
    assert (
        ServerSettings.load(
            environ={"AI_LOGS_API_MAX_BODY_BYTES": "1000"}
        ).max_body_bytes
        == 1000
    )
    with pytest.raises(ConfigurationError, match="AI_LOGS_API_MAX_BODY_BYTES"):
        ServerSettings.load(environ={"AI_LOGS_API_MAX_BODY_BYTES": "lots"})
    with pytest.raises(ConfigurationError, match="max_body_bytes"):
        ServerSettings(max_body_bytes=0)


def test_a_key_never_shows_in_reprs() -> None:
    key = ApiKey.parse(f"{SECRET}:acme:read")
    settings = ServerSettings(api_keys=(key,))

    assert SECRET not in repr(key)
    assert SECRET not in repr(settings)
    assert SECRET not in repr(KeyRing(settings))


def test_a_key_matches_only_whole_and_exact() -> None:
    ring = KeyRing(ServerSettings(api_keys=(ApiKey.parse(f"{SECRET}:acme:read"),)))

    found = ring.identify(SECRET)
    assert found is not None
    assert found.project == "acme"
    for wrong in (SECRET[:-1], SECRET + "x", SECRET.upper(), "", None, "\udcff"):
        assert ring.identify(wrong) is None


# -- the loopback rule --------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_without_keys_the_service_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(ConfigurationError, match=r"127\.0\.0\.1 only"):
        serve(Settings(), ServerSettings(), host=host, port=0)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_are_accepted_without_keys(host: str) -> None:
    check_host(host, ServerSettings())


def test_with_keys_any_host_is_accepted() -> None:
    check_host("0.0.0.0", keyed_settings())


def test_without_keys_requests_to_another_host_name_are_refused(local: Api) -> None:
    for host in ("evil.example", "evil.example:8000", "10.0.0.1"):
        response = local.client.get("/v1/whoami", headers={"Host": host})

        assert response.status_code == 403, host
        assert response.json()["error"] == "wrong_host"
    for host in ("127.0.0.1:8000", "localhost", "[::1]:9"):
        response = local.client.get("/v1/whoami", headers={"Host": host})

        assert response.status_code == 200, host


def test_with_keys_any_host_name_is_answered(api: Api) -> None:
    response = api.client.get(
        "/v1/whoami", headers={"Host": "logs.example", **auth(ACME_ADMIN)}
    )

    assert response.status_code == 200


def test_serve_says_at_start_that_it_has_no_keys(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    monkeypatch.setattr(
        "mongo_ai_logs.server._serve.uvicorn.Server.run",
        lambda server: started.append(server.config),
    )
    caplog.set_level(logging.INFO)

    serve(Settings(), ServerSettings(), host="127.0.0.1", port=0)

    assert started[0].host == "127.0.0.1"
    assert "no API keys configured" in caplog.text
    assert "127.0.0.1 only" in caplog.text


def test_keys_never_reach_the_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "mongo_ai_logs.server._serve.uvicorn.Server.run", lambda server: None
    )
    caplog.set_level(logging.DEBUG)

    serve(Settings(), keyed_settings(), host="0.0.0.0", port=0)

    assert ACME_ADMIN not in caplog.text
    assert "4 API key(s) configured" in caplog.text


def test_the_access_log_leaves_query_strings_out(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "mongo_ai_logs.server._serve.uvicorn.Server.run", lambda server: None
    )
    serve(Settings(), keyed_settings(), host="127.0.0.1", port=0)
    access = logging.getLogger("uvicorn.access")  # uvicorn stops it propagating
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    access.addHandler(caplog.handler)
    try:
        # The line uvicorn writes for each request, with its arguments.
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:50000",
            "GET",
            f"/v1/events?api_key={ACME_ADMIN}",
            "1.1",
            422,
        )
    finally:
        access.removeHandler(caplog.handler)

    assert ACME_ADMIN not in caplog.text
    assert '"GET /v1/events?… HTTP/1.1" 422' in caplog.text


# -- what guards every request ------------------------------------------------------


def test_a_changing_request_from_another_origin_is_refused(local: Api) -> None:
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        response = local.client.post(
            "/v1/events", json=wire_event(), headers={"Origin": origin}
        )

        assert response.status_code == 403, origin
        assert response.json()["error"] == "cross_origin"
    assert local.repo.count(include_deleted=True) == 0


def test_the_services_own_pages_may_change_data(local: Api) -> None:
    response = local.client.post(
        "/v1/events", json=wire_event(), headers={"Origin": "http://127.0.0.1"}
    )
    reading = local.client.get("/v1/events", headers={"Origin": "http://evil.example"})

    assert response.status_code == 201
    assert reading.status_code == 200
    assert "access-control-allow-origin" not in reading.headers


def test_responses_carry_protective_headers(api: Api) -> None:
    page = api.client.get("/")
    data = api.client.get("/v1/whoami", headers=auth(ACME_WRITE))

    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert data.headers["cache-control"] == "no-store"
    assert "server" not in {k.lower() for k in data.headers}


def test_the_viewer_and_its_files_are_served_without_a_key(api: Api) -> None:
    page = api.client.get("/")
    script = api.client.get("/static/viewer.js")
    style = api.client.get("/static/viewer.css")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="/static/viewer.js"' in page.text
    assert "sessionStorage" in script.text
    assert style.status_code == 200
    served = page.text + script.text + style.text
    served = served.replace('"http://www.w3.org/2000/svg"', "")  # a name, not a fetch
    assert "http://" not in served
    assert "https://" not in served
    assert "//" not in page.text.replace("<!--", "")


def test_the_openapi_document_describes_every_route(api: Api) -> None:
    document = api.client.get("/openapi.json").json()

    paths = document["paths"]
    assert set(paths) >= {
        "/v1/events",
        "/v1/events/{event_id}",
        "/v1/events/{event_id}/restore",
        "/v1/runs",
        "/v1/runs/{run_id}",
        "/v1/stats",
        "/v1/stats/daily",
        "/v1/purge",
        "/v1/whoami",
        "/healthz",
    }
    assert "AgentLogEvent" in document["components"]["schemas"]
    assert set(document["components"]["securitySchemes"]) == {
        "HTTPBearer",
        "APIKeyHeader",
    }


# -- the CLI's serve command --------------------------------------------------------


def test_the_cli_serve_command_starts_the_service_on_its_host_and_port(
    collection: Collection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    monkeypatch.setattr(
        "mongo_ai_logs.server._serve.uvicorn.Server.run",
        lambda server: started.append(server.config),
    )
    cli = InProcessCli(collection)

    result = cli("serve", "--port", "8123", "--project", "acme")

    assert result.code == 0, result.err
    assert (started[0].host, started[0].port) == ("127.0.0.1", 8123)
    assert cli.opened[0].project == "acme"


def test_the_cli_serve_command_refuses_a_public_host_without_keys(
    collection: Collection[Any],
) -> None:
    result = InProcessCli(collection)("serve", "--host", "0.0.0.0")

    assert result.code != 0
    assert "127.0.0.1 only" in result.err
