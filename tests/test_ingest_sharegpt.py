"""ShareGPT conversations: messages of a session, function calls as tool calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.ingest import ingest_file
from tests.ingest_support import FIXTURES, new_repo, stored

CONVERSATIONS = FIXTURES / "sharegpt_toolcall.json"
TRUNCATED = FIXTURES / "sharegpt_truncated.json"


@pytest.fixture
def repo() -> AgentLogRepository:
    return new_repo()


def sessions(repo: AgentLogRepository) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in stored(repo):
        grouped.setdefault(event["session_id"], []).append(event)
    return grouped


def test_each_conversation_is_a_session_and_a_run(repo: AgentLogRepository) -> None:
    report = ingest_file(repo, CONVERSATIONS)

    grouped = sessions(repo)
    assert report.ok
    assert len(grouped) == 4
    for events in grouped.values():
        run, turns = events[0], events[1:]
        assert run["type"] == "run"
        assert {e["run_id"] for e in events} == {run["session_id"]}
        assert {t["parent_id"] for t in turns} == {run["_id"]}
        assert [t["seq"] for t in turns] == list(range(1, len(turns) + 1))


def test_turns_become_messages_and_a_tool_call_with_its_result(
    repo: AgentLogRepository,
) -> None:
    source = json.loads(CONVERSATIONS.read_text())[0]
    ingest_file(repo, CONVERSATIONS)

    events = next(e for e in sessions(repo).values() if len(e) == 5)
    run, system, human, call, answer = events
    assert run["input"] == {"tools": json.loads(source["tools"])}
    assert (system["role"], system["content"]) == ("system", source["system"])
    assert (human["role"], human["content"]) == (
        "user",
        source["conversations"][0]["value"],
    )
    assert call["type"] == "tool_call"
    assert call["tool"] == {
        "name": "generate_invoice",
        "arguments": {"customer_name": "约翰·多伊"},
        "result": source["conversations"][2]["value"],
    }
    assert (answer["role"], answer["content"]) == (
        "assistant",
        "发票已成功生成。发票编号为INV12345。",
    )


def test_parallel_calls_are_one_event_each(repo: AgentLogRepository) -> None:
    ingest_file(repo, CONVERSATIONS)

    events = sessions(repo)["conv-parallel"]
    calls = [e for e in events if e["type"] == "tool_call"]
    assert [c["tool"]["arguments"] for c in calls] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]
    assert [e["role"] for e in events if e["type"] == "message"] == [
        "user",
        "tool",
        "assistant",
    ]
    assert events[0]["source"]["id"] == "conv-parallel"


def test_identical_conversations_are_kept_apart(repo: AgentLogRepository) -> None:
    report = ingest_file(repo, CONVERSATIONS)

    twins = [s for s, events in sessions(repo).items() if len(events) == 3]
    assert len(twins) == 2
    assert twins[1] == f"{twins[0]}-2" or twins[0] == f"{twins[1]}-2"
    assert report.skipped == 0


def test_a_truncated_file_stores_what_was_complete(repo: AgentLogRepository) -> None:
    report = ingest_file(repo, TRUNCATED)

    assert [r.location for r in report.refused] == ["record 4"]
    assert "may be truncated" in report.refused[0].reason
    assert len(sessions(repo)) == 3
    whole = new_repo()
    ingest_file(whole, CONVERSATIONS)
    assert {e["_id"] for e in stored(repo)} < {e["_id"] for e in stored(whole)}
