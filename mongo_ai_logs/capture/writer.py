"""The buffered writer: events queued by the caller, written by a thread.

The calling thread only appends an event to an in-memory queue. A background
thread takes events off the queue in batches (by count, or every flush
interval), applies the redactors, and writes them unordered with
:meth:`AgentLogRepository.insert_many`. The way an event takes::

    caller ──► queue ──► writer thread ──► insert_many ──► MongoDB
                │              │ database failed after retries
                │              ▼
                │           spool file ──► replayed when the database answers
                │ queue full (events or bytes)
                ▼
             spooler thread ──► spool file

Every event leaves the pipeline exactly once, in one of four ways, each
counted: ``written`` (stored, now or by an earlier attempt), ``spooled`` (on
disk, to be replayed; replayed events are counted again in ``replayed``),
``refused`` (the event cannot be stored as given: reported to the log and to
the ``on_refused`` callback, the rest go on) or ``dropped`` (only by a policy
the caller chose: ``overflow="drop"``, a redactor that returned ``None``; or
when the spool itself failed, which is logged as an error).

Every event has its ``_id`` before the first attempt, so retries, a replay
after a crash, or two processes replaying the same file store it once.
"""

from __future__ import annotations

import atexit
import functools
import logging
import multiprocessing.util
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pymongo
from bson.objectid import ObjectId

from mongo_ai_logs.agent_log_repository import InsertReport
from mongo_ai_logs.capture.redaction import Redactor
from mongo_ai_logs.capture.settings import CaptureSettings, Overflow
from mongo_ai_logs.capture.spool import ReplayReport, Spool
from mongo_ai_logs.errors import ConfigurationError, StoreError

__all__ = ["BufferedWriter", "EventStore", "Refusal", "WriterStats"]

logger = logging.getLogger(__name__)

Event = dict[str, Any]

_writers: weakref.WeakSet[BufferedWriter] = weakref.WeakSet()

# Failures of the database or of the connection to it: the batch is retried,
# then spooled. Anything else a batch raises is looked for event by event.
_STORE_FAILURES = (StoreError, ConfigurationError)


class PendingEvent(Protocol):
    """An event completed on the writer's thread (see the capture logger)."""

    @property
    def event_id(self) -> ObjectId:
        """The event's ``_id``, made when it was recorded."""
        ...

    def build(self) -> Event:
        """The event document."""
        ...


Item = Event | PendingEvent
_Queued = tuple[Item, int]


class EventStore(Protocol):
    """What the writer needs of a repository: its ``insert_many``."""

    def insert_many(self, events: Iterable[Mapping[str, Any]]) -> InsertReport:
        """Store events unordered; see :meth:`AgentLogRepository.insert_many`."""
        ...


@dataclass(frozen=True)
class Refusal:
    """An event that was not stored because it cannot be, as given.

    Attributes:
        event_id: The event's ``_id``; for a spool line that cannot be read
            back, the file name and line number.
        event_type: Its ``type``, when it has one.
        reason: Why it was refused (never the event's content).
        field: The dotted path of the offending field, when known.
    """

    event_id: str
    event_type: str | None
    reason: str
    field: str | None = None


@dataclass(frozen=True)
class WriterStats:
    """The writer's counters since it started.

    Attributes:
        queued: Events waiting in memory now.
        written: Events stored in the database, replayed ones included.
        retried: Event writes attempted again after a failure.
        spooled: Events written to the spool file.
        replayed: Events read back from the spool and stored.
        refused: Events that cannot be stored as given.
        dropped: Events dropped by the caller's policy, or lost because the
            spool failed too.
    """

    queued: int
    written: int
    retried: int
    spooled: int
    replayed: int
    refused: int
    dropped: int


