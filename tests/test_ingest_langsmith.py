"""LangSmith run payloads: post and patch merged, dotted order, usage."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.ingest import ingest_file
from tests.ingest_support import FIXTURES, by_source, new_repo, stored, total

REASONING = FIXTURES / "langsmith_reasoning.json"
CHAIN = FIXTURES / "langsmith_chain.jsonl"
ROOT = "11111111-1111-4111-8111-111111111111"
LLM = "22222222-2222-4222-8222-222222222222"
TOOL = "33333333-3333-4333-8333-333333333333"
UTC = dt.timezone.utc


@pytest.fixture
def repo() -> AgentLogRepository:
    return new_repo()


def test_post_and_patch_become_one_llm_call_with_its_reasoning_tokens(
    repo: AgentLogRepository,
) -> None:
    report = ingest_file(repo, REASONING)

    events = stored(repo)
    assert report.ok
    assert len(events) == 1
    call = events[0]
    assert call["type"] == "llm_call"
    assert call["usage"]["reasoning_tokens"] == 960
    assert call["usage"]["output_tokens"] == 1901
    assert call["model"] == {"provider": "openai", "name": "o1-mini-2024-09-12"}
    assert call["status"] == "ok"
    assert call["output"]["choices"][0]["message"]["content"] == "Use awk: ..."


def test_epoch_milliseconds_become_utc(repo: AgentLogRepository) -> None:
    ingest_file(repo, REASONING)

    call = stored(repo)[0]
    assert call["started_at"] == dt.datetime(2024, 10, 13, 7, 5, 38, 291000, UTC)
    assert call["ended_at"] == dt.datetime(2024, 10, 13, 7, 5, 48, 730000, UTC)
    assert call["duration_ms"] == 10439


def test_the_post_inputs_and_run_fields_are_kept(repo: AgentLogRepository) -> None:
    payload = json.loads(REASONING.read_text())
    ingest_file(repo, REASONING)

    call = stored(repo)[0]
    assert call["input"] == payload["post"][0]["inputs"]
    assert call["metadata"] == payload["post"][0]["extra"]["metadata"]
    assert call["run_id"] == payload["post"][0]["trace_id"]
    fields = call["source"]["fields"]
    assert fields["dotted_order"] == payload["post"][0]["dotted_order"]
    assert fields["extra"] == {"runtime": payload["post"][0]["extra"]["runtime"]}
    assert fields["name"] == "ChatOpenAI"


@pytest.fixture
def chain(repo: AgentLogRepository) -> dict[str, dict[str, Any]]:
    report = ingest_file(repo, CHAIN)
    assert report.ok, report.refused
    return by_source(stored(repo))


def test_a_chain_is_a_tree_in_dotted_order(chain: dict[str, dict[str, Any]]) -> None:
    root, llm, tool = chain[ROOT], chain[LLM], chain[TOOL]

    assert [root["type"], llm["type"], tool["type"]] == [
        "run",
        "llm_call",
        "tool_call",
    ]
    assert [root["seq"], llm["seq"], tool["seq"]] == [0, 1, 2]
    assert "parent_id" not in root
    assert llm["parent_id"] == root["_id"]
    assert tool["parent_id"] == root["_id"]
    assert {e["run_id"] for e in chain.values()} == {ROOT}
    assert root["agent"] == {"name": "AgentExecutor"}
    assert root["output"] == {"answer": "4"}


def test_a_patch_without_id_is_matched_by_its_dotted_order(
    chain: dict[str, dict[str, Any]],
) -> None:
    tool = chain[TOOL]

    assert tool["tool"] == {"name": "calculator", "arguments": {"expression": "2+2"}}
    assert tool["status"] == "error"
    assert tool["error"] == {"message": "ZeroDivisionError('division by zero')"}
    assert tool["ended_at"] - tool["started_at"] == dt.timedelta(milliseconds=50)


def test_usage_and_cost_are_taken_from_llm_runs_only(
    chain: dict[str, dict[str, Any]],
) -> None:
    llm = chain[LLM]

    assert llm["usage"] == {
        "input_tokens": 20,
        "output_tokens": 10,
        "total_tokens": 30,
        "cache_read_input_tokens": 12,
        "cache_creation_input_tokens": 0,
    }
    assert llm["cost"] == {"input": 0.0001, "output": 0.0002, "total": 0.0003}
    assert llm["model"] == {
        "provider": "anthropic",
        "name": "claude-3-5-haiku-20241022",
    }
    assert total(chain.values(), "usage", "total_tokens") == 30
    assert total(chain.values(), "cost", "total") == pytest.approx(0.0003)
    assert chain[ROOT]["source"]["fields"]["total_tokens"] == 30


def test_iso_times_with_microseconds_become_utc(
    chain: dict[str, dict[str, Any]],
) -> None:
    root, llm = chain[ROOT], chain[LLM]

    assert root["started_at"] == dt.datetime(2025, 1, 2, 3, 4, 5, 0, UTC)
    assert llm["started_at"] == dt.datetime(2025, 1, 2, 3, 4, 5, 100000, UTC)
    assert root["ended_at"] == dt.datetime(2025, 1, 2, 3, 4, 7, 0, UTC)


def test_a_thread_id_in_metadata_is_the_session(
    chain: dict[str, dict[str, Any]],
) -> None:
    assert chain[ROOT]["session_id"] == "thread-9"
    assert chain[LLM]["session_id"] == "thread-9"


def test_a_run_without_any_id_is_refused(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    payload = json.loads(REASONING.read_text())
    payload["patch"].append({"end_time": 1728803148731, "outputs": {}})
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(payload, indent=2))

    report = ingest_file(repo, path)

    assert [(r.location, r.reason) for r in report.refused] == [
        ("patch 2", "id: missing, and no dotted_order to find it"),
    ]
    assert report.stored == 1
