"""Start and stop SecantusDB servers for tests, as separate processes.

SecantusDB speaks MongoDB's wire protocol over WiredTiger. It is GPL-2.0, so
it is only ever run as its own process, never imported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

__all__ = ["SecantusServer", "free_port", "secantus_executable"]


def secantus_executable() -> str | None:
    """The ``secantusd-py`` next to this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("secantusd-py")
    if beside.exists():
        return str(beside)
    return shutil.which("secantusd-py")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SecantusServer:
    """One SecantusDB process on a loopback port.

    Args:
        storage_path: ``":memory:"`` for a throw-away store, or a directory
            that survives a restart.
        test_commands: Enable ``configureFailPoint`` (``failCommand``).
    """

    storage_path: str = ":memory:"
    test_commands: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60.0) -> SecantusServer:
        """Start the process and wait until it answers a ping."""
        executable = secantus_executable()
        if executable is None:
            raise RuntimeError("secantusd-py is not installed: pip install -e '.[dev]'")
        command = [
            executable,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            self.storage_path,
            "--log-level",
            "WARNING",
        ]
        if self.test_commands:
            command.append("--enable-test-commands")
        log_path = os.devnull if self.log_path is None else self.log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"secantusd-py exited with {self.process.returncode}"
                )
            if self.answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"secantusd-py did not answer on port {self.port}")

    def answers(self) -> bool:
        """Whether the server answers a ping now."""
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process: SIGTERM and wait, or SIGKILL when ``kill``."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            # SecantusDB now and then misses a SIGTERM; do not wait long for it.
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def restart(self) -> None:
        """Stop and start again on the same port (and store, if on disk)."""
        self.stop()
        self.start()