class BufferedWriter:
    """Writes events in batches on a background thread; see the module docstring.

    Args:
        repository: Where events go.
        settings: Batch size, bounds, timeouts; defaults to
            :class:`CaptureSettings` defaults.
        spool: Where events go when the database cannot take them. ``None``
            disables spooling: a full queue then makes the caller wait
            (``overflow="spool"`` acts as ``"block"``), and a failed batch is
            retried until the writer closes.
        redactors: Applied in order to every event before it is written or
            spooled. Each returns the event (changed or not) or ``None`` to
            drop it.
        on_refused: Called, on the writer's thread, with a :class:`Refusal`
            for each event that cannot be stored.
        repository_factory: Makes a new repository in a forked child, whose
            parent's connections must not be used. Without it the child uses
            ``repository`` as it is.
        replay_at_start: Replay the spool's closed segments (left by earlier
            processes) when the thread starts. Defaults to ``True``.
    """

    def __init__(
        self,
        repository: EventStore,
        settings: CaptureSettings | None = None,
        *,
        spool: Spool | None = None,
        redactors: Sequence[Redactor] = (),
        on_refused: Callable[[Refusal], None] | None = None,
        repository_factory: Callable[[], EventStore] | None = None,
        replay_at_start: bool = True,
    ) -> None:
        self.settings = CaptureSettings() if settings is None else settings
        self.repository = repository
        self.spool = spool
        self._redactors = list(redactors)
        self._on_refused = on_refused
        self._repository_factory = repository_factory
        self._replay_at_start = replay_at_start

        s = self.settings
        self._batch_size = s.batch_size
        self._interval = s.flush_interval_ms / 1000
        self._max_events = s.max_queue_events
        self._max_bytes = s.max_queue_bytes
        self._overflow: Overflow = s.overflow
        if spool is None and self._overflow == "spool":
            self._overflow = "block"
        self._write_timeout = s.write_timeout_ms / 1000
        self._probe_interval = s.probe_interval_ms / 1000
        self._exit_timeout = s.exit_timeout_ms / 1000

        self._reset_state()
        _writers.add(self)
        atexit.register(self._at_exit)
        # A multiprocessing child ends with os._exit, which skips atexit; it
        # runs its finalizers, which it clears when it starts, so the writer's
        # is added then.
        multiprocessing.util.register_after_fork(
            self, BufferedWriter._finalize_in_child
        )
        if replay_at_start and spool is not None and spool.segments():
            # Events left by an earlier process go now, not at the first event.
            with self._lock:
                self._start()

    def _reset_state(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._spooler_wake = threading.Condition(self._lock)
        self._queue: deque[_Queued] = deque()
        self._queue_bytes = 0
        self._overflow_queue: deque[_Queued] = deque()
        # Per path, events accepted and events done; each path is FIFO, so a
        # flush waits until "done" reaches what "accepted" was when it began.
        self._accepted = 0
        self._finished = 0
        self._overflow_accepted = 0
        self._overflow_finished = 0
        # Batches are written by several threads and may end out of order:
        # "finished" advances over the batches done without a gap.
        self._taken = 0
        self._completed: dict[int, int] = {}
        self._in_flight: dict[int, list[Event]] = {}
        self._replaying = threading.Lock()
        self._flush_requests = 0
        self._stopping = False
        self._stop_by = 0.0
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._spooler: threading.Thread | None = None
        self._degraded = False
        self._next_probe = 0.0
        self._spooled_since_replay = False
        self._counts = {
            "written": 0,
            "retried": 0,
            "spooled": 0,
            "replayed": 0,
            "refused": 0,
            "dropped": 0,
        }

    def __repr__(self) -> str:
        return f"BufferedWriter({self.repository!r}, spool={self.spool!r})"

    # -- the calling thread ------------------------------------------------

    def submit(self, event: Item, size: int = 0) -> None:
        """Queue one event; returns at once unless ``overflow="block"`` waits.

        Args:
            event: The event with its ``_id``, or an event to complete on the
                writer's thread. The writer owns it from now on.
            size: Its approximate payload size in bytes, for the memory bound.
        """
        with self._lock:
            if not self._threads and not self._closed:
                self._start()
            if self._closed:
                self._after_close([(event, size)])
                return
            queue = self._queue
            if len(queue) < self._max_events and (
                self._queue_bytes + size <= self._max_bytes or not queue
            ):
                queue.append((event, size))
                self._queue_bytes += size
                self._accepted += 1
                if len(queue) == self._batch_size:
                    self._wake.notify()
                return
            self._overflowed(event, size)

    def _overflowed(self, event: Item, size: int) -> None:
        """Handle an event past the bound; called with the lock held."""
        if self._overflow == "spool":
            if len(self._overflow_queue) >= self._batch_size:
                # The disk is slower than the caller: wait for the spooler.
                self._room.wait_for(
                    lambda: len(self._overflow_queue) < self._batch_size or self._closed
                )
            self._overflow_queue.append((event, size))
            self._overflow_accepted += 1
            if self._spooler is None:
                self._spooler = _thread(self._spool_loop, "mongo-ai-logs-spooler")
            self._spooler_wake.notify()
        elif self._overflow == "block":
            self._room.wait_for(
                lambda: (
                    self._closed
                    or not self._queue
                    or (
                        len(self._queue) < self._max_events
                        and self._queue_bytes + size <= self._max_bytes
                    )
                )
            )
            if self._closed:
                self._after_close([(event, size)])
                return
            self._queue.append((event, size))
            self._queue_bytes += size
            self._accepted += 1
            self._wake.notify()
        else:
            self._counts["dropped"] += 1

    def _start(self) -> None:
        self._threads = [
            _thread(
                functools.partial(self._run, replay_at_start=n == 0),
                f"mongo-ai-logs-writer-{n}",
            )
            for n in range(self.settings.writer_threads)
        ]

    # -- public control ----------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued so far is written, spooled or refused.

        Args:
            timeout: Seconds to wait at most; ``None`` waits as long as it
                takes.

        Returns:
            Whether everything was handled within the timeout.
        """
        with self._lock:
            if not self._threads:
                return not self._queue and not self._overflow_queue
            target = self._accepted
            overflow_target = self._overflow_accepted
            self._flush_requests += 1
            self._wake.notify()
            try:
                return self._done.wait_for(
                    lambda: (
                        self._finished >= target
                        and self._overflow_finished >= overflow_target
                    ),
                    timeout,
                )
            finally:
                self._flush_requests -= 1

    def close(self, timeout: float | None = None) -> bool:
        """Write or spool every queued event, then stop the threads.

        Events still queued when ``timeout`` (default: the exit timeout)
        runs out, and a batch still being written, are spooled; a batch both
        written and spooled is stored once, as its ids are fixed. Events
        recorded after ``close`` go straight to the spool. Idempotent.

        Returns:
            Whether every event was written or spooled.
        """
        timeout = self._exit_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return True
            self._stopping = True
            self._stop_by = deadline
            self._wake.notify_all()
            self._spooler_wake.notify_all()
            threads = [*self._threads]
            if self._spooler is not None:
                threads.append(self._spooler)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._closed = True
            self._room.notify_all()
            queued = len(self._queue)
            left = [*self._queue, *self._overflow_queue]
            self._queue.clear()
            self._overflow_queue.clear()
            self._queue_bytes = 0
            in_flight = [e for batch in self._in_flight.values() for e in batch]
        complete = not in_flight
        if in_flight and self.spool is not None:
            logger.warning(
                "closing while %d events are being written; spooling them too",
                len(in_flight),
            )
            complete = self._spool_events(in_flight, count=False)
        if left:
            events = self._complete([event for event, _ in left])
            complete = self._spool_or_drop(events) and complete
            with self._lock:
                self._complete_range(self._taken, self._taken + queued)
                self._taken += queued
                self._overflow_finished += len(left) - queued
        if (
            complete
            and not left
            and self.spool is not None
            and self._spooled_since_replay
            and not self._degraded
            and time.monotonic() < deadline
        ):
            # Events spooled while the database was up (the queue was full)
            # are written now rather than left for the next process, which
            # may never come on a disk that does not last.
            try:
                self._try_replay()
            except Exception:
                logger.exception("replaying the spool at close failed")
        if self.spool is not None:
            self.spool.close()
        atexit.unregister(self._at_exit)
        stats = self.stats()
        logger.info(
            "capture writer closed: %d written, %d spooled, %d refused, %d dropped",
            stats.written,
            stats.spooled,
            stats.refused,
            stats.dropped,
        )
        return complete

    def stats(self) -> WriterStats:
        """The counters; see :class:`WriterStats`."""
        with self._lock:
            return WriterStats(
                queued=len(self._queue) + len(self._overflow_queue),
                **self._counts,
            )

    def replay(self) -> ReplayReport:
        """Replay the spool's closed segments now, on the calling thread.

        Raises:
            StoreError: The database failed; the segments stay for later.
        """
        if self.spool is None:
            return ReplayReport()
        return self.spool.replay(
            self._write_replayed,
            batch_size=self._batch_size,
            on_unreadable=self._unreadable,
        )

    # -- the writer thread -------------------------------------------------

    def _run(self, *, replay_at_start: bool) -> None:
        me = threading.get_ident()
        if replay_at_start and self._replay_at_start and self.spool is not None:
            try:
                self._try_replay(at_start=True)
            except Exception:
                logger.exception("replaying the spool failed")
        while True:
            with self._lock:
                deadline = time.monotonic() + self._interval
                while (
                    not self._stopping
                    and not (self._flush_requests and self._queue)
                    and len(self._queue) < self._batch_size
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                batch = self._take(self._queue, self._batch_size)
                start = self._taken
                self._taken += len(batch)
                stopping = self._stopping
            if batch:
                try:
                    self._process(batch)
                except Exception:
                    # The thread must go on: the events are reported lost.
                    self._drop_lost(batch, "an error inside the writer")
                    logger.exception("the capture writer failed on a batch")
                with self._lock:
                    self._in_flight.pop(me, None)
                    self._complete_range(start, start + len(batch))
            elif stopping:
                return
            if self.spool is None or stopping:
                continue
            try:
                if self._degraded:
                    if time.monotonic() >= self._next_probe:
                        self._try_replay()
                elif self._spooled_since_replay and len(batch) < self._batch_size:
                    # Events spooled because the queue was full: a batch that
                    # is not full says the writer keeps up again, so they can
                    # go now (waiting for an empty queue could wait forever
                    # under steady traffic).
                    self._try_replay()
            except Exception:
                logger.exception("replaying the spool failed")

    def _complete_range(self, start: int, end: int) -> None:
        """Mark queued events start..end done; called with the lock held."""
        self._completed[start] = end
        while self._finished in self._completed:
            self._finished = self._completed.pop(self._finished)
        self._done.notify_all()

    def _take(self, queue: deque[_Queued], limit: int) -> list[Item]:
        """Take up to ``limit`` events off ``queue``; called with the lock held."""
        count = min(limit, len(queue))
        if not count:
            return []
        batch: list[Item] = []
        freed = 0
        for _ in range(count):
            event, size = queue.popleft()
            batch.append(event)
            freed += size
        if queue is self._queue:
            self._queue_bytes -= freed
        self._room.notify_all()
        return batch

    def _process(self, batch: list[Item]) -> None:
        events = self._complete(batch)
        if not events:
            return
        with self._lock:
            self._in_flight[threading.get_ident()] = events
        if self._degraded:
            self._spool_or_drop(events)
            return
        self._write(events)

    def _complete(self, batch: Iterable[Item]) -> list[Event]:
        """Build the pending events of a batch and apply the redactors."""
        out: list[Event] = []
        for item in batch:
            if isinstance(item, dict):
                event = item
            else:
                try:
                    event = item.build()
                except Exception as exc:
                    logger.exception("completing event %s failed", item.event_id)
                    self._refuse(
                        {"_id": item.event_id}, f"cannot be built: {exc!r}", None
                    )
                    continue
            if not self._redactors:
                out.append(event)
                continue
            result: Event | None = event
            try:
                for redactor in self._redactors:
                    assert result is not None
                    result = redactor(result)
                    if result is None:
                        break
            except Exception as exc:
                # The event may hold the secret the hook failed on: it is
                # neither written nor spooled.
                self._refuse(event, f"the redaction hook raised {exc!r}", None)
                continue
            if result is None:
                with self._lock:
                    self._counts["dropped"] += 1
                continue
            if result.get("_id") is None:
                result["_id"] = event.get("_id")
            out.append(result)
        return out

    def _write(self, events: list[Event]) -> None:
        attempt = 0
        while True:
            try:
                report = self._insert(events, self._write_timeout)
            except _STORE_FAILURES as exc:
                # Closing: retries go on only until the close deadline.
                out_of_time = self._stopping and time.monotonic() >= self._stop_by
                if attempt < self.settings.write_retries and not out_of_time:
                    attempt += 1
                    with self._lock:
                        self._counts["retried"] += len(events)
                    logger.warning(
                        "writing %d events failed (%s); retry %d of %d",
                        len(events),
                        _short(exc),
                        attempt,
                        self.settings.write_retries,
                    )
                    time.sleep(min(0.1 * 2**attempt, self._probe_interval))
                    continue
                if self.spool is None:
                    if out_of_time:
                        self._drop_lost(events, exc)
                        return
                    attempt = 0
                    time.sleep(self._probe_interval)
                    continue
                logger.warning(
                    "the database cannot take events (%s); spooling to %s until "
                    "it answers again",
                    _short(exc),
                    self.spool.directory,
                )
                self._degraded = True
                self._next_probe = time.monotonic() + self._probe_interval
                self._spool_or_drop(events)
                return
            except Exception as exc:
                # Not the database failing: something in one event that the
                # library did not catch. Find it by writing one at a time.
                logger.warning("a batch of %d events failed (%r)", len(events), exc)
                self._write_one_by_one(events)
                return
            self._account(report, events)
            return

    def _insert(self, events: list[Event], timeout: float) -> InsertReport:
        with pymongo.timeout(timeout):
            return self.repository.insert_many(events)

    def _write_one_by_one(self, events: list[Event]) -> None:
        for index, event in enumerate(events):
            try:
                report = self._insert([event], self._write_timeout)
            except _STORE_FAILURES:
                self._write(events[index:])
                return
            except Exception as exc:
                self._refuse(event, f"cannot be written: {exc!r}", None)
                continue
            self._account(report, [event])

    def _account(
        self, report: InsertReport, events: list[Event], *, replayed: bool = False
    ) -> None:
        stored = len(report.inserted_ids) + len(report.duplicate_ids)
        with self._lock:
            self._counts["written"] += stored
            if replayed:
                self._counts["replayed"] += stored
        for refused in report.refused:
            self._refuse(events[refused.index], refused.reason, refused.field)

    def _refuse(self, event: Event, reason: str, field: str | None) -> None:
        refusal = Refusal(
            event_id=str(event.get("_id")),
            event_type=kind if isinstance(kind := event.get("type"), str) else None,
            reason=reason,
            field=field,
        )
        with self._lock:
            self._counts["refused"] += 1
        logger.warning(
            "event %s (%s) refused: %s",
            refusal.event_id,
            refusal.event_type,
            refusal.reason,
        )
        if self._on_refused is not None:
            try:
                self._on_refused(refusal)
            except Exception:
                logger.exception("the on_refused callback raised")

    def _drop_lost(self, events: Sequence[Item], exc: BaseException | str) -> None:
        with self._lock:
            self._counts["dropped"] += len(events)
        logger.error("%d events were lost: %s", len(events), exc)

    # -- spooling ----------------------------------------------------------

    def _spool_or_drop(self, events: list[Event]) -> bool:
        if self.spool is None:
            self._drop_lost(events, "the database failed and no spool is set")
            return False
        return self._spool_events(events)

    def _spool_events(self, events: list[Event], *, count: bool = True) -> bool:
        assert self.spool is not None
        try:
            self.spool.append(events)
        except OSError as exc:
            self._drop_lost(events, f"the spool {self.spool.directory} failed: {exc}")
            return False
        self._spooled_since_replay = True
        if count:
            with self._lock:
                self._counts["spooled"] += len(events)
        return True

    def _spool_loop(self) -> None:
        while True:
            with self._lock:
                self._spooler_wake.wait_for(
                    lambda: bool(self._overflow_queue) or self._stopping
                )
                batch = self._take(self._overflow_queue, self._batch_size)
                if not batch and self._stopping:
                    return
            events = self._complete(batch)
            if events:
                self._spool_or_drop(events)
            with self._lock:
                self._overflow_finished += len(batch)
                self._done.notify_all()

    def _try_replay(self, *, at_start: bool = False) -> None:
        if not self._replaying.acquire(blocking=False):
            return  # another writer thread is at it
        try:
            self._replay_now(at_start=at_start)
        finally:
            self._replaying.release()

    def _replay_now(self, *, at_start: bool) -> None:
        assert self.spool is not None
        self._next_probe = time.monotonic() + self._probe_interval
        self._spooled_since_replay = False
        self.spool.rotate()
        try:
            report = self.spool.replay(
                self._write_replayed,
                batch_size=self._batch_size,
                on_unreadable=self._unreadable,
            )
        except _STORE_FAILURES as exc:
            self._spooled_since_replay = True
            if not self._degraded:
                logger.warning(
                    "the database cannot take spooled events (%s); trying again "
                    "every %.1f s",
                    _short(exc),
                    self._probe_interval,
                )
            self._degraded = True
            return
        if self._degraded:
            logger.info("the database answers again")
        self._degraded = False
        if report.events:
            logger.info(
                "replayed %d spooled events from %d files%s",
                report.events,
                report.segments,
                " left by an earlier process" if at_start else "",
            )

    def _write_replayed(self, events: list[Event]) -> None:
        timeout = self._write_timeout if not self._degraded else self._probe_timeout
        report = self._insert(events, timeout)
        self._account(report, events, replayed=True)

    @property
    def _probe_timeout(self) -> float:
        return min(self._write_timeout, max(self._probe_interval, 1.0))

    def _unreadable(self, path: Path, line: int, reason: str) -> None:
        with self._lock:
            self._counts["refused"] += 1
        if self._on_refused is not None:
            try:
                self._on_refused(
                    Refusal(f"{path.name}:{line}", None, reason, field=None)
                )
            except Exception:
                logger.exception("the on_refused callback raised")

    # -- exit and fork -----------------------------------------------------

    def _at_exit(self) -> None:
        try:
            self.close(self._exit_timeout)
        except Exception:
            logger.exception("closing the capture writer at exit failed")

    def _after_close(self, items: list[_Queued]) -> None:
        """Spool events recorded after close; called with the lock held."""
        self._lock.release()
        try:
            events = self._complete([item for item, _ in items])
            if events:
                self._spool_or_drop(events)
                if self.spool is not None:
                    self.spool.rotate()  # no writer thread will close it
        finally:
            self._lock.acquire()

    def _after_fork_in_child(self) -> None:
        was_closed = self._closed
        self._reset_state()
        self._closed = was_closed
        if self._repository_factory is not None:
            self.repository = self._repository_factory()
        if self.spool is not None:
            self.spool.forget_after_fork()

    def _finalize_in_child(self) -> None:
        if not self._closed:
            multiprocessing.util.Finalize(self, self._at_exit, exitpriority=10)


def _short(exc: BaseException) -> str:
    """The first part of a driver error, without its topology description."""
    text = str(exc)
    for cut in (", Timeout:", " (configured timeouts"):
        text = text.split(cut, 1)[0]
    return text


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _forget_writers_after_fork() -> None:
    for writer in list(_writers):
        writer._after_fork_in_child()


os.register_at_fork(after_in_child=_forget_writers_after_fork)
