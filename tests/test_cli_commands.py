"""Each command in process, on every backend: output, --json and exit codes."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from bson.objectid import ObjectId
from pymongo.collection import Collection

from mongo_ai_logs import AgentLogRepository, jsonl
from mongo_ai_logs.cli import ExitCode
from tests.cli_support import FIXTURES, FakeTerminal, InProcessCli
from tests.helpers import chain, chain_seqs, loads_deep

Document = dict[str, object]


@pytest.fixture
def cli(collection: Collection[Document]) -> InProcessCli:
    """The CLI on a fresh collection."""
    return InProcessCli(collection)


@pytest.fixture
def loaded(cli: InProcessCli) -> InProcessCli:
    """The CLI with the six events of ``fixtures/cli/events.jsonl`` stored."""
    result = cli("ingest", str(FIXTURES / "events.jsonl"))
    assert result.code == ExitCode.OK, result.err
    return cli


# -- ping and demo --


def test_ping_says_where_the_events_are_and_how_many(loaded: InProcessCli) -> None:
    result = loaded("ping")

    assert result.code == ExitCode.OK
    assert "MongoDB at mongodb://test-server/" in result.out
    assert "7.0.0" in result.out
    assert "events:     6" in result.out


def test_ping_json_is_one_object(loaded: InProcessCli) -> None:
    (info,) = loaded("ping", "--json").json_lines()

    assert info["events"] == 6
    assert info["store"] == "server"
    assert info["server_version"] == "7.0.0"
    assert info["project"] is None


def test_demo_runs_on_the_embedded_backend(cli: InProcessCli) -> None:
    result = cli("demo")

    assert result.code == ExitCode.OK, result.err
    assert "Stored an agent run of 4 events" in result.out
    assert "Done." in result.out
    assert cli.opened == []


# -- find --


def test_find_lists_events_newest_first_in_a_table(loaded: InProcessCli) -> None:
    result = loaded("find")

    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["STARTED", "(UTC)", "ID"]
    ids = [line.split()[2] for line in lines[1:]]
    assert ids == [f"65a00000000000000000000{n}" for n in (6, 5, 4, 3, 2, 1)]
    assert "search took more than 30 s" in result.out


def test_find_filters_by_each_field(loaded: InProcessCli) -> None:
    def ids(*argv: str) -> list[str]:
        result = loaded("find", "--json", *argv)
        assert result.code == ExitCode.OK, result.err
        return sorted(event["_id"][-1] for event in result.json_lines())

    assert ids("--user", "bob") == ["6"]
    assert ids("--session", "sess-1") == ["1", "2", "3", "4", "5"]
    assert ids("--run", "run-failed-2") == ["6"]
    assert ids("--type", "llm_call") == ["3", "5"]
    assert ids("--model", "gpt-4o-mini") == ["3"]
    assert ids("--status", "error") == ["6"]
    assert ids("--tag", "fixture", "--tag", "llm") == ["3", "5"]
    assert ids("--meta", "env=prod") == ["3", "5"]
    assert ids("--meta", "retries:=2") == ["3"]
    assert ids("--meta", "retries=2") == []
    assert ids("--meta", "llm.request.type=chat") == ["3"]
    assert ids("--since", "2025-06-02") == ["5", "6"]
    assert ids("--until", "2025-06-01T10:00:00.150Z") == ["1", "2"]
    assert ids("--since", "2025-06-01T11:00:00+01:00", "--until", "2025-06-02") == [
        "1",
        "2",
        "3",
        "4",
    ]


def test_find_pages_with_a_cursor_and_all(loaded: InProcessCli) -> None:
    first = loaded("find", "--json", "--limit", "4")
    cursor = first.err.split("--cursor ")[1].split()[0]
    second = loaded("find", "--json", "--limit", "4", "--cursor", cursor)
    everything = loaded("find", "--json", "--limit", "2", "--all")

    paged = [e["_id"] for e in first.json_lines() + second.json_lines()]
    assert len(paged) == 6
    assert paged == [e["_id"] for e in everything.json_lines()]
    assert "--cursor" not in second.err
    assert "--cursor" not in everything.err


def test_find_json_lines_read_back_as_events(loaded: InProcessCli) -> None:
    from mongo_ai_logs import jsonl

    result = loaded("find", "--json", "--run", "run-weather-1")
    events = [jsonl.loads(line) for line in result.out.splitlines()]

    assert len(events) == 5
    assert all(isinstance(e["started_at"], dt.datetime) for e in events)


def test_find_hides_deleted_events_unless_asked(loaded: InProcessCli) -> None:
    loaded.repo().soft_delete("65a000000000000000000006")

    visible = loaded("find", "--json").json_lines()
    everything = loaded("find", "--json", "--include-deleted").json_lines()

    assert len(visible) == 5
    assert len(everything) == 6


def test_find_with_no_match_says_so_on_stderr(loaded: InProcessCli) -> None:
    result = loaded("find", "--user", "nobody")

    assert result.code == ExitCode.OK
    assert result.out == ""
    assert "no events match" in result.err


def test_find_refuses_a_cursor_it_did_not_make(loaded: InProcessCli) -> None:
    result = loaded("find", "--cursor", "bm90LWEtY3Vyc29y")

    assert result.code == ExitCode.USAGE
    assert "cursor" in result.err
    assert "Traceback" not in result.err


# -- filters take values literally --


def test_an_operator_in_a_filter_is_a_literal_string(loaded: InProcessCli) -> None:
    operator = '{"$ne": ""}'
    loaded.repo().insert({"type": "debug", "user_id": operator, "content": "odd"})

    for flag in ("--user", "--session", "--run", "--model"):
        result = loaded("find", "--json", flag, operator)
        assert result.code == ExitCode.OK
        found = [e.get("content") for e in result.json_lines()]
        assert found == (["odd"] if flag == "--user" else []), flag


def test_an_operator_in_a_delete_filter_deletes_nothing(loaded: InProcessCli) -> None:
    result = loaded("delete", "--run", '{"$gt": ""}')

    assert result.code == ExitCode.OK
    assert "soft-deleted 0 events" in result.out
    assert loaded.repo().count() == 6


def test_a_dollar_metadata_key_is_refused(loaded: InProcessCli) -> None:
    result = loaded("find", "--meta", "$where=1")

    assert result.code == ExitCode.USAGE
    assert "$where" in result.err


def test_a_regex_looking_value_matches_only_itself(loaded: InProcessCli) -> None:
    result = loaded("find", "--json", "--user", ".*")

    assert result.json_lines() == []


# -- show --


def test_show_draws_the_run_as_a_tree(loaded: InProcessCli) -> None:
    result = loaded("show", "run-weather-1")

    assert result.code == ExitCode.OK
    header, columns, *rows = result.out.splitlines()
    assert header.startswith("run run-weather-1, 5 events, started 2025-06-01")
    assert "user alice" in header
    assert columns.split()[:2] == ["EVENT", "NAME"]
    assert rows[0].startswith("run ")
    assert "travel-bot" in rows[0]
    assert rows[1].startswith("├─ message ")
    assert rows[2].startswith("├─ llm_call ")
    assert "gpt-4o-mini" in rows[2]
    assert "800 ms" in rows[2]
    assert "1,200/40" in rows[2]
    assert rows[3].startswith("│  └─ tool_call ")
    assert "forecast" in rows[3]
    assert "1.2 s" in rows[3]
    assert rows[4].startswith("└─ llm_call ")
    assert "Clear skies in Porto" in rows[4]


def test_show_full_prints_payloads_whole(loaded: InProcessCli) -> None:
    short = loaded("show", "run-weather-1")
    full = loaded("show", "run-weather-1", "--full")

    assert '"sky": "clear"' in full.out
    assert "tool arguments:" in full.out
    assert '"sky": "clear"' not in short.out


def test_show_json_is_the_tree(loaded: InProcessCli) -> None:
    (tree,) = loaded("show", "run-weather-1", "--json").json_lines()

    assert tree["events"] == 5
    (root,) = tree["tree"]
    assert root["type"] == "run"
    assert [c["seq"] for c in root["children"]] == [1, 2, 4]
    assert root["children"][1]["children"][0]["tool"]["name"] == "forecast"


def test_show_of_a_chain_thousands_deep_keeps_its_lines_narrow(
    cli: InProcessCli, tmp_path: Path
) -> None:
    path = tmp_path / "chain.jsonl"
    path.write_text("".join(jsonl.dumps(e) + "\n" for e in chain("deep", 3000)))
    assert cli("ingest", str(path)).code == ExitCode.OK

    result = cli("show", "deep", "--full")
    as_json = cli("show", "deep", "--json")

    assert result.code == ExitCode.OK, result.err
    rows = result.out.splitlines()[2:]
    assert rows[0].startswith("agent_step ")
    assert rows[17].startswith("   " * 16 + "└─ agent_step ")
    assert rows[18].startswith("[+1] " + "   " * 16 + "└─ agent_step ")
    assert rows[2999].startswith("[+2,982] " + "   " * 16 + "└─ agent_step ")
    assert max(len(row) for row in rows) < 200
    assert as_json.code == ExitCode.OK, as_json.err
    tree = loads_deep(as_json.out)
    assert tree["events"] == 3000
    assert chain_seqs(tree["tree"][0]) == list(range(3000))


def test_show_of_an_unknown_run_exits_1(loaded: InProcessCli) -> None:
    result = loaded("show", "no-such-run")

    assert result.code == ExitCode.REFUSED
    assert "no events for run 'no-such-run'" in result.err


HOSTILE = "\x1b[2J\x1b[31mred\x1b]52;c;aGk=\x07 \u202eevil\u2066 \x9b1m \ud800"
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_logged_control_characters_reach_the_terminal_escaped(
    cli: InProcessCli, tmp_path: Path
) -> None:
    cli.repo().insert(
        {
            "type": "tool_call",
            "run_id": f"run-{HOSTILE}",
            "user_id": HOSTILE,
            "tool": {"name": f"t{HOSTILE}", "result": f"one\n\tindented {HOSTILE}"},
        }
    )
    broken = tmp_path / "bad\x1b[2Jname.jsonl"
    broken.write_text(json.dumps({"type": "debug", "_id": HOSTILE}) + "\n")
    run = f"run-{HOSTILE}"

    outputs = [
        cli("find"),
        cli("show", run),
        cli("show", run, "--full"),
        cli("ingest", str(broken)),
        cli("show", f"{run}-missing"),
    ]

    for result in outputs:
        assert not RAW_CONTROLS.search(result.out + result.err), result.out
    assert "\\x1b[2J\\x1b[31mred" in outputs[0].out
    assert "\\u202eevil" in outputs[1].out
    assert "\tindented \\x1b[2J" in outputs[2].out
    assert "bad\\x1b[2Jname.jsonl" in outputs[3].out
    (found,) = cli("find", "--json").json_lines()
    assert jsonl.from_jsonable(found)["tool"]["result"].endswith(HOSTILE)
    (tree,) = cli("show", run, "--json").json_lines()
    assert jsonl.from_jsonable(tree["tree"][0])["user_id"] == HOSTILE


# -- stats --


def test_stats_by_model_sums_tokens_and_cost(loaded: InProcessCli) -> None:
    result = loaded("stats", "--by", "model", "--json")

    rows = {r["group"]: r for r in result.json_lines()}
    assert rows["gpt-4o-mini"]["input_tokens"] == 1200
    assert rows["gpt-4o-mini"]["cost"] == pytest.approx(0.000204)
    assert rows["claude-sonnet-4-20250514"]["output_tokens"] == 30
    assert rows[None]["events"] == 4
    assert all(r["by"] == "model" for r in rows.values())


@pytest.mark.parametrize(
    ("by", "groups"),
    [
        ("user", {"alice": 5, "bob": 1}),
        ("day", {"2025-06-01": 4, "2025-06-02": 2}),
        ("type", {"run": 1, "message": 1, "llm_call": 2, "tool_call": 2}),
    ],
)
def test_stats_groups_by_user_day_and_type(
    loaded: InProcessCli, by: str, groups: dict[str, int]
) -> None:
    result = loaded("stats", "--by", by, "--json")

    assert {r["group"]: r["events"] for r in result.json_lines()} == groups


def test_stats_table_has_a_total_row(loaded: InProcessCli) -> None:
    result = loaded("stats", "--by", "user")

    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["USER", "EVENTS", "INPUT"]
    assert lines[-1].split()[:3] == ["(all)", "6", "2,100"]


def test_stats_takes_the_filters(loaded: InProcessCli) -> None:
    result = loaded("stats", "--by", "type", "--json", "--user", "bob")

    assert [(r["group"], r["events"]) for r in result.json_lines()] == [
        ("tool_call", 1)
    ]


# -- delete, restore --


def test_delete_by_id_then_restore(loaded: InProcessCli) -> None:
    repo = loaded.repo()
    deleted = loaded(
        "delete", "65a000000000000000000004", "--reason", "address", "--by", "ops"
    )

    assert deleted.code == ExitCode.OK
    assert "soft-deleted 1 of 1 events" in deleted.out
    stored = repo.get("65a000000000000000000004", include_deleted=True)
    assert stored is not None
    assert (stored["deleted"], stored["deleted_by"], stored["delete_reason"]) == (
        True,
        "ops",
        "address",
    )

    restored = loaded("restore", "65a000000000000000000004")

    assert restored.code == ExitCode.OK
    assert repo.get("65a000000000000000000004") is not None


def test_delete_of_unknown_ids_exits_1_naming_them(loaded: InProcessCli) -> None:
    result = loaded("delete", "65a000000000000000000001", "not-an-id", "--json")

    assert result.code == ExitCode.REFUSED
    (report,) = result.json_lines()
    assert report["ids"] == ["65a000000000000000000001"]
    assert report["not_found"] == ["not-an-id"]


def test_restore_of_a_live_event_exits_1(loaded: InProcessCli) -> None:
    result = loaded("restore", "65a000000000000000000001")

    assert result.code == ExitCode.REFUSED
    assert "65a000000000000000000001" in result.out


def test_delete_by_filter_with_a_dry_run_first(loaded: InProcessCli) -> None:
    dry = loaded("delete", "--run", "run-weather-1", "--dry-run")
    assert "would soft-delete 5 events" in dry.out
    assert loaded.repo().count() == 6

    done = loaded("delete", "--run", "run-weather-1", "--json")

    assert done.json_lines() == [
        {"action": "soft-deleted", "events": 5, "dry_run": False}
    ]
    assert loaded.repo().count() == 1


def test_delete_without_ids_or_filters_is_refused(loaded: InProcessCli) -> None:
    result = loaded("delete", "--reason", "everything")

    assert result.code == ExitCode.USAGE
    assert "at least one filter" in result.err
    assert loaded.opened == [loaded.opened[0]]  # only the ingest of the fixture
    assert loaded.repo().count() == 6


def test_delete_with_ids_and_filters_is_refused(loaded: InProcessCli) -> None:
    result = loaded("delete", "65a000000000000000000001", "--user", "alice")

    assert result.code == ExitCode.USAGE
    assert loaded.repo().count() == 6


# -- purge --


def _deleted_long_ago(repo: AgentLogRepository, *event_ids: str) -> None:
    for event_id in event_ids:
        repo.soft_delete(event_id)
        repo.collection.update_one(
            {"_id": ObjectId(event_id)},
            {"$set": {"deleted_at": dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)}},
        )


def test_purge_dry_run_counts_and_removes_nothing(loaded: InProcessCli) -> None:
    _deleted_long_ago(loaded.repo(), "65a000000000000000000005")

    result = loaded("purge", "--older-than", "30", "--dry-run")

    assert result.code == ExitCode.OK
    assert "would purge 1 event soft-deleted before" in result.out
    assert loaded.repo().get("65a000000000000000000005", include_deleted=True)


def test_purge_asks_on_a_terminal_and_goes_on_with_yes(loaded: InProcessCli) -> None:
    _deleted_long_ago(loaded.repo(), "65a000000000000000000005")

    result = loaded("purge", "--older-than", "30", stdin=FakeTerminal("y\n"))

    assert result.code == ExitCode.OK
    assert "Remove 1 event soft-deleted before" in result.err
    assert "purged 1 event" in result.out
    assert loaded.repo().get("65a000000000000000000005", include_deleted=True) is None


def test_purge_answered_no_removes_nothing(loaded: InProcessCli) -> None:
    _deleted_long_ago(loaded.repo(), "65a000000000000000000005")

    result = loaded("purge", "--before", "2025-02-01", stdin=FakeTerminal("n\n"))

    assert result.code == ExitCode.REFUSED
    assert "nothing was removed" in result.err
    assert loaded.repo().get("65a000000000000000000005", include_deleted=True)


def test_purge_off_a_terminal_needs_yes(loaded: InProcessCli) -> None:
    _deleted_long_ago(loaded.repo(), "65a000000000000000000005")

    refused = loaded("purge", "--older-than", "30")
    assert refused.code == ExitCode.REFUSED
    assert "--yes" in refused.err
    assert loaded.repo().get("65a000000000000000000005", include_deleted=True)

    done = loaded("purge", "--older-than", "30", "--yes", "--json")
    assert done.code == ExitCode.OK
    assert done.json_lines()[0]["removed"] == 1


def test_purge_leaves_recent_deletions_and_live_events(loaded: InProcessCli) -> None:
    repo = loaded.repo()
    _deleted_long_ago(repo, "65a000000000000000000005")
    repo.soft_delete("65a000000000000000000004")

    loaded("purge", "--older-than", "1", "--yes")

    assert repo.get("65a000000000000000000005", include_deleted=True) is None
    assert repo.get("65a000000000000000000004", include_deleted=True) is not None
    assert repo.count() == 4


def test_purge_with_nothing_to_remove_does_not_ask(loaded: InProcessCli) -> None:
    result = loaded("purge", "--older-than", "30", stdin=FakeTerminal(""))

    assert result.code == ExitCode.OK
    assert "would purge 0 events" in result.out
    assert "[y/N]" not in result.err


# -- export --


def test_export_writes_json_lines_to_stdout(loaded: InProcessCli) -> None:
    result = loaded("export", "--user", "alice")

    lines = result.out.splitlines()
    assert len(lines) == 5
    assert {json.loads(line)["user_id"] for line in lines} == {"alice"}


def test_export_to_a_file(loaded: InProcessCli, tmp_path: object) -> None:
    from pathlib import Path

    target = Path(str(tmp_path)) / "out.jsonl"
    result = loaded("export", "-o", str(target))

    assert result.code == ExitCode.OK
    assert result.out == ""
    assert "exported 6 events" in result.err
    assert len(target.read_text(encoding="utf-8").splitlines()) == 6
    assert [p.name for p in target.parent.iterdir()] == ["out.jsonl"]


def test_an_exported_file_gets_the_usual_permissions(
    loaded: InProcessCli, tmp_path: object
) -> None:
    import os
    from pathlib import Path

    target = Path(str(tmp_path)) / "out.jsonl"
    previous = os.umask(0o022)
    try:
        loaded("export", "-o", str(target))
    finally:
        os.umask(previous)

    assert target.stat().st_mode & 0o777 == 0o644


def test_export_into_a_missing_directory_fails_cleanly(
    loaded: InProcessCli, tmp_path: object
) -> None:
    result = loaded("export", "-o", f"{tmp_path}/no/such/dir/out.jsonl")

    assert result.code == ExitCode.USAGE
    assert result.err == (
        f"mongo-ai-logs: error: cannot use '{tmp_path}/no/such/dir/out.jsonl': "
        "No such file or directory\n"
    )


def test_export_onto_a_directory_names_it_and_leaves_no_part_file(
    loaded: InProcessCli, tmp_path: Path
) -> None:
    (tmp_path / "taken").mkdir()

    result = loaded("export", "-o", str(tmp_path / "taken"))

    assert result.code == ExitCode.USAGE
    assert f"cannot use '{tmp_path / 'taken'}': Is a directory" in result.err
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


# -- projects --


def test_project_flag_binds_every_command(cli: InProcessCli) -> None:
    cli("ingest", str(FIXTURES / "events.jsonl"), "--project", "acme")

    assert cli.repo("acme").count() == 6
    assert cli.repo().count() == 0
    assert len(cli("find", "--json").json_lines()) == 0
    assert len(cli("find", "--json", "--project", "acme").json_lines()) == 6


def test_project_comes_from_the_environment_too(
    cli: InProcessCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_LOGS_PROJECT", "globex")

    cli("ingest", str(FIXTURES / "events.jsonl"))
    flagged = cli("ping", "--json", "--project", "other")

    assert cli.repo("globex").count() == 6
    assert flagged.json_lines()[0]["project"] == "other"
    assert [o.project for o in cli.opened] == ["globex", "other"]


def test_options_work_before_and_after_the_command(cli: InProcessCli) -> None:
    before = cli("--json", "--project", "p1", "ping")
    after = cli("ping", "--json", "--project", "p1")

    assert before.json_lines() == after.json_lines()
    assert before.json_lines()[0]["project"] == "p1"
