"""A MongoDB store on the user's disk, for the CLI when no server is configured.

Without ``MONGODB_URI`` the CLI keeps its events in a directory of the user's
(``$XDG_DATA_HOME/mongo-ai-logs/store``, so ``~/.local/share/...`` by default),
served by SecantusDB: a single-node server that speaks MongoDB's wire
protocol and stores its data with WiredTiger. The CLI starts that server as a
process of its own on a free loopback port for the length of one command and
stops it at the end; it then talks to it with pymongo exactly as to Atlas.
SecantusDB is GPL-2.0 and is never imported: it is installed with the
``local`` extra and run as a separate program.

The directory holds::

    data/            the server's WiredTiger files
    lock             held by the command using the store; its pid inside
    server.json      the running server's pid and port, for clean-up after a kill
    server.log       the server's output of the last start
    secantusd.toml   an empty server configuration, so no other file is read

One command at a time uses a store: a second one waits for the first to end
(saying so), and gives up with :class:`StoreBusyError` after a set time.

Writes are durable once acknowledged: the client is made with
``journal=true``, so every acknowledged write is in the server's journal on
disk, and a kill of the CLI or of the server at any moment loses none of them.
This is a store for trying the product and for small data, for one user on
one machine; it is not a production database and has no backups.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mongo_ai_logs.errors import ConfigurationError, StoreError

__all__ = [
    "INSTALL_HINT",
    "LocalStore",
    "LocalStoreUnavailableError",
    "StoreBusyError",
    "default_store_path",
    "secantus_executable",
]

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "install it with: pip install 'mongo-ai-logs[local]', or set MONGODB_URI "
    "to use a MongoDB server (Atlas, say)"
)
"""What to do when the local store's server is not installed."""

_EXECUTABLE = "secantusd-py"
_HOST = "127.0.0.1"
_START_ATTEMPTS = 3
_POLL_SECONDS = 0.02
_PR_SET_PDEATHSIG = 1
_EMPTY_CONFIG = (
    "# The local store's server reads this file instead of looking for a\n"
    "# secantusd.toml elsewhere. mongo-ai-logs sets what it needs with flags.\n"
)


class LocalStoreUnavailableError(ConfigurationError):
    """The local store cannot run here: its server is not installed, say."""


class StoreBusyError(StoreError):
    """Another command holds the local store and did not let go in time."""


def default_store_path(environ: Mapping[str, str] | None = None) -> Path:
    """The store's directory: ``$XDG_DATA_HOME/mongo-ai-logs/store``.

    ``XDG_DATA_HOME`` defaults to ``~/.local/share``, as the XDG base directory
    specification says.

    Args:
        environ: The environment to read. Defaults to ``os.environ``.
    """
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".local/share"
    return root / "mongo-ai-logs" / "store"


def secantus_executable() -> str | None:
    """The path of ``secantusd-py``: next to this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name(_EXECUTABLE)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(_EXECUTABLE)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def _parent_death_signal() -> Callable[[], None] | None:
    """A function that makes the calling process get SIGTERM when its parent
    dies (Linux); ``None`` where there is no such thing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return set_signal


