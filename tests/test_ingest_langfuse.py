"""Langfuse trace exports: the observation tree, usage, cost and scores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.ingest import ingest_file
from tests.ingest_support import (
    FIXTURES,
    by_source,
    dotted_keys,
    new_repo,
    stored,
    total,
)

EXPORT = FIXTURES / "langfuse_trace.json"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def repo() -> AgentLogRepository:
    return new_repo()


@pytest.fixture
def events(repo: AgentLogRepository) -> dict[str, dict[str, Any]]:
    report = ingest_file(repo, EXPORT)
    assert report.ok
    return by_source(stored(repo))


def test_a_trace_is_a_run_with_five_observations_and_two_scores(
    events: dict[str, dict[str, Any]],
) -> None:
    kinds = Counter(e["type"] for e in events.values())

    assert kinds == {
        "run": 1,
        "agent_step": 2,
        "llm_call": 2,
        "tool_call": 1,
        "evaluation": 2,
    }
    assert {e["run_id"] for e in events.values()} == {TRACE_ID}


def test_the_observation_tree_is_kept(events: dict[str, dict[str, Any]]) -> None:
    def parent(source_id: str) -> str:
        return events[source_id]["parent_id"]

    run = events[f"trace:{TRACE_ID}"]
    root = events["observation:a1b2c3d4e5f60001"]
    agent = events["observation:a1b2c3d4e5f60002"]
    assert "parent_id" not in run
    assert parent("observation:a1b2c3d4e5f60001") == run["_id"]
    assert parent("observation:a1b2c3d4e5f60002") == root["_id"]
    for child in ("a1b2c3d4e5f60003", "a1b2c3d4e5f60004", "a1b2c3d4e5f60005"):
        assert parent(f"observation:{child}") == agent["_id"]
    scores = [e for e in events.values() if e["type"] == "evaluation"]
    assert {s["parent_id"] for s in scores} == {run["_id"]}


def test_events_are_numbered_by_start_time(events: dict[str, dict[str, Any]]) -> None:
    ordered = sorted(events.values(), key=lambda e: e["seq"])

    assert [e["source"]["id"].split(":")[1] for e in ordered] == [
        TRACE_ID,
        "a1b2c3d4e5f60001",
        "a1b2c3d4e5f60002",
        "a1b2c3d4e5f60003",
        "a1b2c3d4e5f60004",
        "a1b2c3d4e5f60005",
        "6f1c3d7e-0000-4000-8000-000000000002",
        "6f1c3d7e-0000-4000-8000-000000000001",
    ]


def test_generations_carry_usage_cost_and_model(
    events: dict[str, dict[str, Any]],
) -> None:
    second = events["observation:a1b2c3d4e5f60005"]

    assert second["type"] == "llm_call"
    assert second["model"] == {
        "provider": "openai",
        "name": "gpt-4.1-2025-04-14",
        "parameters": {"temperature": 1, "parallel_tool_calls": "true"},
    }
    assert second["usage"] == {
        "input_tokens": 85,
        "output_tokens": 29,
        "total_tokens": 114,
        "cache_read_input_tokens": 0,
        "reasoning_tokens": 0,
    }
    assert second["cost"] == {"input": 0.00017, "output": 0.000232, "total": 0.000402}
    assert second["duration_ms"] == 1150
    assert total(events.values(), "usage", "total_tokens") == 70 + 114
    assert total(events.values(), "cost", "total") == pytest.approx(0.000632)


def test_agents_and_tools_are_named(events: dict[str, dict[str, Any]]) -> None:
    tool = events["observation:a1b2c3d4e5f60004"]

    assert events["observation:a1b2c3d4e5f60002"]["agent"] == {"name": "Weather agent"}
    assert tool["tool"] == {
        "name": "get_weather",
        "arguments": {"city": "Tokyo"},
        "result": "Sunny.",
    }
    assert "model" not in tool
    assert "usage" not in tool
    assert "cost" not in tool


def test_the_trace_run_keeps_user_session_tags_and_metadata(
    events: dict[str, dict[str, Any]],
) -> None:
    run = events[f"trace:{TRACE_ID}"]
    source = json.loads(EXPORT.read_text())["trace"]

    assert run["user_id"] == "user-7"
    assert run["session_id"] == "session-42"
    assert run["tags"] == ["weather"]
    assert run["agent"] == {"name": "Agent workflow"}
    assert run["metadata"] == json.loads(source["metadata"])
    assert run["duration_ms"] == pytest.approx(2190)
    assert "usage" not in run
    assert {e["session_id"] for e in events.values()} == {"session-42"}


def test_scores_are_evaluations(events: dict[str, dict[str, Any]]) -> None:
    toxicity = events["score:6f1c3d7e-0000-4000-8000-000000000001"]

    assert toxicity["type"] == "evaluation"
    assert toxicity["output"] == {
        "name": "toxicity",
        "value": 0.8,
        "comment": "Dismissive tone.",
    }
    assert toxicity["source"]["fields"]["source"] == "EVAL"
    assert toxicity["started_at"].isoformat() == "2025-09-30T09:04:30.125000+00:00"


def test_every_dotted_key_of_the_export_survives(
    events: dict[str, dict[str, Any]],
) -> None:
    source = json.loads(EXPORT.read_text())
    source["trace"]["metadata"] = json.loads(source["trace"]["metadata"])

    wanted = Counter(dotted_keys(source))
    kept = Counter(dotted_keys(list(events.values())))

    assert wanted
    assert not wanted - kept
    assert (
        events["observation:a1b2c3d4e5f60003"]["source"]["fields"]["usageDetails"][
            "prompt_details.cache_read"
        ]
        == 0
    )


def test_usage_types_counted_apart_are_added_back_to_input(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    export = json.loads(EXPORT.read_text())
    generation = export["observations"][2]
    generation["usageDetails"] = {"input": 35, "input_cached_tokens": 50, "output": 29}
    breakdown = export["observations"][3]
    breakdown["usageDetails"] = {
        "input": 85,
        "output": 29,
        "total": 114,
        "prompt_details.cache_read": 50,
    }
    path = tmp_path / "cached.json"
    path.write_text(json.dumps(export))

    ingest_file(repo, path)

    events = by_source(stored(repo))
    separate = events["observation:a1b2c3d4e5f60005"]["usage"]
    included = events["observation:a1b2c3d4e5f60003"]["usage"]
    assert (separate["input_tokens"], separate["cache_read_input_tokens"]) == (85, 50)
    assert (included["input_tokens"], included["cache_read_input_tokens"]) == (85, 50)
    assert separate["total_tokens"] == included["total_tokens"] == 114


def test_an_observation_without_id_is_refused_alone(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    export = json.loads(EXPORT.read_text())
    del export["observations"][4]["id"]
    export["observations"][1]["startTime"] = "yesterday"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(export, indent=2))

    report = ingest_file(repo, path)

    assert [(r.location, r.reason) for r in report.refused] == [
        ("observation 2", "startTime: not a timestamp: 'yesterday'"),
        ("observation 5", "id: missing; an observation needs its id"),
    ]
    assert report.stored == 6
