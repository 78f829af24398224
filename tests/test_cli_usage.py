"""The command line itself: help, bad input, exit codes, errors and logging."""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pymongo.collection import Collection

from mongo_ai_logs.cli import ExitCode, build_parser, main, run
from mongo_ai_logs.cli._store import OpenStore, StoreOptions
from mongo_ai_logs.errors import ConnectionFailedError
from tests.cli_support import InProcessCli, Result
from tests.servers import free_port

Document = dict[str, object]
COMMANDS = [
    "demo",
    "ping",
    "ingest",
    "find",
    "show",
    "stats",
    "delete",
    "restore",
    "purge",
    "export",
    "serve",
]


@pytest.fixture
def cli(collection: Collection[Document]) -> InProcessCli:
    return InProcessCli(collection)


def _run(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), stdout=out, stderr=err, stdin=io.StringIO())
    return Result(code, out.getvalue(), err.getvalue())


# -- help --


def test_every_command_is_in_the_parser() -> None:
    parser = build_parser()
    choices = next(
        a.choices for a in parser._actions if a.dest == "command" and a.choices
    )

    assert sorted(choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples_and_exit_codes(command: str) -> None:
    result = _run(command, "--help")

    assert result.code == ExitCode.OK
    assert f"usage: mongo-ai-logs {command}" in result.out
    assert "examples:" in result.out
    assert "exit codes:" in result.out


def test_top_level_help_lists_the_commands_and_exit_codes() -> None:
    result = _run("--help")

    assert result.code == ExitCode.OK
    for command in COMMANDS:
        assert command in result.out
    assert "4    the local store is busy" in result.out


def test_version() -> None:
    result = _run("--version")

    assert result.code == ExitCode.OK
    assert result.out.startswith("mongo-ai-logs ")


def test_main_takes_argv_and_returns_the_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--version"]) == ExitCode.OK
    assert "mongo-ai-logs" in capsys.readouterr().out


# -- usage errors exit 2 --


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["fly"], "invalid choice: 'fly'"),
        (["find", "--type", "thought"], "invalid choice: 'thought'"),
        (["find", "--status", "fine"], "invalid choice: 'fine'"),
        (["find", "--since", "last tuesday"], "is not a date"),
        (["find", "--since", "99999999w"], "is too long ago"),
        (["find", "--meta", "no-equals-sign"], "is not KEY=VALUE"),
        (["find", "--meta", "k:={bad json"], "is not JSON"),
        (["find", "--meta", 'k:={"$gt": 1}'], "not an object or a list"),
        (["find", "--limit", "0"], "is not a whole number >= 1"),
        (["find", "--limit", "5000"], "use --all"),
        (["find", "--all", "--cursor", "abc"], "not allowed with argument"),
        (["ingest"], "the following arguments are required: PATH"),
        (["ingest", "x.json", "--format", "csv"], "invalid choice: 'csv'"),
        (["show"], "the following arguments are required: RUN_ID"),
        (["stats", "--by", "weekday"], "invalid choice: 'weekday'"),
        (["stats", "--include-deleted"], "unrecognized arguments"),
        (["restore"], "the following arguments are required: ID"),
        (["purge"], "one of the arguments --older-than --before is required"),
        (["purge", "--older-than", "-3"], "is not a whole number >= 1"),
        (["purge", "--older-than", "3", "--before", "2025-01-01"], "not allowed"),
        (["ping", "--wait", "soon"], "is not a number of seconds"),
        (["delete"], "give event ids or at least one filter"),
    ],
)
def test_usage_errors_exit_2_with_a_message(argv: list[str], message: str) -> None:
    result = _run(*argv)

    assert result.code == ExitCode.USAGE
    assert message in result.err
    assert "Traceback" not in result.err


# -- parsing values --