class LocalStore:
    """The store in one directory, and its server while a command runs.

    Use it as a context manager: entering takes the store's lock and starts
    the server, leaving stops the server and lets the lock go::

        with LocalStore(default_store_path()) as store:
            client = MongoClient(store.uri)

    Args:
        path: The store's directory, made when missing.
        wait: Seconds to wait for another command that uses the store.
            Defaults to 30; 0 gives up at once.
        on_wait: Called once with a message when the store is busy and this
            command starts waiting. Defaults to logging it.
        command: Named in the lock, so a waiting command can say who holds it.
        start_timeout: Seconds the server has to start. Defaults to 60: a
            store that was not shut down cleanly replays its journal first.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        wait: float = 30.0,
        on_wait: Callable[[str], None] | None = None,
        command: str = "mongo-ai-logs",
        start_timeout: float = 60.0,
    ) -> None:
        self.path = Path(path).expanduser().absolute()
        self.wait = wait
        self.on_wait = on_wait
        self.command = command
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None
        self._lock_file: IO[str] | None = None

    def __repr__(self) -> str:
        return f"LocalStore({str(self.path)!r}, port={self.port!r})"

    @property
    def data_path(self) -> Path:
        """The server's WiredTiger directory."""
        return self.path / "data"

    @property
    def log_path(self) -> Path:
        """The server's output of its last start."""
        return self.path / "server.log"

    @property
    def uri(self) -> str:
        """The connection string of the running server, journaled writes on.

        Raises:
            StoreError: The server is not running.
        """
        if self.port is None:
            raise StoreError("the local store is not started")
        return f"mongodb://{_HOST}:{self.port}/?directConnection=true&journal=true"

    # -- starting ----------------------------------------------------------

    def start(self) -> LocalStore:
        """Take the store's lock and start its server; return ``self``.

        Raises:
            LocalStoreUnavailableError: The server is not installed, or the
                platform has no file locks.
            StoreBusyError: Another command held the store longer than
                ``wait``.
            StoreError: The directory cannot be used or the server did not
                start; the message names the log to read.
        """
        executable = secantus_executable()
        if executable is None:
            raise LocalStoreUnavailableError(
                f"the local store needs SecantusDB, which is not installed; "
                f"{INSTALL_HINT}"
            )
        began = time.monotonic()
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot use {str(self.path)!r} for the local store: {exc.strerror}"
            ) from exc
        self._lock()
        try:
            self._stop_leftover_server()
            self._launch(executable)
        except BaseException:
            self._unlock()
            raise
        self.start_seconds = time.monotonic() - began
        logger.info(
            "local store %s started in %.2f s (port %d)",
            self.path,
            self.start_seconds,
            self.port,
        )
        return self

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:
            raise LocalStoreUnavailableError(
                "the local store needs file locks (Linux or macOS); "
                "set MONGODB_URI to use a MongoDB server"
            ) from None
        lock_path = self.path / "lock"
        try:
            lock_file = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise StoreError(
                f"cannot open the local store's lock {str(lock_path)!r}: {exc.strerror}"
            ) from exc
        deadline = time.monotonic() + max(self.wait, 0.0)
        told = False
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            holder = _read_holder(lock_path)
            if time.monotonic() >= deadline:
                lock_file.close()
                raise StoreBusyError(
                    f"the local store {str(self.path)!r} is busy: {holder} is "
                    f"using it and did not finish within {self.wait:g} s; try "
                    "again when it ends, or wait longer with --wait"
                )
            if not told:
                message = (
                    f"the local store is in use by {holder}; waiting up to "
                    f"{self.wait:g} s for it to finish"
                )
                if self.on_wait is None:
                    logger.warning("%s", message)
                else:
                    self.on_wait(message)
                told = True
            time.sleep(0.1)
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()} {self.command}\n")
        lock_file.flush()
        self._lock_file = lock_file

    def _unlock(self) -> None:
        if self._lock_file is not None:
            # Closing the file releases the lock; the file itself stays, so
            # that a command waiting on it never locks a file that was removed.
            self._lock_file.close()
            self._lock_file = None

    def _stop_leftover_server(self) -> None:
        """Stop a server an earlier command left running when it was killed."""
        state_path = self.path / "server.json"
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        pid, port = state.get("pid"), state.get("port")
        if isinstance(pid, int) and _is_server_of(pid, self.data_path):
            logger.warning(
                "stopping the local store's server (pid %d) that an earlier "
                "command left running",
                pid,
            )
            _terminate(pid, port if isinstance(port, int) else None, None)
        with contextlib.suppress(OSError):
            state_path.unlink()

    def _launch(self, executable: str) -> None:
        config = self.path / "secantusd.toml"
        if not config.exists():
            config.write_text(_EMPTY_CONFIG, encoding="utf-8")
        environment = dict(os.environ)
        # A test switch of SecantusDB turns its journal off; never here.
        environment.pop("SECANTUS_TEST_FAST_STORAGE", None)
        environment["SECANTUS_FORCE_DURABLE"] = "1"

        for attempt in range(1, _START_ATTEMPTS + 1):
            port = _free_port()
            command = [
                executable,
                "--config",
                str(config),
                "--host",
                _HOST,
                "--port",
                str(port),
                "--storage-path",
                str(self.data_path),
                "--log-level",
                "WARNING",
            ]
            logger.debug("starting %s", " ".join(command))
            with open(self.log_path, "wb") as log:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=environment,
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),
                )
            self.process, self.port = process, port
            self._write_state()
            if self._wait_until_serving():
                return
            reason = self._start_failure()
            if "address already in use" not in reason.lower():
                raise StoreError(
                    f"the local store's server did not start: {reason} "
                    f"(its output is in {str(self.log_path)!r})"
                )
            logger.info("port %d was taken (attempt %d); trying another", port, attempt)
        raise StoreError(
            f"the local store's server found no free port in {_START_ATTEMPTS} "
            f"attempts (its output is in {str(self.log_path)!r})"
        )

    def _write_state(self) -> None:
        assert self.process is not None
        state = {"pid": self.process.pid, "port": self.port, "owner": os.getpid()}
        (self.path / "server.json").write_text(json.dumps(state), encoding="utf-8")

    def _wait_until_serving(self) -> bool:
        """Wait for our server to answer; ``False`` when it exited instead."""
        assert self.process is not None
        assert self.port is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if _answers(self.port) and self._is_ours():
                return True
            time.sleep(_POLL_SECONDS)
        self._stop_process()
        raise StoreError(
            f"the local store's server did not answer within "
            f"{self.start_timeout:g} s (its output is in {str(self.log_path)!r})"
        )

    def _is_ours(self) -> bool:
        """Whether the server on our port is the process we started.

        Another program may have taken the port between our choosing it and
        the server binding it; then our server exits and this says no.
        """
        assert self.process is not None
        client: MongoClient[dict[str, Any]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000
        )
        try:
            status = client.admin.command("serverStatus")
        except PyMongoError:
            return False
        finally:
            client.close()
        return bool(status.get("pid") == self.process.pid)

    def _start_failure(self) -> str:
        assert self.process is not None
        code = self.process.wait()
        self.process, self.port = None, None
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            lines = ""
        last = [line for line in lines.splitlines() if line.strip()]
        detail = last[-1].strip() if last else "no output"
        return f"it exited with code {code}: {detail}"

    # -- stopping ----------------------------------------------------------

    def stop(self) -> None:
        """Stop the server cleanly and let the lock go; safe to repeat."""
        try:
            self._stop_process()
            with contextlib.suppress(OSError):
                (self.path / "server.json").unlink()
        finally:
            self._unlock()

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        port, self.port = self.port, None
        if process is None:
            return
        if process.poll() is not None:
            logger.warning(
                "the local store's server had stopped by itself (exit code %s)",
                process.returncode,
            )
            return
        began = time.monotonic()
        _terminate(process.pid, port, process)
        logger.debug("local store stopped in %.2f s", time.monotonic() - began)

    def server_exit_code(self) -> int | None:
        """The exit code of the server if it stopped by itself, else ``None``."""
        return None if self.process is None else self.process.poll()

    def __enter__(self) -> LocalStore:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read_holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    pid, _, command = text.partition(" ")
    if not pid.isdigit():
        return "another command"
    return f"{command or 'another command'} (pid {pid})"


