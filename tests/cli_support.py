"""Helpers for the CLI tests: run it in process on a test collection, or as a
program on a local store of the test's own."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo.collection import Collection

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.cli import run
from mongo_ai_logs.cli._store import OpenStore, StoreOptions

FIXTURES = Path(__file__).parent / "fixtures" / "cli"

Document = dict[str, Any]


@dataclass
class Result:
    """What a command printed and how it ended."""

    code: int
    out: str
    err: str

    def json_lines(self) -> list[Document]:
        """Every line of the output, each parsed as JSON."""
        return [json.loads(line) for line in self.out.splitlines()]


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@dataclass
class InProcessCli:
    """Runs command lines in this process on one collection.

    Attributes:
        collection: Where every command's repository lives.
        opened: The store options of each command that opened the store.
    """

    collection: Collection[Document]
    opened: list[StoreOptions] = field(default_factory=list)

    @contextmanager
    def open(self, options: StoreOptions) -> Iterator[OpenStore]:
        self.opened.append(options)
        yield OpenStore(
            repository=AgentLogRepository(self.collection, project_id=options.project),
            kind="server",
            location="mongodb://test-server/",
            server_version=lambda: "7.0.0",
        )

    def repo(self, project: str | None = None) -> AgentLogRepository:
        """A repository on the same collection."""
        return AgentLogRepository(self.collection, project_id=project)

    def __call__(self, *argv: str, stdin: io.StringIO | None = None) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = run(
            list(argv),
            stdout=out,
            stderr=err,
            stdin=io.StringIO("") if stdin is None else stdin,
            opener=self.open,
        )
        return Result(code, out.getvalue(), err.getvalue())


def program_environment(**extra: str) -> dict[str, str]:
    """The environment for the CLI as a program: no server, no test switches."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MONGODB_", "AI_LOGS_", "SECANTUS_"))
    }
    environment.update(extra)
    return environment


def program(*argv: str, store: Path, **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``python -m mongo_ai_logs ARGV --store STORE`` with pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "mongo_ai_logs", *argv, "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=program_environment(),
        **kwargs,
    )


def run_program(*argv: str, store: Path, timeout: float = 120) -> Result:
    """Run the CLI as a program on the local store ``store`` and wait."""
    process = program(*argv, store=store)
    out, err = process.communicate(timeout=timeout)
    return Result(process.returncode, out, err)


def write_events_file(path: Path, run_id: str, count: int) -> None:
    """A JSON-lines file of ``count`` events of one run, in our own format."""
    with open(path, "w", encoding="utf-8") as file:
        for seq in range(count):
            event = {
                "type": "message",
                "run_id": run_id,
                "seq": seq,
                "role": "user" if seq % 2 == 0 else "assistant",
                "content": f"{run_id} says {seq} " + "x" * 200,
                "started_at": f"2025-06-01T{seq // 3600 % 24:02d}:"
                f"{seq // 60 % 60:02d}:{seq % 60:02d}+00:00",
            }
            file.write(json.dumps(event) + "\n")
