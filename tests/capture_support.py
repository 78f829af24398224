"""Helpers for the capture tests: fake provider responses and a failing store."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from mongo_ai_logs import AgentLogRepository, ConnectionFailedError, StoreError
from mongo_ai_logs.agent_log_repository import InsertReport
from mongo_ai_logs.capture import CaptureSettings

FAST = CaptureSettings(
    flush_interval_ms=20,
    probe_interval_ms=50,
    write_retries=1,
    write_timeout_ms=3000,
    exit_timeout_ms=3000,
)
"""Writer settings that make the tests quick: short waits, one retry."""


def openai_chat_response(**overrides: Any) -> dict[str, Any]:
    """A chat.completion as the OpenAI API returns it, with cache and reasoning."""
    response: dict[str, Any] = {
        "id": "chatcmpl-9xY2",
        "object": "chat.completion",
        "created": 1733300000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Sunny, 19°C."},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 40,
            "total_tokens": 1240,
            "prompt_tokens_details": {"cached_tokens": 1024},
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
    }
    response.update(overrides)
    return response


def openai_tool_call_response() -> dict[str, Any]:
    """A chat.completion in which the model asks for a tool."""
    return openai_chat_response(
        choices=[
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_Wx1",
                            "type": "function",
                            "function": {
                                "name": "get_forecast",
                                "arguments": '{"city": "Lisbon"}',
                            },
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    )


def openai_responses_response() -> dict[str, Any]:
    """A Responses API response with a reasoning summary and text output."""
    return {
        "id": "resp_67ab",
        "object": "response",
        "created_at": 1733300000,
        "status": "completed",
        "model": "o4-mini-2025-04-16",
        "output": [
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "Check the forecast."}],
            },
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Take a light jacket."}],
            },
        ],
        "usage": {
            "input_tokens": 300,
            "output_tokens": 500,
            "total_tokens": 800,
            "input_tokens_details": {"cached_tokens": 128},
            "output_tokens_details": {"reasoning_tokens": 448},
        },
    }


def anthropic_response() -> dict[str, Any]:
    """An Anthropic message with thinking, text and cache token counts."""
    return {
        "id": "msg_01AbC",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [
            {
                "type": "thinking",
                "thinking": "Lisbon in June is warm.",
                "signature": "x",
            },
            {"type": "text", "text": "Expect 24°C and sun."},
        ],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 50,
            "cache_read_input_tokens": 2000,
            "cache_creation_input_tokens": 100,
            "output_tokens": 80,
        },
    }


class FailingStore:
    """Wraps a repository and fails on purpose, like a database that goes away.

    Attributes:
        down: While true, every write fails before anything is stored.
        lose_replies: This many next writes store their events and then fail,
            like a write whose reply was lost.
        fail_next: This many next writes fail before anything is stored.
        calls: How many writes were attempted.
    """

    def __init__(self, repository: AgentLogRepository) -> None:
        self.repository = repository
        self.down = False
        self.lose_replies = 0
        self.fail_next = 0
        self.calls = 0
        self._lock = threading.Lock()

    def insert_many(self, events: Iterable[Mapping[str, Any]]) -> InsertReport:
        events = list(events)
        with self._lock:
            self.calls += 1
            if self.down:
                raise ConnectionFailedError("insert_many: the database is unreachable")
            if self.fail_next:
                self.fail_next -= 1
                raise StoreError("insert_many failed: injected")
            lose = self.lose_replies > 0
            if lose:
                self.lose_replies -= 1
        report = self.repository.insert_many(events)
        if lose:
            raise ConnectionFailedError("insert_many: connection closed (injected)")
        return report


def stored_ids(repository: AgentLogRepository, **filters: Any) -> list[str]:
    """The ids of the live events, duplicates kept if there were any."""
    return [str(doc["_id"]) for doc in repository.collection.find(filters, {"_id": 1})]


def wait_until(predicate: Any, timeout: float = 15.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def spooled_ids(directory: Any) -> set[str]:
    """The distinct event ids the spool files under ``directory`` hold."""
    import json
    from pathlib import Path

    return {
        json.loads(line)["_id"]
        for path in Path(directory).glob("**/spool-*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }


def spooled_lines(directory: Any) -> int:
    """How many events the spool files in ``directory`` hold."""
    from pathlib import Path

    def lines(path: Path) -> list[str]:
        try:
            return path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:  # replayed and removed since it was listed
            return []

    return sum(
        1
        for path in Path(directory).glob("spool-*.jsonl")
        for line in lines(path)
        if line.strip()
    )
