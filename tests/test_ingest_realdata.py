"""Acceptance checks on real logs written by other projects' tools.

The files are not part of this repository. Point ``INGEST_REALDATA_DIR`` at
a directory holding them to run these checks; without it they are skipped.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from mongo_ai_logs.ingest import ingest_file
from tests.ingest_support import new_repo, stored, total

REALDATA = os.environ.get("INGEST_REALDATA_DIR")

pytestmark = pytest.mark.skipif(
    not REALDATA, reason="set INGEST_REALDATA_DIR to a directory of real log files"
)


def real_files() -> list[Path]:
    if not REALDATA:
        return []
    return sorted(p for p in Path(REALDATA).iterdir() if p.suffix != ".md")


def real(name: str) -> Path:
    path = Path(REALDATA or ".") / name
    if not path.exists():
        pytest.skip(f"{name} is not in {REALDATA}")
    return path


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_every_file_imports_without_refusals_and_once(path: Path) -> None:
    repo = new_repo()

    first = ingest_file(repo, path)
    second = ingest_file(repo, path)

    assert first.ok, (first.error, first.refused)
    assert first.stored > 0
    assert (second.stored, second.skipped) == (0, first.stored)


def test_the_gpt4_trajectory_is_twelve_steps_with_its_totals() -> None:
    repo = new_repo()
    ingest_file(repo, real("sweagent_gpt4_pydicom-1458.traj"))

    events = stored(repo)
    assert [e["type"] for e in events] == ["run"] + ["agent_step"] * 12
    assert total(events, "cost", "total") == pytest.approx(1.26719)
    assert total(events, "usage", "input_tokens") == 122_612
    assert total(events, "usage", "output_tokens") == 1_369


def test_the_langfuse_export_keeps_its_tree_and_scores() -> None:
    repo = new_repo()
    ingest_file(repo, real("langfuse_trace_export_openai-agents-2025-09-30.json"))

    events = stored(repo)
    kinds = Counter(e["type"] for e in events)
    observations = [e for e in events if e["source"]["id"].startswith("observation:")]
    ids = {e["_id"] for e in events}
    assert len(observations) == 5
    assert all(e["parent_id"] in ids for e in observations)
    assert kinds["evaluation"] == 2
    assert kinds["run"] == 1


def test_the_langsmith_run_has_its_reasoning_tokens() -> None:
    repo = new_repo()
    ingest_file(repo, real("langsmith_run_wrap_openai_reasoning.json"))

    assert total(stored(repo), "usage", "reasoning_tokens") == 960


def test_the_large_image_exchange_is_kept_to_the_byte() -> None:
    path = real("openai_responses_code_execution_return_image.exchanges.jsonl")
    repo = new_repo()
    ingest_file(repo, path)

    lines = [json.loads(line) for line in path.read_text().splitlines() if line]
    events = stored(repo)
    assert len(events) == len(lines)
    for event, line in zip(events, lines, strict=True):
        assert event["input"] == line["request"]
        assert event["output"] == line["response"]
        assert event["metadata"]["http_status"] == line["status"]
