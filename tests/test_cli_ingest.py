"""``ingest`` and ``export``: summaries, refusals, re-imports and round trips."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from pymongo.collection import Collection

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.cli import ExitCode, run
from tests.cli_support import FIXTURES, FakeTerminal, InProcessCli, write_events_file

Document = dict[str, object]


@pytest.fixture
def cli(collection: Collection[Document]) -> InProcessCli:
    return InProcessCli(collection)


def test_ingest_prints_a_summary_per_file_and_a_total(cli: InProcessCli) -> None:
    result = cli(
        "ingest",
        str(FIXTURES / "events.jsonl"),
        str(FIXTURES / "exchange_no_cost.jsonl"),
    )

    assert result.code == ExitCode.OK, result.out
    lines = result.out.splitlines()
    assert lines[0].endswith(
        "events.jsonl (events): 6 stored, 0 already present, 0 refused"
    )
    assert lines[1].endswith(
        "exchange_no_cost.jsonl (exchanges): 1 stored, 0 already present, 0 refused"
    )
    assert lines[2] == "total: 2 files, 7 stored, 0 already present, 0 refused"


def test_ingesting_again_adds_nothing(cli: InProcessCli) -> None:
    cli("ingest", str(FIXTURES / "events.jsonl"))

    again = cli("ingest", str(FIXTURES / "events.jsonl"), "--json")

    assert again.code == ExitCode.OK
    (report,) = again.json_lines()
    assert (report["stored"], report["skipped"]) == (0, 6)
    assert cli.repo().count() == 6


def test_broken_lines_are_refused_with_line_and_reason_exit_1(
    cli: InProcessCli,
) -> None:
    result = cli("ingest", str(FIXTURES / "broken.jsonl"))

    assert result.code == ExitCode.REFUSED
    lines = result.out.splitlines()
    assert lines[0].endswith("(events): 2 stored, 0 already present, 2 refused")
    assert lines[1].startswith("  line 2: not valid JSON")
    assert lines[2].startswith("  line 3: type:")
    assert "telepathy" in lines[2]
    assert cli.repo().count() == 2


def test_refusals_in_json_list_every_location(cli: InProcessCli) -> None:
    result = cli("ingest", str(FIXTURES / "broken.jsonl"), "--json")

    (report,) = result.json_lines()
    assert report["ok"] is False
    assert [r["location"] for r in report["refused"]] == ["line 2", "line 3"]
    assert report["error"] is None


def test_an_unknown_format_is_not_imported_and_the_rest_is(
    cli: InProcessCli,
) -> None:
    result = cli(
        "ingest", str(FIXTURES / "unknown.json"), str(FIXTURES / "events.jsonl")
    )

    assert result.code == ExitCode.REFUSED
    first = result.out.splitlines()[0]
    assert first.startswith(f"{FIXTURES / 'unknown.json'}: not imported: unknown")
    assert "known formats: events" in first
    assert "1 file not imported" in result.out
    assert cli.repo().count() == 6


def test_a_missing_file_is_reported_not_raised(cli: InProcessCli) -> None:
    result = cli("ingest", "no-such-file.jsonl", "--json")

    assert result.code == ExitCode.REFUSED
    (report,) = result.json_lines()
    assert "cannot read" in report["error"]
    assert "Traceback" not in result.err


def test_values_too_deep_or_too_long_are_refused_not_a_crash(
    cli: InProcessCli, tmp_path: Path
) -> None:
    document = tmp_path / "d.json"
    document.write_text('{"type":"debug","output":' + "[" * 5000 + "]" * 5000 + "}")
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        '{"type": "debug", "output": "kept"}\n'
        + "[" * 100_000
        + '\n{"type": "debug", "output": '
        + "9" * 5000
        + "}\n"
    )

    result = cli("ingest", str(document), str(lines))

    assert result.code == ExitCode.REFUSED, result.err
    assert result.out.splitlines()[:4] == [
        f"{document}: not imported: nested too deeply: more than 256 levels of "
        "arrays and objects",
        f"{lines} (events): 1 stored, 0 already present, 2 refused",
        "  line 2: nested too deeply: more than 256 levels of arrays and objects",
        "  line 3: a number has more than 4,300 digits, more than can be read",
    ]
    assert cli.repo().count() == 1


def test_format_forces_a_reader(cli: InProcessCli) -> None:
    forced = cli("ingest", str(FIXTURES / "events.jsonl"), "--format", "sharegpt")

    assert forced.code == ExitCode.REFUSED
    assert "(sharegpt)" in forced.out
    assert cli.repo().count() == 0


def test_progress_is_drawn_on_a_terminal_only(
    cli: InProcessCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mongo_ai_logs.cli import _progress

    big = tmp_path / "big.jsonl"
    write_events_file(big, "run-big", 2500)
    monkeypatch.setattr(_progress, "_DEFAULT_DELAY", 0.0)

    terminal = FakeTerminal()
    run(
        ["ingest", str(big)],
        stdout=io.StringIO(),
        stderr=terminal,
        opener=cli.open,
    )
    piped = io.StringIO()
    run(["ingest", str(big)], stdout=io.StringIO(), stderr=piped, opener=cli.open)

    assert "[1/1] big.jsonl" in terminal.getvalue()
    assert "%" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r")
    assert piped.getvalue() == ""


# -- export, then ingest --

_AWKWARD: Document = {
    "type": "tool_call",
    "run_id": "run-awkward",
    "user_id": "carol",
    "started_at": dt.datetime(2025, 6, 3, 8, 0, 0, 123000, tzinfo=dt.timezone.utc),
    "tool": {
        "name": "fetch",
        "arguments": {"$ref": "#/defs/x", "url": "https://example.org"},
        "result": {
            "fetched_at": dt.datetime(2025, 6, 3, 8, 0, 1, tzinfo=dt.timezone.utc),
            "bytes": b"\x00\x01binary",
            "price": Decimal("1.10"),
            "huge": 2**70,
            "%literal": "a key that starts with %",
            "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        },
    },
    "metadata": {"llm.token_count.prompt": 12, "nested": {"a.b": [1, {"c": None}]}},
    "tags": ["awkward"],
}


def _all(repo: AgentLogRepository) -> dict[str, Document]:
    return {e["_id"]: e for e in repo.iter_events(include_deleted=True)}


def _round_trip(
    cli: InProcessCli, collection: Collection[Document], tmp_path: Path
) -> None:
    exported = tmp_path / "export.jsonl"
    assert cli("export", "--include-deleted", "-o", str(exported)).code == 0

    empty = InProcessCli(collection.database[f"{collection.name}_copy"])
    try:
        result = empty("ingest", str(exported))

        assert result.code == ExitCode.OK, result.out
        assert _all(empty.repo()) == _all(cli.repo())
    finally:
        empty.collection.drop()
        empty.collection.database[f"{empty.collection.name}.blobs"].drop()


def test_export_then_ingest_into_an_empty_store_gives_equal_documents(
    cli: InProcessCli, collection: Collection[Document], tmp_path: Path
) -> None:
    cli("ingest", str(FIXTURES / "events.jsonl"), str(FIXTURES / "broken.jsonl"))
    cli.repo().insert({**_AWKWARD, "tool": {"name": "fetch", "result": "plain"}})
    cli.repo().soft_delete("65a000000000000000000006", reason="test")

    _round_trip(cli, collection, tmp_path)


def test_export_round_trip_keeps_values_json_has_no_type_for(
    cli: InProcessCli, collection: Collection[Document], tmp_path: Path
) -> None:
    cli.repo().insert(_AWKWARD)

    _round_trip(cli, collection, tmp_path)


def test_ingesting_an_export_into_the_same_store_adds_nothing(
    cli: InProcessCli, tmp_path: Path
) -> None:
    cli(
        "ingest",
        str(FIXTURES / "events.jsonl"),
        str(FIXTURES / "exchange_no_cost.jsonl"),
    )
    cli.repo().insert(_AWKWARD)
    before = _all(cli.repo())
    exported = tmp_path / "export.jsonl"
    cli("export", "-o", str(exported))

    result = cli("ingest", str(exported), "--json")

    (report,) = result.json_lines()
    assert (report["stored"], report["skipped"], report["refused"]) == (0, 8, [])
    assert _all(cli.repo()) == before


def test_an_export_of_one_project_ingests_into_another_and_the_default(
    cli: InProcessCli, tmp_path: Path
) -> None:
    cli("ingest", str(FIXTURES / "events.jsonl"), "--project", "A")
    exported = tmp_path / "x.jsonl"
    cli("--project", "A", "export", "-o", str(exported))

    into_b = cli("--project", "B", "ingest", str(exported))
    into_default = cli("ingest", str(exported))
    again = cli("--project", "B", "ingest", str(exported), "--json")

    assert into_b.code == ExitCode.OK, into_b.out
    assert into_b.out.endswith("6 stored, 0 already present, 0 refused\n")
    assert into_default.code == ExitCode.OK, into_default.out
    (report,) = again.json_lines()
    assert (report["stored"], report["skipped"]) == (0, 6)
    assert cli.repo("A").count() == cli.repo("B").count() == cli.repo().count() == 6
    in_a = cli("--project", "A", "show", "run-weather-1")
    in_b = cli("--project", "B", "show", "run-weather-1")
    assert in_b.out.splitlines()[2:] == in_a.out.splitlines()[2:]
