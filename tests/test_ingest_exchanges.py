"""Provider exchanges: request and response kept whole, errors as events."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.ingest import ingest_file
from tests.ingest_support import FIXTURES, by_source, new_repo, stored

OPENAI_CHAT = FIXTURES / "exchanges_openai_chat.jsonl"
ANTHROPIC = FIXTURES / "exchanges_anthropic.jsonl"
RESPONSES = FIXTURES / "exchanges_responses.jsonl"
WITH_ERRORS = FIXTURES / "exchanges_with_errors.jsonl"


@pytest.fixture
def repo() -> AgentLogRepository:
    return new_repo()


def source_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def assert_kept_whole(repo: AgentLogRepository, path: Path) -> None:
    """Every stored request, response and status equals the file's."""
    events = stored(repo)
    assert len(events) == len(source_lines(path))
    for event, line in zip(events, source_lines(path), strict=True):
        kept = {
            "request": event["input"],
            "response": event["output"],
            "status": event["metadata"]["http_status"],
        }
        assert json.dumps(kept, sort_keys=True) == json.dumps(line, sort_keys=True)
        assert kept == line


@pytest.mark.parametrize("path", [OPENAI_CHAT, ANTHROPIC, RESPONSES])
def test_requests_and_responses_are_stored_unchanged(
    repo: AgentLogRepository, path: Path
) -> None:
    report = ingest_file(repo, path)

    assert report.ok
    assert_kept_whole(repo, path)


def large_image_exchange() -> dict[str, Any]:
    """A Responses exchange whose tool output holds a ~226 KB base64 image."""
    pixels = hashlib.shake_256(b"chart of y=x^2").digest(170_000)
    image = "data:image/png;base64," + base64.b64encode(pixels).decode("ascii")
    return {
        "request": {
            "model": "gpt-5",
            "include": ["code_interpreter_call.outputs"],
            "input": [{"role": "user", "content": "Chart y=x^2 for x=-5..5"}],
            "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}],
        },
        "response": {
            "id": "resp_fixture_image",
            "object": "response",
            "created_at": 1758315394,
            "status": "completed",
            "model": "gpt-5-2025-08-07",
            "output": [
                {"id": "rs_1", "type": "reasoning", "summary": []},
                {
                    "id": "ci_1",
                    "type": "code_interpreter_call",
                    "code": "import matplotlib",
                    "outputs": [{"type": "image", "url": image}],
                    "status": "completed",
                },
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Here it is."}],
                },
            ],
            "usage": {
                "input_tokens": 2973,
                "input_tokens_details": {"cached_tokens": 1920},
                "output_tokens": 707,
                "output_tokens_details": {"reasoning_tokens": 512},
                "total_tokens": 3680,
            },
        },
        "status": 200,
    }