def _is_server_of(pid: int, data_path: Path) -> bool:
    """Whether ``pid`` is a SecantusDB server on ``data_path``."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        arguments = raw.decode("utf-8", "replace").split("\x00")
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return False  # a Linux /proc without this pid: it is gone
        arguments = _arguments_from_ps(pid)
    except OSError:
        return False
    return (
        any(_EXECUTABLE in argument for argument in arguments)
        and str(data_path) in arguments
    )


def _arguments_from_ps(pid: int) -> list[str]:
    try:
        result = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return result.stdout.split()


def _alive(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited process that nobody has reaped yet (a zombie) still takes
    # signals; where /proc tells, it is not alive.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _terminate(
    pid: int,
    port: int | None,
    process: subprocess.Popen[bytes] | None,
    timeout: float = 30.0,
) -> None:
    """Stop a server with SIGTERM, and SIGKILL if it does not stop in time.

    Two habits of SecantusDB 0.7 are met here. After SIGTERM it closes its
    listening socket and waits up to 2 s for its accept thread, which stays
    blocked in ``accept()`` until a connection arrives: connecting once in a
    while lets that thread see the stop at once. And its main thread waits on
    an event without a timeout, so a SIGTERM that the kernel hands to another
    thread is never acted on: a server that still accepts connections half a
    second after the signal gets it again. Acknowledged writes are journaled,
    so even the final SIGKILL loses none of them.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    serving_since: float | None = None
    while _alive(pid, process):
        now = time.monotonic()
        if now >= deadline:
            logger.warning("the local store's server did not stop: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if process is not None:
                process.wait()
            return
        if port is not None and _answers(port):
            # One connection is accepted after a stop begins; more mean the
            # stop has not begun.
            if serving_since is None:
                serving_since = now
            elif now - serving_since >= 0.5:
                logger.debug("the server ignored SIGTERM; sending it again")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                serving_since = None
        time.sleep(0.05)
