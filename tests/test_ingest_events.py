"""Our own events: an export imported again gives the same documents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.ingest import detect_format, ingest_file
from tests.ingest_support import FIXTURES, new_repo, stored


def to_json(value: Any) -> str:
    """What an export writes: the repository's documents, datetimes in ISO 8601."""

    def default(item: Any) -> Any:
        if isinstance(item, dt.datetime):
            return item.isoformat()
        raise TypeError(type(item).__name__)

    return json.dumps(value, default=default, ensure_ascii=False)


def export(repo: AgentLogRepository, path: Path, *, as_list: bool) -> list[Any]:
    documents = list(repo.iter_events())
    if as_list:
        path.write_text(to_json(documents))
    else:
        path.write_text("".join(to_json(d) + "\n" for d in documents))
    return documents


@pytest.fixture
def original() -> AgentLogRepository:
    repo = new_repo()
    for fixture in (
        "sweagent_function_calling.traj",
        "langfuse_trace.json",
        "exchanges_with_errors.jsonl",
        "langsmith_chain.jsonl",
    ):
        assert ingest_file(repo, FIXTURES / fixture).stored
    repo.insert(
        {
            "type": "message",
            "role": "user",
            "content": "hi",
            "started_at": dt.datetime(2025, 1, 2, 3, 4, 5, 678901),
            "tags": ["manual"],
            "metadata": {"llm.token_count.prompt": 3, "$schema": "x", "big": 2**70},
        }
    )
    return repo


@pytest.mark.parametrize("as_list", [True, False], ids=["json-list", "json-lines"])
def test_an_export_imported_into_an_empty_database_is_equal(
    original: AgentLogRepository, tmp_path: Path, as_list: bool
) -> None:
    path = tmp_path / "export.json"
    documents = export(original, path, as_list=as_list)
    copy = new_repo()

    report = ingest_file(copy, path)

    assert detect_format(path) == "events"
    assert report.ok
    assert report.stored == len(documents)
    for document in documents:
        assert copy.get(document["_id"]) == document


def test_an_export_imported_where_it_came_from_adds_nothing(
    original: AgentLogRepository, tmp_path: Path
) -> None:
    path = tmp_path / "export.jsonl"
    documents = export(original, path, as_list=False)

    report = ingest_file(original, path)

    assert (report.stored, report.skipped) == (0, len(documents))
    assert original.count() == len(documents)


def test_an_exported_tree_keeps_its_parents(
    original: AgentLogRepository, tmp_path: Path
) -> None:
    path = tmp_path / "export.jsonl"
    export(original, path, as_list=False)
    copy = new_repo()

    ingest_file(copy, path)

    events = {e["_id"]: e for e in stored(copy)}
    parents = [e["parent_id"] for e in events.values() if "parent_id" in e]
    assert parents
    assert all(parent in events for parent in parents)


def test_events_the_repository_refuses_are_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"type": "message", "content": "kept"}),
                json.dumps({"type": "chat", "content": "no such type"}),
                json.dumps({"_id": "not-an-id", "type": "debug"}),
                "[1, 2]",
                json.dumps({"type": "debug", "content": "also kept"}),
            ]
        )
    )
    repo = new_repo()

    report = ingest_file(repo, path)

    assert report.stored == 2
    assert [r.location for r in report.refused] == ["line 2", "line 3", "line 4"]
    assert report.refused[0].reason.startswith("type: Input should be")
    assert "_id must be an ObjectId" in report.refused[1].reason
    assert report.refused[2].reason == "expected an event object, got list"


def test_events_of_another_project_are_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    acme = new_repo(project_id="acme")
    acme.insert({"type": "message", "content": "hi"})
    path = tmp_path / "acme.jsonl"
    export(acme, path, as_list=False)

    report = ingest_file(new_repo(project_id="other"), path)

    assert report.stored == 0
    assert "is not the project events are stored in here" in report.refused[0].reason


def test_a_field_that_cannot_be_read_back_is_named(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        {"type": "debug", "started_at": "yesterday"},
        {"type": "debug", "metadata": {"amount": {"%decimal": "a lot"}}},
        {"type": "debug", "output": {"%oid": "zz"}},
        {"type": "debug", "output": {"%datetime": 5}},
        {"type": "debug", "output": {"%nonsense": 1}},
        {"type": "debug", "output": "kept"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    report = ingest_file(repo, path)

    assert report.stored == 1
    assert [r.reason for r in report.refused] == [
        "started_at: not an ISO 8601 date and time: 'yesterday'",
        "metadata: bad value marker: not a decimal number",
        "output: bad value marker: 'zz' is not a valid ObjectId, it must be a "
        "12-byte input or a 24-character hex string",
        "output: bad value marker: fromisoformat: argument must be str",
        "output: bad value marker: unknown marker '%nonsense'",
    ]
