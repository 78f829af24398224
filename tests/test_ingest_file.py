"""ingest_file: batches, progress, refusals, projects and re-imports."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import mongomock
import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.ids import source_event_id
from mongo_ai_logs.ingest import (
    FileReport,
    ParsedRecord,
    UnknownFormatError,
    _ingest,
    _reading,
    ingest_file,
    read_events,
)
from tests.ingest_support import FIXTURES, stored

SHAREGPT = FIXTURES / "sharegpt_toolcall.json"
TRAJECTORY = FIXTURES / "sweagent_twelve_steps.traj"


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir()))
def test_a_second_import_stores_nothing_and_skips_everything(
    repo: AgentLogRepository, fixture: str
) -> None:
    first = ingest_file(repo, FIXTURES / fixture)
    second = ingest_file(repo, FIXTURES / fixture)

    assert second.stored == 0
    assert second.skipped == first.stored + first.skipped
    assert second.refused == first.refused
    assert repo.count() == first.stored


def test_a_copy_of_the_file_elsewhere_adds_nothing(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    copy = tmp_path / "copy" / "conversations.jsonl.bak"
    copy.parent.mkdir()
    shutil.copy(SHAREGPT, copy)

    first = ingest_file(repo, SHAREGPT)
    again = ingest_file(repo, copy)

    assert again.stored == 0
    assert again.skipped == first.stored


def test_progress_is_reported_batch_by_batch_up_to_the_file_size(
    repo: AgentLogRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ingest, "_BATCH_EVENTS", 4)
    monkeypatch.setattr(_reading, "_CHUNK_BYTES", 256)
    writes: list[int] = []
    insert_many = repo.insert_many

    def counting(events: Any) -> Any:
        events = list(events)
        writes.append(len(events))
        return insert_many(events)

    monkeypatch.setattr(repo, "insert_many", counting)
    calls: list[tuple[int, int | None]] = []

    report = ingest_file(repo, SHAREGPT, on_progress=lambda *a: calls.append(a))

    size = SHAREGPT.stat().st_size
    done = [d for d, _ in calls]
    assert report.stored == sum(writes) == 17
    assert writes == [4, 4, 4, 4, 1]
    assert len(calls) == len(writes)
    assert done == sorted(done)
    assert len(set(done)) > 1
    assert calls[-1] == (size, size)
    assert {total for _, total in calls} == {size}


def test_a_pipe_is_read_in_one_pass_with_no_size(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    pipe = tmp_path / "events.pipe"
    os.mkfifo(pipe)
    content = (FIXTURES / "exchanges_openai_chat.jsonl").read_bytes()

    def feed() -> None:
        with open(pipe, "wb") as writer:
            writer.write(content)

    feeder = threading.Thread(target=feed)
    feeder.start()
    calls: list[tuple[int, int | None]] = []
    report = ingest_file(repo, pipe, on_progress=lambda *a: calls.append(a))
    feeder.join()

    assert report.format == "exchanges"
    assert report.stored == 2
    assert calls[-1] == (len(content), None)


def test_an_unknown_format_stores_nothing_and_names_the_file(
    repo: AgentLogRepository,
) -> None:
    path = FIXTURES / "unknown_format.json"

    report = ingest_file(repo, path)

    assert report == FileReport(path=str(path), format=None, error=report.error)
    assert report.error is not None
    assert report.error.startswith(f"{path}: unknown format")
    assert not report.ok
    assert repo.count() == 0


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("[]", "the file is an empty JSON array"),
        ("[ \n ]\n", "the file is an empty JSON array"),
        ("null", "unknown format: its first record is null;"),
        ("true\n", "unknown format: its first record is true;"),
        ("42", "unknown format: its first record is a number;"),
        ('"text"', "unknown format: its first record is a string;"),
        ("[[1]]", "unknown format: its first record is an array;"),
    ],
)
def test_a_file_without_a_record_says_what_it_holds(
    repo: AgentLogRepository, tmp_path: Path, content: str, error: str
) -> None:
    path = tmp_path / "values.json"
    path.write_text(content)

    report = ingest_file(repo, path)

    assert report.error is not None
    assert report.error.startswith(f"{path}: {error}")


def test_a_missing_file_is_reported_not_raised(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    report = ingest_file(repo, tmp_path / "gone.jsonl")

    assert report.error is not None
    assert "gone.jsonl: cannot read" in report.error


def test_the_wrong_format_given_refuses_each_record(repo: AgentLogRepository) -> None:
    report = ingest_file(repo, SHAREGPT, format="sweagent")

    assert report.format == "sweagent"
    assert report.stored == 0
    assert [r.location for r in report.refused] == [f"record {n}" for n in range(1, 5)]
    assert (
        report.refused[0].reason == "not a SWE-agent trajectory: no 'trajectory' list"
    )


def test_what_the_repository_refuses_is_reported_with_its_location(
    tmp_path: Path,
) -> None:
    trajectory = json.loads(TRAJECTORY.read_text())
    for index in (2, 7):
        trajectory["trajectory"][index]["observation"] = "x" * 5000
    path = tmp_path / "long.traj"
    path.write_text(json.dumps(trajectory, indent=2))
    collection = mongomock.MongoClient(tz_aware=True)["db"]["agent_logs"]
    strict = AgentLogRepository(
        collection, large_values="refuse", max_inline_bytes=4096
    )

    report = ingest_file(strict, path)

    assert [r.location for r in report.refused] == ["step 3", "step 8"]
    assert report.refused[0].reason.startswith("output: a str value of 5,000 bytes")
    assert report.stored == 11


def test_parents_are_computed_in_the_repositorys_project(tmp_path: Path) -> None:
    collection = mongomock.MongoClient(tz_aware=True)["db"]["agent_logs"]
    first = AgentLogRepository(collection, project_id="first")
    second = AgentLogRepository(collection, project_id="second")

    ingest_file(first, TRAJECTORY)
    ingest_file(second, TRAJECTORY)

    for repo in (first, second):
        run, *steps = stored(repo)
        expected = source_event_id(repo.project_id, "sweagent", run["source"]["id"])
        assert run["_id"] == str(expected)
        assert {step["parent_id"] for step in steps} == {run["_id"]}
    assert collection.count_documents({}) == 26


def test_reading_is_lazy_and_needs_no_database(tmp_path: Path) -> None:
    records = read_events(FIXTURES / "unknown_format.json")

    with pytest.raises(UnknownFormatError):
        next(iter(records))

    parsed = list(read_events(FIXTURES / "exchanges_with_errors.jsonl"))
    assert [r.ok for r in parsed] == [True, True, False, True, True, True, False]
    assert all(isinstance(r, ParsedRecord) for r in parsed)
    assert parsed[2].event is None
    assert parsed[0].event is not None
    assert json.dumps(parsed[0].event)  # plain data, ready for the repository
