"""The local store, with the CLI run as a program: it lasts, it survives kills,
and one command at a time uses it."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mongo_ai_logs.cli import ExitCode, run
from mongo_ai_logs.cli._store import StoreOptions, local_store_path, open_store
from mongo_ai_logs.config import Settings
from mongo_ai_logs.local_store import secantus_executable
from tests.cli_support import (
    FIXTURES,
    Result,
    program,
    program_environment,
    run_program,
    write_events_file,
)
from tests.servers import SecantusServer

fcntl = pytest.importorskip("fcntl", reason="the local store needs Linux or macOS")

needs_secantus = pytest.mark.skipif(
    secantus_executable() is None,
    reason="secantusd-py is not installed: pip install -e '.[dev,local]'",
)


def _servers_on(data_path: Path) -> list[int]:
    """Pids of live processes whose command line names ``data_path`` (Linux)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\x00")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if str(data_path).encode() in arguments and state != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    """A local store directory of this test's own; no server is left on it."""
    path = tmp_path / "store"
    yield path
    if sys.platform.startswith("linux"):
        assert _servers_on(path / "data") == []


def _counts_by_run(store: Path) -> Counter[str]:
    result = run_program("find", "--all", "--json", "--limit", "1000", store=store)
    assert result.code == ExitCode.OK, result.err
    return Counter(event["run_id"] for event in result.json_lines())


def _event_files(directory: Path, files: int, events: int) -> list[str]:
    paths = []
    for number in range(files):
        path = directory / f"file{number:02d}.jsonl"
        write_events_file(path, f"run-{number:02d}", events)
        paths.append(str(path))
    return paths


def _complete_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


# -- where the store is --


def test_without_mongodb_uri_the_store_is_in_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    default = local_store_path(StoreOptions(), Settings.load())
    monkeypatch.setenv("AI_LOGS_STORE", str(tmp_path / "elsewhere"))
    from_environment = local_store_path(StoreOptions(), Settings.load())
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/")
    with_server = local_store_path(StoreOptions(), Settings.load())
    flagged = local_store_path(StoreOptions(store_path=tmp_path / "s"), Settings.load())

    assert default == tmp_path / "data" / "mongo-ai-logs" / "store"
    assert from_environment == tmp_path / "elsewhere"
    assert with_server is None
    assert flagged == tmp_path / "s"


def test_without_secantus_the_cli_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mongo_ai_logs import local_store

    monkeypatch.setattr(local_store, "secantus_executable", lambda: None)
    err = io.StringIO()

    code = run(["ping", "--store", str(tmp_path)], stdout=io.StringIO(), stderr=err)

    assert code == ExitCode.STORE
    assert "pip install 'mongo-ai-logs[local]'" in err.getvalue()
    assert "MONGODB_URI" in err.getvalue()
    assert err.getvalue().count("\n") == 1


@needs_secantus
def test_writes_to_the_local_store_are_journaled(tmp_path: Path) -> None:
    with open_store(StoreOptions(store_path=tmp_path / "store")) as opened:
        repository = opened.repository

        assert opened.kind == "local"
        assert repository.collection.write_concern.document == {"j": True}
        assert repository.blobs.write_concern.document == {"j": True}


# -- it lasts --


@needs_secantus
def test_ping_on_a_new_store_says_where_it_is(store: Path) -> None:
    result = run_program("ping", "--json", store=store)

    assert result.code == ExitCode.OK, result.err
    (info,) = result.json_lines()
    assert info["store"] == "local"
    assert info["location"] == str(store)
    assert info["server_version"].endswith("(SecantusDB)")
    assert info["events"] == 0
    assert info["start_seconds"] > 0
    assert (store / "data").is_dir()
    assert not (store / "server.json").exists()


@needs_secantus
def test_events_last_between_commands_and_reimports_add_nothing(
    store: Path, tmp_path: Path
) -> None:
    first = run_program("ingest", str(FIXTURES / "events.jsonl"), store=store)
    again = run_program("ingest", str(FIXTURES / "events.jsonl"), store=store)
    shown = run_program("show", "run-weather-1", store=store)
    export = tmp_path / "export.jsonl"
    exported = run_program("export", "-o", str(export), store=store)
    reimported = run_program("ingest", "--json", str(export), store=store)

    assert first.code == ExitCode.OK, first.err
    assert "6 stored" in first.out
    assert "0 stored, 6 already present" in again.out
    assert "└─ llm_call" in shown.out
    assert exported.code == ExitCode.OK, exported.err
    assert reimported.json_lines()[0]["skipped"] == 6
    assert sum(_counts_by_run(store).values()) == 6


