"""The local spool: events kept on disk while the database cannot take them.

A spool is a directory of JSON-lines files (one event per line, written with
:mod:`mongo_ai_logs.jsonl`, so no value is lost). A process appends to a
segment file of its own and holds an exclusive lock on it while it is open;
the segment is closed when it grows past a size, when the writer replays, and
when the process ends. Any process may replay a closed segment: it takes the
segment's lock, writes its events, and removes the file. The lock is released
by the operating system when a process dies, so the segments of a killed
process are replayed by the next one.

Events carry their ``_id`` from the moment they were recorded, so writing a
segment twice (a replay cut short, two processes racing) stores each event
once.

Locks use ``fcntl.flock``: the spool works on Linux, macOS and the BSDs. On
other systems :class:`Spool` refuses to start and the writer falls back to
waiting for room in its queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mongo_ai_logs import jsonl
from mongo_ai_logs.errors import ConfigurationError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["ReplayReport", "Spool"]

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 16 * 1024 * 1024
"""A segment is closed, and a new one opened, past this size."""

_SUFFIX = ".jsonl"
_PROGRESS_SUFFIX = ".replayed"


@dataclass
class ReplayReport:
    """What a replay did.

    Attributes:
        segments: Segment files fully written and removed.
        events: Events read back and handed to the writer.
        unreadable: Lines that could not be read back (a line cut short when
            a process died in the middle of writing it).
    """

    segments: int = 0
    events: int = 0
    unreadable: int = 0


class Spool:
    """A directory of spooled events for one destination.

    Args:
        directory: Where the segment files live; made (mode 0700) if missing.

    Raises:
        ConfigurationError: The directory cannot be made or written, or file
            locks are not available on this system.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        if fcntl is None:  # pragma: no cover - not on POSIX
            raise ConfigurationError(
                "the spool needs fcntl file locks, which this system lacks; "
                "set AI_LOGS_OVERFLOW=block or drop"
            )
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot make the spool directory {str(self.directory)!r}: {exc}"
            ) from exc
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise ConfigurationError(
                f"the spool directory {str(self.directory)!r} is not writable"
            )
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._size = 0

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r})"

    # -- writing -----------------------------------------------------------

    def append(self, events: list[dict[str, Any]]) -> None:
        """Write events to this process's segment and fsync it.

        Raises:
            OSError: The disk refused the write.
        """
        if not events:
            return
        data = "".join(jsonl.dumps(event) + "\n" for event in events).encode(
            "utf-8", "surrogatepass"
        )
        with self._lock:
            file = self._open_segment()
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
            self._size += len(data)
            if self._size >= SEGMENT_BYTES:
                self._close_segment()

    def _open_segment(self) -> IO[bytes]:
        if self._file is not None:
            return self._file
        name = f"spool-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        path = self.directory / (name + _SUFFIX)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        assert fcntl is not None
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._file = os.fdopen(fd, "ab")
        self._path = path
        self._size = 0
        logger.debug("spooling to %s", path)
        return self._file

    def _close_segment(self) -> None:
        if self._file is not None:
            self._file.close()  # releases the lock
        self._file = None
        self._path = None
        self._size = 0

    def rotate(self) -> None:
        """Close this process's segment so that it can be replayed."""
        with self._lock:
            self._close_segment()

    def close(self) -> None:
        """Close the open segment; the spool can still be appended to later."""
        self.rotate()

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's segment without touching it."""
        self._lock = threading.Lock()
        if self._file is not None:
            # Closing the child's copy leaves the parent's lock in place.
            with contextlib.suppress(OSError):
                self._file.close()
        self._file = None
        self._path = None
        self._size = 0

    # -- reading -----------------------------------------------------------

    def segments(self) -> list[Path]:
        """The segment files in the directory, oldest first."""
        try:
            return sorted(self.directory.glob("spool-*" + _SUFFIX))
        except OSError:
            return []

    def pending(self) -> bool:
        """Whether any segment, open or closed, is in the directory."""
        return bool(self.segments())

    def replay(
        self,
        write: Callable[[list[dict[str, Any]]], None],
        *,
        batch_size: int = 500,
        on_unreadable: Callable[[Path, int, str], None] | None = None,
    ) -> ReplayReport:
        """Hand every closed segment's events to ``write``, then remove it.

        Segments open in a live process (this one's included) are skipped. A
        segment is removed only after ``write`` returned for all its events;
        when ``write`` raises, the segment stays for a later replay and the
        exception propagates.

        Args:
            write: Stores a batch of events; raises if the database failed.
            batch_size: Events per call of ``write``.
            on_unreadable: Called with the file, the line number and the
                reason for each line that cannot be read back.
        """
        report = ReplayReport()
        for path in self.segments():
            with self._claim(path) as file:
                if file is None:
                    continue
                # A replay cut short (the process ended) left the offset it
                # reached: the next one goes on from there instead of sending
                # the written part again.
                progress = path.with_suffix(_PROGRESS_SUFFIX)
                start = _read_progress(progress)
                file.seek(start.offset)
                for batch, reached in _read_batches(
                    path, file, batch_size, report, on_unreadable, start
                ):
                    write(batch)
                    report.events += len(batch)
                    _write_progress(progress, reached)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                with contextlib.suppress(FileNotFoundError):
                    progress.unlink()
                report.segments += 1
                logger.debug("replayed and removed %s", path)
        return report

    @contextlib.contextmanager
    def _claim(self, path: Path) -> Iterator[IO[bytes] | None]:
        """Open and lock a closed segment, or yield ``None`` if it is taken."""
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            yield None
            return
        try:
            assert fcntl is not None
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            if os.fstat(file.fileno()).st_nlink == 0:
                yield None  # replayed and removed by another process meanwhile
                return
            yield file
        finally:
            file.close()


@dataclass(frozen=True)
class _Progress:
    """How far a segment was replayed: a byte offset and the lines before it."""

    offset: int = 0
    lines: int = 0


def _read_progress(path: Path) -> _Progress:
    try:
        offset, lines = path.read_text("ascii").split()
        return _Progress(int(offset), int(lines))
    except (OSError, ValueError):
        return _Progress()  # none yet, or unreadable: replay from the start


def _write_progress(path: Path, progress: _Progress) -> None:
    # Not fsync'd: if it is lost, events are sent again, and stored once.
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(f"{progress.offset} {progress.lines}\n", "ascii")
        temporary.replace(path)
    except OSError as exc:
        logger.warning("cannot record replay progress in %s: %s", path, exc)


def _read_batches(
    path: Path,
    file: IO[bytes],
    batch_size: int,
    report: ReplayReport,
    on_unreadable: Callable[[Path, int, str], None] | None,
    start: _Progress,
) -> Iterator[tuple[list[dict[str, Any]], _Progress]]:
    """Batches of the events from ``start`` on, each with where it ends."""
    batch: list[dict[str, Any]] = []
    offset = start.offset
    number = start.lines
    for raw in file:
        offset += len(raw)
        number += 1
        if not raw.strip():
            continue
        try:
            event = jsonl.loads(raw.decode("utf-8", "surrogatepass"))
        except (ValueError, UnicodeDecodeError) as exc:
            report.unreadable += 1
            reason = f"not a spooled event ({exc.__class__.__name__})"
            logger.warning("%s line %d: %s; skipped", path, number, reason)
            if on_unreadable is not None:
                on_unreadable(path, number, reason)
            continue
        batch.append(event)
        if len(batch) >= batch_size:
            yield batch, _Progress(offset, number)
            batch = []
    if batch:
        yield batch, _Progress(offset, number)