def test_relative_ages_and_iso_dates(cli: InProcessCli) -> None:
    from mongo_ai_logs.cli._app import _when

    now = dt.datetime.now(dt.timezone.utc)
    assert abs(_when("7d") - (now - dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    assert abs(_when("90m") - (now - dt.timedelta(minutes=90))) < dt.timedelta(
        minutes=1
    )
    assert _when("2025-06-01") == dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    assert _when("2025-06-01T12:00:00+02:00") == dt.datetime(
        2025, 6, 1, 10, tzinfo=dt.timezone.utc
    )


def test_metadata_values_are_strings_unless_typed() -> None:
    from mongo_ai_logs.cli._app import _metadata

    assert _metadata("env=prod") == ("env", "prod")
    assert _metadata("version=1.0") == ("version", "1.0")
    assert _metadata("version:=1.0") == ("version", 1.0)
    assert _metadata("cached:=true") == ("cached", True)
    assert _metadata("parent:=null") == ("parent", None)
    assert _metadata("a.b.c=x=y") == ("a.b.c", "x=y")
    assert _metadata('q={"$ne": 1}') == ("q", '{"$ne": 1}')


# -- store errors exit 3, with one line and no secret --


def test_unreachable_server_exits_3_in_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s3cr3t-Pa55"
    monkeypatch.setenv(
        "MONGODB_URI", f"mongodb://app:{secret}@127.0.0.1:{free_port()}/"
    )
    monkeypatch.setenv("MONGODB_TIMEOUT_MS", "300")

    result = _run("ping")

    assert result.code == ExitCode.STORE
    assert result.err.count("\n") == 1
    assert result.err.startswith(
        "mongo-ai-logs: error: cannot reach MongoDB at 127.0.0.1"
    )
    assert secret not in result.out + result.err
    assert "Traceback" not in result.err


def test_malformed_uri_exits_3_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://app:p@ss-W0rd@db.example.net/")

    result = _run("find")

    assert result.code == ExitCode.STORE
    assert "percent-encoded" in result.err
    assert "ss-W0rd" not in result.err


def test_a_secret_in_any_error_message_is_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://app:Hidden%2FOne@127.0.0.1:1/")

    @contextmanager
    def leaky(options: StoreOptions) -> Iterator[OpenStore]:
        raise ConnectionFailedError("driver said: app:Hidden/One@127.0.0.1 refused")
        yield  # pragma: no cover

    err = io.StringIO()
    code = run(["ping"], stdout=io.StringIO(), stderr=err, opener=leaky)

    assert code == ExitCode.STORE
    assert "Hidden" not in err.getvalue()
    assert "app:***@127.0.0.1" in err.getvalue()


def test_a_bug_exits_70_in_one_line_and_shows_the_traceback_with_vv() -> None:
    @contextmanager
    def broken(options: StoreOptions) -> Iterator[OpenStore]:
        raise RuntimeError("something unexpected")
        yield  # pragma: no cover

    quiet, loud = io.StringIO(), io.StringIO()
    code = run(["ping"], stdout=io.StringIO(), stderr=quiet, opener=broken)
    run(["ping", "-vv"], stdout=io.StringIO(), stderr=loud, opener=broken)

    assert code == ExitCode.SOFTWARE
    assert quiet.getvalue().count("\n") == 1
    assert "internal error: RuntimeError: something unexpected" in quiet.getvalue()
    assert "Traceback" not in quiet.getvalue()
    assert "Traceback" in loud.getvalue()


def test_ctrl_c_exits_130() -> None:
    @contextmanager
    def interrupted(options: StoreOptions) -> Iterator[OpenStore]:
        raise KeyboardInterrupt
        yield  # pragma: no cover

    err = io.StringIO()
    code = run(["find"], stdout=io.StringIO(), stderr=err, opener=interrupted)

    assert code == ExitCode.INTERRUPTED
    assert "interrupted" in err.getvalue()


def test_a_closed_pipe_ends_quietly_with_1(cli: InProcessCli) -> None:
    from tests.cli_support import FIXTURES

    cli("ingest", str(FIXTURES / "events.jsonl"))

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    err = io.StringIO()
    code = run(["export"], stdout=ClosedPipe(), stderr=err, opener=cli.open)

    assert code == ExitCode.REFUSED
    assert err.getvalue() == ""


# -- logging is the CLI's --


def test_verbose_shows_what_is_done_and_quiet_by_default(cli: InProcessCli) -> None:
    from tests.cli_support import FIXTURES

    quiet = cli("ingest", str(FIXTURES / "events.jsonl"))
    verbose = cli("ingest", str(FIXTURES / "events.jsonl"), "-v")

    assert "info:" not in quiet.err
    assert "mongo-ai-logs: info: imported" in verbose.err
    assert "debug:" not in verbose.err


def test_the_cli_leaves_no_logging_handler_behind(cli: InProcessCli) -> None:
    package = logging.getLogger("mongo_ai_logs")
    before = list(package.handlers)

    cli("ping", "-vv")

    assert package.handlers == before
    assert package.level == logging.NOTSET
