"""SWE-agent trajectories: one run, one event per step, totals on the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.ingest import ingest_file, read_events
from tests.ingest_support import FIXTURES, new_repo, stored, total

TWELVE_STEPS = FIXTURES / "sweagent_twelve_steps.traj"
FUNCTION_CALLING = FIXTURES / "sweagent_function_calling.traj"


@pytest.fixture
def repo() -> AgentLogRepository:
    return new_repo()


def test_a_trajectory_is_a_run_of_its_twelve_steps(repo: AgentLogRepository) -> None:
    report = ingest_file(repo, TWELVE_STEPS)

    events = stored(repo)
    run, steps = events[0], events[1:]
    assert report.ok
    assert report.stored == 13
    assert run["type"] == "run"
    assert [s["type"] for s in steps] == ["agent_step"] * 12
    assert [s["seq"] for s in steps] == list(range(1, 13))
    assert {s["parent_id"] for s in steps} == {run["_id"]}
    assert {e["run_id"] for e in events} == {run["run_id"]}


def test_the_runs_cost_and_tokens_come_from_model_stats(
    repo: AgentLogRepository,
) -> None:
    ingest_file(repo, TWELVE_STEPS)

    run = stored(repo, type="run")[0]
    assert run["cost"]["total"] == pytest.approx(1.26719)
    assert run["usage"]["input_tokens"] == 122_612
    assert run["usage"]["output_tokens"] == 1_369
    assert run["usage"]["total_tokens"] == 122_612 + 1_369


def test_steps_carry_no_usage_so_a_run_sums_once(repo: AgentLogRepository) -> None:
    ingest_file(repo, TWELVE_STEPS)

    events = stored(repo)
    assert all("usage" not in e and "cost" not in e for e in events[1:])
    assert total(events, "usage", "input_tokens") == 122_612
    assert total(events, "cost", "total") == pytest.approx(1.26719)
    rows = repo.usage_stats(group_by="type")
    assert {r["type"]: r["input_tokens"] for r in rows} == {
        "agent_step": 0,
        "run": 122_612,
    }


def test_a_step_keeps_action_observation_thought_and_time(
    repo: AgentLogRepository,
) -> None:
    source = json.loads(FUNCTION_CALLING.read_text())
    ingest_file(repo, FUNCTION_CALLING)

    steps = stored(repo, type="agent_step")
    for step, original in zip(steps, source["trajectory"], strict=True):
        assert step["input"] == original["action"]
        assert step["output"] == original["observation"]
        assert step["metadata"]["thought"] == original["thought"]
        assert step["duration_ms"] == pytest.approx(original["execution_time"] * 1000)
        assert step["source"]["fields"]["state"] == original["state"]
    assert steps[0]["output"].endswith("\r\n1:")


def test_the_run_keeps_history_submission_and_model(repo: AgentLogRepository) -> None:
    source = json.loads(FUNCTION_CALLING.read_text())
    ingest_file(repo, FUNCTION_CALLING)

    run = stored(repo, type="run")[0]
    assert run["input"] == source["history"]
    assert run["output"] == source["info"]["submission"]
    assert run["status"] == "ok"
    assert run["agent"] == {"name": "swe-agent"}
    assert run["model"] == {
        "name": "gpt-4o",
        "parameters": {"temperature": 1.0, "top_p": 1.0},
    }
    assert run["source"]["fields"]["info"]["model_stats"]["api_calls"] == 3


def test_a_zero_cost_replay_is_stored_as_the_source_states_it(
    repo: AgentLogRepository,
) -> None:
    ingest_file(repo, FUNCTION_CALLING)

    run = stored(repo, type="run")[0]
    assert run["usage"] == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    assert run["cost"] == {"total": 0.0}


def test_api_keys_in_the_replay_config_are_masked(repo: AgentLogRepository) -> None:
    ingest_file(repo, FUNCTION_CALLING)

    run = stored(repo, type="run")[0]
    model = run["source"]["fields"]["replay_config"]["agent"]["model"]
    assert model["api_key"] == "********"
    assert model["api_base"] is None
    assert "sk-live" not in json.dumps(run, default=str)


def test_a_moved_and_renamed_file_is_the_same_run(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere" / "renamed.json"
    moved.parent.mkdir()
    shutil.copy(TWELVE_STEPS, moved)

    first = ingest_file(repo, TWELVE_STEPS)
    again = ingest_file(repo, moved)

    assert (first.stored, again.stored, again.skipped) == (13, 0, 13)


def test_an_edited_trajectory_is_a_different_run(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    source = json.loads(TWELVE_STEPS.read_text())
    source["info"]["exit_status"] = "exit_error"
    edited = tmp_path / "edited.traj"
    edited.write_text(json.dumps(source))

    ingest_file(repo, TWELVE_STEPS)
    report = ingest_file(repo, edited)

    assert report.stored == 13
    failed = stored(repo, type="run", status="error")
    assert [r["error"] for r in failed] == [{"type": "exit_error"}]


def test_a_truncated_trajectory_stores_nothing(repo: AgentLogRepository) -> None:
    report = ingest_file(repo, FIXTURES / "sweagent_truncated.traj")

    assert report.error is not None
    assert "may be truncated" in report.error
    assert report.format is None
    assert repo.count() == 0


def test_a_bad_step_is_refused_and_the_others_kept(
    repo: AgentLogRepository, tmp_path: Path
) -> None:
    source = json.loads(TWELVE_STEPS.read_text())
    source["trajectory"][3] = "not a step"
    source["info"]["model_stats"]["tokens_sent"] = -5
    path = tmp_path / "bad.traj"
    path.write_text(json.dumps(source, indent=2))

    report = ingest_file(repo, path)

    assert [(r.location, r.reason) for r in report.refused] == [
        ("run", "info.model_stats.tokens_sent: not a token count: -5"),
        ("step 4", "a step must be an object"),
    ]
    assert report.stored == 11


def test_reading_needs_no_database() -> None:
    records = list(read_events(TWELVE_STEPS))

    assert [r.location for r in records[:3]] == ["run", "step 1", "step 2"]
    assert records[0].parent is None
    assert {r.parent for r in records[1:]} == {records[0].event["run_id"]}  # type: ignore[index]