def test_a_large_base64_image_is_kept_to_the_byte(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    exchange = large_image_exchange()
    path = tmp_path / "image.exchanges.jsonl"
    path.write_text(json.dumps(exchange) + "\n")
    image = exchange["response"]["output"][1]["outputs"][0]["url"]
    assert len(image) > 226_000

    report = ingest_file(repo, path)

    assert report.ok
    assert_kept_whole(repo, path)
    event = stored(repo)[0]
    assert event["output"]["output"][1]["outputs"][0]["url"] == image
    assert event["usage"]["reasoning_tokens"] == 512


def test_usage_finish_reason_and_tool_calls_are_read(
    repo: AgentLogRepository,
) -> None:
    ingest_file(repo, OPENAI_CHAT)

    first, second = stored(repo)
    assert first["model"] == {
        "provider": "openai",
        "name": "gpt-4o-2024-08-06",
        "parameters": {"n": 1, "stream": False, "tool_choice": "required"},
    }
    assert first["metadata"] == {
        "http_status": 200,
        "finish_reason": "tool_calls",
        "tool_calls": [
            {"name": "get_user_country", "call_id": "call_fixture_1", "arguments": {}}
        ],
    }
    assert second["usage"]["cache_read_input_tokens"] == 64
    assert first["started_at"] == dt.datetime(
        2025, 5, 1, 23, 36, 24, tzinfo=dt.timezone.utc
    )
    assert first["source"] == {"format": "exchanges", "id": "chatcmpl-fixture-a1"}


def test_anthropic_input_counts_cached_tokens(repo: AgentLogRepository) -> None:
    ingest_file(repo, ANTHROPIC)

    first = stored(repo)[0]
    assert first["usage"] == {
        "input_tokens": 398 + 1000 + 100,
        "output_tokens": 155,
        "total_tokens": 398 + 1000 + 100 + 155,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 100,
    }
    assert first["metadata"]["finish_reason"] == "tool_use"


def test_the_exchanges_of_a_file_are_one_run_in_order(
    repo: AgentLogRepository,
) -> None:
    ingest_file(repo, ANTHROPIC)

    events = stored(repo)
    assert [e["seq"] for e in events] == [1, 2]
    assert len({e["run_id"] for e in events}) == 1


def test_appended_exchanges_join_the_same_run(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    lines = OPENAI_CHAT.read_text().splitlines(keepends=True)
    path = tmp_path / "growing.jsonl"
    path.write_text(lines[0])
    ingest_file(repo, path)

    path.write_text("".join(lines))
    report = ingest_file(repo, path)

    assert (report.stored, report.skipped) == (1, 1)
    assert len({e["run_id"] for e in stored(repo)}) == 1


def test_errors_become_error_events_and_broken_lines_are_reported(
    repo: AgentLogRepository,
) -> None:
    report = ingest_file(repo, WITH_ERRORS)

    assert report.stored == 5
    assert [r.location for r in report.refused] == ["line 4", "line 8"]
    assert all("may be truncated" in r.reason for r in report.refused)
    failed = stored(repo, status="error")
    assert [e["error"] for e in failed] == [
        {"type": "requests", "message": "Rate limit reached for gpt-4o"},
        {"type": "overloaded_error", "message": "Overloaded"},
        {"type": "HTTP 502", "message": "<html><body>502 Bad Gateway</body></html>"},
        {"type": "requests", "message": "Rate limit reached for gpt-4o"},
    ]
    assert [e["metadata"]["http_status"] for e in failed] == [429, 529, 502, 429]
    assert [e["model"]["name"] for e in failed[:2]] == ["gpt-4o", "claude-sonnet-4-0"]
    assert "usage" not in failed[0]


def test_the_same_error_twice_is_two_events(repo: AgentLogRepository) -> None:
    ingest_file(repo, WITH_ERRORS)

    failed = stored(repo, status="error")
    first, repeated = failed[0]["source"]["id"], failed[3]["source"]["id"]
    assert repeated == f"{first}-2"


def test_a_bare_response_is_an_exchange_without_request(
    repo: AgentLogRepository,
) -> None:
    ingest_file(repo, WITH_ERRORS)

    bare = by_source(stored(repo))["chatcmpl-fixture-bare"]
    assert "input" not in bare
    assert bare["output"]["choices"][0]["message"]["content"] == "Hello."
    assert bare["status"] == "ok"
    assert bare["usage"]["total_tokens"] == 7
    assert bare["seq"] == 5  # the fifth record: blank lines are not records


def test_responses_reasoning_and_curly_quotes_survive(
    repo: AgentLogRepository,
) -> None:
    ingest_file(repo, RESPONSES)

    call = stored(repo)[0]
    assert call["usage"]["reasoning_tokens"] == 1792
    assert call["metadata"]["tool_calls"] == [
        {
            "name": "update_plan",
            "call_id": "call_fixture_p1",
            "arguments": {"plan": "1. draft\n2. check “S”"},
        }
    ]
    assert "“S”" in call["input"]["input"][0]["content"]
