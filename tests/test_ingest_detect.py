"""Telling a file's format from its content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mongo_ai_logs import InvalidInputError
from mongo_ai_logs.ingest import (
    FORMATS,
    UnknownFormatError,
    UnreadableFileError,
    detect_format,
    read_events,
)
from tests.ingest_support import FIXTURES


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("sweagent_twelve_steps.traj", "sweagent"),
        ("sweagent_function_calling.traj", "sweagent"),
        ("langfuse_trace.json", "langfuse"),
        ("langsmith_reasoning.json", "langsmith"),
        ("langsmith_chain.jsonl", "langsmith"),
        ("exchanges_openai_chat.jsonl", "exchanges"),
        ("exchanges_anthropic.jsonl", "exchanges"),
        ("exchanges_responses.jsonl", "exchanges"),
        ("exchanges_with_errors.jsonl", "exchanges"),
        ("sharegpt_toolcall.json", "sharegpt"),
        ("sharegpt_truncated.json", "sharegpt"),
    ],
)
def test_each_fixture_is_recognised(fixture: str, expected: str) -> None:
    assert detect_format(FIXTURES / fixture) == expected


def test_the_file_name_plays_no_part(tmp_path: Path) -> None:
    disguised = tmp_path / "langfuse_export.jsonl"
    shutil.copy(FIXTURES / "sweagent_twelve_steps.traj", disguised)

    assert detect_format(disguised) == "sweagent"


def test_formats_are_listed_in_the_documented_order() -> None:
    assert FORMATS == (
        "events",
        "exchanges",
        "sweagent",
        "langfuse",
        "langsmith",
        "sharegpt",
    )


def test_an_unknown_format_is_refused_naming_the_file() -> None:
    path = FIXTURES / "unknown_format.json"

    with pytest.raises(UnknownFormatError) as caught:
        detect_format(path)

    assert str(path) in str(caught.value)
    assert "'rows', 'version'" in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("not_json.txt", "not JSON or JSON lines"),
        ("sweagent_truncated.traj", "may be truncated"),
    ],
)
def test_a_file_that_is_not_json_is_unreadable(fixture: str, message: str) -> None:
    with pytest.raises(UnreadableFileError, match=message) as caught:
        detect_format(FIXTURES / fixture)

    assert fixture in str(caught.value)


def test_an_empty_file_has_no_format(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")

    with pytest.raises(UnknownFormatError, match=r"empty\.jsonl: the file is empty"):
        detect_format(path)


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match=r"nothing\.json"):
        detect_format(tmp_path / "nothing.json")


def write_lines(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_an_exported_event_is_not_taken_for_an_anthropic_message(
    tmp_path: Path,
) -> None:
    exported = {
        "_id": "65a1b2c3d4e5f60718293a4b",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "hi"}],
        "model": {"provider": "anthropic", "name": "claude"},
        "response": {"kept": "as an extra field"},
        "status": "ok",
    }
    assert detect_format(write_lines(tmp_path, exported)) == "events"


def test_a_hand_written_event_without_an_id_is_an_event(tmp_path: Path) -> None:
    event = {"type": "message", "role": "user", "content": "hi"}
    assert detect_format(write_lines(tmp_path, event)) == "events"


def test_a_bare_anthropic_message_is_an_exchange(tmp_path: Path) -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-0",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
    }
    assert detect_format(write_lines(tmp_path, message)) == "exchanges"


def test_a_broken_first_line_does_not_hide_the_format(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    good = json.dumps({"conversations": [{"from": "human", "value": "hi"}]})
    path.write_text(good[:20] + "\n" + good + "\n")

    assert detect_format(path) == "sharegpt"


def test_an_unknown_format_name_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown format 'csv'"):
        read_events(FIXTURES / "langfuse_trace.json", format="csv")
