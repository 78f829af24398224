"""Schemathesis against the OpenAPI document, on the service on a loopback port.

Every operation gets requests that fit its schema and requests that do not
(wrong types, missing fields, hostile strings), with the key of one project,
with another project's key and with none. Whatever arrives, the answer is
never a 5xx, is JSON, and matches the status codes and shapes the document
declares. The examples are drawn from a fixed seed, so a failure found here
comes back on the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import checks
from schemathesis.generation import GenerationMode

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.server import create_app
from tests.api_support import ACME_ADMIN, GLOBEX_ADMIN, LiveServer, auth, keyed_settings

EXAMPLES = 60
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    import mongomock

    collection = mongomock.MongoClient(tz_aware=True)["fuzz"]["events"]
    app = create_app(
        server_settings=keyed_settings(max_body_bytes=256 * 1024),
        repository=AgentLogRepository(collection),
    )
    with LiveServer(app) as live:
        yield live


@pytest.fixture(scope="module")
def schema(server: LiveServer) -> Any:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("key", [ACME_ADMIN, GLOBEX_ADMIN, None])
def test_no_request_gets_a_server_error(
    server: LiveServer, schema: Any, mode: GenerationMode, key: str | None
) -> None:
    headers = auth(key) if key else {}
    failures: list[str] = []

    for operation in operations(schema):

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            response = case.call(base_url=server.url, headers=headers)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except hypothesis.errors.Unsatisfiable:
            continue  # nothing in this operation can be made invalid
        except Exception as exc:  # each operation reports, then the next runs
            failures.append(f"{operation.label}: {exc}")

    assert not failures, "\n\n".join(failures)
