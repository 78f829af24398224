"""Our own events: an export imported again gives the same documents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.ingest import detect_format, ingest_file
from tests.helpers import T0
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


def without_ids(events: list[dict[str, Any]]) -> list[str]:
    """The events but their ids and project, comparable whatever their order."""
    left_out = ("_id", "project_id", "parent_id")
    return sorted(
        to_json({k: v for k, v in event.items() if k not in left_out})
        for event in events
    )


def load_tree(repo: AgentLogRepository) -> AgentLogRepository:
    """``repo`` with a trace of nested observations and a live event."""
    assert ingest_file(repo, FIXTURES / "langfuse_trace.json").stored
    repo.insert({"type": "message", "content": "hi", "started_at": T0})
    return repo


@pytest.mark.parametrize("target", ["globex", None])
def test_an_export_into_another_project_of_the_collection_is_a_copy(
    repo: AgentLogRepository, tmp_path: Path, target: str | None
) -> None:
    acme = load_tree(repo.for_project("acme"))
    path = tmp_path / "acme.jsonl"
    documents = export(acme, path, as_list=False)
    copy = repo.for_project(target)

    report = ingest_file(copy, path)
    again = ingest_file(copy, path)

    assert (report.stored, report.refused) == (len(documents), [])
    assert (again.stored, again.skipped) == (0, len(documents))
    copied = stored(copy)
    assert without_ids(copied) == without_ids(documents)
    assert {e["project_id"] for e in copied} == {target}
    assert not {e["_id"] for e in copied} & {e["_id"] for e in documents}
    ids = {e["_id"] for e in copied}
    parents = [e["parent_id"] for e in copied if "parent_id" in e]
    assert parents
    assert set(parents) <= ids
    assert list(acme.iter_events()) == documents


def test_an_event_whose_id_another_project_holds_is_refused(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    taken = repo.for_project("acme").insert({"type": "debug", "output": 1})
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"_id": taken, "type": "debug", "output": 2}) + "\n")

    report = ingest_file(repo.for_project("globex"), path)

    assert report.stored == 0
    assert [r.reason for r in report.refused] == [
        f"_id {taken} is already used by another event"
    ]


def test_identical_lines_without_an_id_are_as_many_events(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    line = json.dumps({"type": "debug", "output": "retrying"}) + "\n"
    sourced = json.dumps({"type": "debug", "source": {"format": "x", "id": "1"}})
    path = tmp_path / "events.jsonl"
    path.write_text(line * 3 + f"{sourced}\n" * 2)
    inserted = repo.insert({"type": "debug", "output": "retrying"})

    first = ingest_file(repo, path)
    again = ingest_file(repo, path)

    assert (first.stored, first.skipped, first.refused) == (3, 2, [])
    assert (again.stored, again.skipped) == (0, 5)
    assert len([e for e in stored(repo) if e.get("output") == "retrying"]) == 3
    assert inserted in {e["_id"] for e in stored(repo)}


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
        'metadata: bad %decimal marker "a lot": not a decimal number',
        "output: bad %oid marker \"zz\": 'zz' is not a valid ObjectId, it must be "
        "a 12-byte input or a 24-character hex string",
        "output: bad %datetime marker 5: fromisoformat: argument must be str",
        "output: unknown marker '%nonsense'",
    ]