@needs_secantus
def test_ingest_reads_stdin_from_a_dash(store: Path) -> None:
    piped = subprocess.run(
        [sys.executable, "-m", "mongo_ai_logs", "ingest", "-", "--store", str(store)],
        input=(FIXTURES / "events.jsonl").read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        env=program_environment(),
        timeout=120,
        check=False,
    )

    assert piped.returncode == ExitCode.OK, piped.stderr
    assert "(events): 6 stored" in piped.stdout


# -- kills --


@needs_secantus
def test_kill_9_of_the_cli_mid_ingest_keeps_every_reported_event(
    store: Path, tmp_path: Path
) -> None:
    files = _event_files(tmp_path, files=30, events=300)
    process = program("ingest", "--json", *files, store=store)
    assert process.stdout is not None
    reported = [json.loads(process.stdout.readline()) for _ in range(3)]

    os.kill(process.pid, signal.SIGKILL)
    rest, _ = process.communicate(timeout=60)
    reported += _complete_lines(rest)

    assert len(reported) < len(files), "the kill came after the last file"
    counts = _counts_by_run(store)
    for report in reported:
        run_id = "run-" + Path(str(report["path"])).stem[-2:]
        assert report["stored"] == 300
        assert counts[run_id] == 300, run_id


@needs_secantus
def test_kill_9_of_the_server_mid_ingest_keeps_every_reported_event(
    store: Path, tmp_path: Path
) -> None:
    files = _event_files(tmp_path, files=30, events=300)
    process = program("ingest", "--json", *files, store=store)
    assert process.stdout is not None
    reported = [json.loads(process.stdout.readline()) for _ in range(3)]
    server = json.loads((store / "server.json").read_text())

    os.kill(server["pid"], signal.SIGKILL)
    rest, err = process.communicate(timeout=60)
    reported += _complete_lines(rest)

    assert process.returncode == ExitCode.STORE
    assert err.splitlines()[-1].startswith("mongo-ai-logs: error: ")
    assert "Traceback" not in err
    assert len(reported) < len(files)
    counts = _counts_by_run(store)
    for report in reported:
        run_id = "run-" + Path(str(report["path"])).stem[-2:]
        assert counts[run_id] == 300, run_id


@needs_secantus
def test_a_server_left_behind_is_stopped_by_the_next_command(store: Path) -> None:
    store.mkdir()
    leftover = SecantusServer(storage_path=str(store / "data"), test_commands=False)
    leftover.start()
    process = leftover.process
    assert process is not None
    reaper = threading.Thread(target=process.wait)
    reaper.start()
    state = {"pid": process.pid, "port": leftover.port, "owner": 1}
    (store / "server.json").write_text(json.dumps(state))

    result = run_program("ping", store=store)
    reaper.join(timeout=60)

    assert result.code == ExitCode.OK, result.err
    assert "left running" in result.err
    assert process.poll() is not None


# -- one command at a time --


def _hold_lock(store: Path, holder: str) -> io.TextIOWrapper:
    store.mkdir(parents=True, exist_ok=True)
    lock = open(store / "lock", "a+", encoding="utf-8")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    lock.seek(0)
    lock.truncate()
    lock.write(holder)
    lock.flush()
    return lock


@needs_secantus
def test_a_busy_store_exits_4_naming_who_holds_it(store: Path) -> None:
    lock = _hold_lock(store, "424242 mongo-ai-logs ingest\n")
    try:
        result = run_program("ping", "--wait", "0", store=store)
    finally:
        lock.close()

    assert result.code == ExitCode.BUSY
    assert "is busy: mongo-ai-logs ingest (pid 424242) is using it" in result.err
    assert "--wait" in result.err


@needs_secantus
def test_a_second_command_waits_for_the_first_and_says_so(store: Path) -> None:
    lock = _hold_lock(store, "424242 mongo-ai-logs ingest\n")
    try:
        process = program("ping", "--wait", "120", store=store)
        assert process.stderr is not None
        waiting = process.stderr.readline()
    finally:
        lock.close()
    out, err = process.communicate(timeout=120)

    assert "in use by mongo-ai-logs ingest (pid 424242)" in waiting
    assert "waiting up to 120 s" in waiting
    assert process.returncode == ExitCode.OK, err
    assert "events:" in out


@needs_secantus
def test_two_ingests_at_once_both_finish(store: Path, tmp_path: Path) -> None:
    files = _event_files(tmp_path, files=8, events=200)
    first = program("ingest", *files[:4], store=store)
    second = program("ingest", *files[4:], store=store)

    results = [
        Result(p.wait(timeout=180), *p.communicate(timeout=10)) for p in (first, second)
    ]

    assert [r.code for r in results] == [ExitCode.OK, ExitCode.OK], results
    assert sum(_counts_by_run(store).values()) == 8 * 200
