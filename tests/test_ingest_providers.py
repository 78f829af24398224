"""Usage and error bodies read by providers.py, as the importers use them."""

from __future__ import annotations

from typing import Any

import pytest

from mongo_ai_logs.providers import describe_error, describe_response, describe_usage


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(
            {
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "total_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 64},
                "completion_tokens_details": {"reasoning_tokens": 8},
            },
            {
                "input_tokens": 100,
                "output_tokens": 20,
                "total_tokens": 120,
                "cache_read_input_tokens": 64,
                "reasoning_tokens": 8,
            },
            id="openai-chat",
        ),
        pytest.param(
            {
                "input_tokens": 124,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 1926,
                "output_tokens_details": {"reasoning_tokens": 1792},
                "total_tokens": 2050,
            },
            {
                "input_tokens": 124,
                "output_tokens": 1926,
                "total_tokens": 2050,
                "cache_read_input_tokens": 0,
                "reasoning_tokens": 1792,
            },
            id="openai-responses",
        ),
        pytest.param(
            {
                "input_tokens": 10,
                "output_tokens": 5,
                "cache_read_input_tokens": 300,
                "cache_creation_input_tokens": 40,
            },
            {
                "input_tokens": 350,
                "output_tokens": 5,
                "total_tokens": 355,
                "cache_read_input_tokens": 300,
                "cache_creation_input_tokens": 40,
            },
            id="anthropic-adds-cached-input",
        ),
        pytest.param(
            {
                "input_tokens": 43,
                "output_tokens": 1901,
                "total_tokens": 1944,
                "input_token_details": {"cache_read": 0},
                "output_token_details": {"reasoning": 960},
            },
            {
                "input_tokens": 43,
                "output_tokens": 1901,
                "total_tokens": 1944,
                "cache_read_input_tokens": 0,
                "reasoning_tokens": 960,
            },
            id="langchain-usage-metadata",
        ),
    ],
)
def test_describe_usage_puts_each_shape_on_one_scale(
    usage: dict[str, Any], expected: dict[str, int]
) -> None:
    assert describe_usage(usage) == expected


def test_describe_usage_leaves_out_what_is_not_a_count() -> None:
    assert describe_usage({"prompt_tokens": "12", "completion_tokens": 3}) == {
        "output_tokens": 3
    }
    assert describe_usage(None) == {}
    assert describe_usage("lots") == {}


def test_describe_response_tolerates_a_usage_that_is_not_a_dict() -> None:
    response = {"object": "chat.completion", "choices": [], "usage": "n/a"}
    assert describe_response(response).usage == {}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {
                "error": {
                    "message": "Rate limit reached",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                }
            },
            {"type": "requests", "message": "Rate limit reached"},
            id="openai",
        ),
        pytest.param(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}},
            {"type": "overloaded_error", "message": "Busy"},
            id="anthropic",
        ),
        pytest.param(
            {"error": "upstream timed out"},
            {"message": "upstream timed out"},
            id="gateway-string",
        ),
        pytest.param(
            {"detail": [{"msg": "field required"}]},
            {"message": '[{"msg": "field required"}]'},
            id="detail-list",
        ),
        pytest.param(
            "<html>502 Bad Gateway</html>",
            {"message": "<html>502 Bad Gateway</html>"},
            id="text",
        ),
        pytest.param(None, {}, id="nothing"),
    ],
)
def test_describe_error_reads_type_and_message(
    body: Any, expected: dict[str, str]
) -> None:
    assert describe_error(body) == expected


@pytest.mark.parametrize(
    "response",
    [
        {"object": "chat.completion", "choices": 3},
        {"object": "chat.completion", "choices": [{"message": 1.5}]},
        {"object": "chat.completion", "choices": [{"message": {"tool_calls": 7}}]},
        {"object": "chat.completion", "choices": [], "created": float("nan")},
        {"object": "response", "output": True},
        {"object": "response", "output": [{"type": "message", "content": 4}]},
        {"object": "response", "output": [{"type": "reasoning", "summary": "x"}]},
        {"object": "response", "output": [], "created_at": 10**20},
        {"type": "message", "content": 12},
    ],
)
def test_describe_response_reads_what_it_can_from_any_shape(
    response: dict[str, Any],
) -> None:
    described = describe_response(response)

    assert described.tool_calls == []
    assert described.created_at is None


@pytest.mark.parametrize("levels", [201, 100_000])
def test_tool_arguments_too_deep_to_store_stay_text(levels: int) -> None:
    arguments = "[" * levels + "]" * levels
    response = {
        "object": "chat.completion",
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "function": {"name": "f", "arguments": arguments}}
                    ],
                }
            }
        ],
    }

    (call,) = describe_response(response).tool_calls

    assert call["arguments"] == arguments
