"""``AgentLogger``: runs, LLM calls, tool calls and steps, recorded as they happen.

Blocks nest the way the code does: a block opened inside another is its child
(``parent_id``), and every event of a run carries the run's ``run_id``, user,
session and agent. The current block is kept in a context variable, so each
thread and each asyncio task has its own; a new thread starts outside any
block (open its blocks from a span, ``run.step(...)``, to nest them).

Recording never raises into the agent's code: an error inside the library is
logged and the event skipped. An exception of the agent's own code inside a
block is recorded on the block's event and propagates unchanged.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import inspect
import itertools
import logging
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

from bson.objectid import ObjectId

from mongo_ai_logs.agent_log_repository import AgentLogRepository, InsertReport
from mongo_ai_logs.capture._snapshot import freeze, thaw
from mongo_ai_logs.capture.redaction import Redactor, redact_owned_event
from mongo_ai_logs.capture.settings import CaptureSettings, spool_directory
from mongo_ai_logs.capture.spool import ReplayReport, Spool
from mongo_ai_logs.capture.writer import (
    BufferedWriter,
    EventStore,
    Refusal,
    WriterStats,
)
from mongo_ai_logs.client import MongoConnection, journaled
from mongo_ai_logs.config import Settings
from mongo_ai_logs.providers import describe_response

__all__ = ["AgentLogger", "Block", "LLMCall", "Run", "Span", "ToolCall"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound="Span")
F = TypeVar("F", bound=Callable[..., Any])

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)

_clock = time.perf_counter
"""The monotonic clock durations are measured with."""


class AgentLogger:
    """Records agent runs and the events inside them, written in the background.

    Make one per process and destination, with :meth:`from_settings`, and
    close it at the end (it also closes itself at interpreter exit)::

        log = AgentLogger.from_settings(agent="travel-assistant")
        with log.run(user_id="u-42", session_id="s-1") as run:
            run.message("user", "Weather in Lisbon tomorrow?")
            with log.llm_call(model="gpt-4o-mini", input=messages) as call:
                call.record(client.chat.completions.create(...))

    Args:
        repository: Where events are stored: an :class:`AgentLogRepository`,
            or any object with its ``insert_many``.
        settings: The writer's settings; defaults to
            :meth:`CaptureSettings.load`.
        spool: A :class:`Spool`, or the directory of one, for events the
            database cannot take; ``None`` (the default here) keeps them in
            memory and makes the caller wait when the queue is full.
        redact: A hook applied to every event before it leaves the process,
            after the built-in redactor when that is on. It takes the event
            dict and returns it (changed or not), or ``None`` to skip the event.
            It runs on the writer's thread.
        on_refused: Called with a :class:`Refusal` for each event the
            repository refuses (its position in a batch and the reason).
        agent: Default agent name of runs.
        agent_version: Default agent version of runs.
        repository_factory: Makes the repository again in a forked child;
            set by :meth:`from_settings`.
    """

    def __init__(
        self,
        repository: EventStore,
        *,
        settings: CaptureSettings | None = None,
        spool: Spool | str | os.PathLike[str] | None = None,
        redact: Redactor | None = None,
        on_refused: Callable[[Refusal], None] | None = None,
        agent: str | None = None,
        agent_version: str | None = None,
        repository_factory: Callable[[], EventStore] | None = None,
    ) -> None:
        self.settings = CaptureSettings.load() if settings is None else settings
        if spool is not None and not isinstance(spool, Spool):
            spool = Spool(spool)
        redactors: list[Redactor] = []
        if self.settings.redact:
            redactors.append(redact_owned_event)
        if redact is not None:
            redactors.append(redact)
        self.writer = BufferedWriter(
            repository,
            self.settings,
            spool=spool,
            redactors=redactors,
            on_refused=on_refused,
            repository_factory=repository_factory,
        )
        self.agent = agent
        self.agent_version = agent_version
        self._current: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
            f"mongo_ai_logs_span_{id(self):x}", default=None
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        capture: CaptureSettings | None = None,
        *,
        project_id: str | None = None,
        redact: Redactor | None = None,
        on_refused: Callable[[Refusal], None] | None = None,
        agent: str | None = None,
        agent_version: str | None = None,
    ) -> AgentLogger:
        """Make a logger for the database and writer the settings name.

        The spool lives in a directory of this destination's own under
        ``capture.spool_dir`` (see :mod:`mongo_ai_logs.capture.settings`).
        With the embedded in-memory backend there is no spool unless
        ``AI_LOGS_SPOOL_DIR`` is set.

        Args:
            settings: Where to connect; defaults to :meth:`Settings.load`.
            capture: The writer's settings; defaults to
                :meth:`CaptureSettings.load`.
            project_id: The project the events belong to.
            redact: See the class docstring.
            on_refused: See the class docstring.
            agent: Default agent name of runs.
            agent_version: Default agent version of runs.

        Raises:
            ConfigurationError: A setting cannot work.
        """
        settings = Settings.load() if settings is None else settings
        capture = CaptureSettings.load() if capture is None else capture

        def make_repository() -> AgentLogRepository:
            connection = MongoConnection(settings)
            # An event counts as written only once it survives a server crash.
            return AgentLogRepository(
                journaled(connection.collection),
                project_id=project_id,
                large_values=settings.large_values,
                max_inline_bytes=settings.max_inline_bytes,
                retention_days=settings.retention_days,
            )

        spool: Spool | None = None
        if capture.overflow == "spool" and not (
            settings.embedded and capture.spool_dir is None
        ):
            spool = Spool(spool_directory(capture.spool_dir, settings, project_id))
        return cls(
            _LazyRepository(make_repository),
            settings=capture,
            spool=spool,
            redact=redact,
            on_refused=on_refused,
            agent=agent,
            agent_version=agent_version,
            repository_factory=lambda: _LazyRepository(make_repository),
        )

    def __repr__(self) -> str:
        return f"AgentLogger({self.writer.repository!r})"

    # -- blocks ------------------------------------------------------------

    def run(
        self,
        name: str | None = None,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        agent: str | None = None,
        agent_version: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        input: Any = None,
        **fields: Any,
    ) -> Block[Run]:
        """Open a run: a context manager, or a decorator of sync and async functions.

        A run inside another run is a run of its own (its own ``run_id``)
        whose parent is the block it was opened in.

        Args:
            name: The agent's name for this run; defaults to ``agent``.
            user_id: Who the run is for; inherited from an enclosing run.
            session_id: The conversation; inherited from an enclosing run.
            agent: Agent name; defaults to the logger's.
            agent_version: Agent version; defaults to the logger's.
            tags: Labels of the run event.
            metadata: A free map on the run event.
            input: What the run was asked.
            **fields: Other event fields, stored as given.
        """
        return Block(
            self,
            None,
            Run,
            _fields(input=input, tags=tags, metadata=metadata, **fields),
            run_options={
                "user_id": user_id,
                "session_id": session_id,
                "agent": agent or name,
                "agent_version": agent_version,
            },
        )

    def llm_call(
        self,
        model: str | None = None,
        *,
        provider: str | None = None,
        input: Any = None,
        parameters: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Block[LLMCall]:
        """Open an LLM call; hand the provider's response to :meth:`LLMCall.record`.

        As a decorator, the function's return value is recorded: a provider
        response is read, anything else stored as the output.

        Args:
            model: The model asked for; the response's model wins when known.
            provider: ``openai``, ``anthropic``, ...; read from the response
                when not given.
            input: The messages or prompt sent.
            parameters: Request parameters (temperature, max_tokens, ...).
            **fields: Other event fields (``metadata``, ``tags``, ...).
        """
        model_info = _fields(provider=provider, name=model, parameters=parameters)
        return Block(
            self,
            None,
            LLMCall,
            _fields(model=model_info or None, input=input, **fields),
        )

    def tool_call(
        self,
        name: str,
        *,
        arguments: Any = None,
        call_id: str | None = None,
        **fields: Any,
    ) -> Block[ToolCall]:
        """Open a tool call; set :attr:`ToolCall.result` inside it.

        As a decorator, the function's arguments and return value are
        recorded as the tool's arguments and result.

        Args:
            name: The tool's name.
            arguments: The arguments it was called with.
            call_id: The provider's id of the call (``call_…``, ``toolu_…``).
            **fields: Other event fields.
        """
        tool = _fields(name=name, call_id=call_id, arguments=arguments)
        return Block(self, None, ToolCall, {"tool": tool, **fields})

    def step(self, name: str, *, input: Any = None, **fields: Any) -> Block[Span]:
        """Open an agent step (planning, retrieval, a loop turn, ...).

        Args:
            name: What the step is.
            input: What it starts from.
            **fields: Other event fields.
        """
        return Block(
            self,
            None,
            Span,
            _fields(name=name, input=input, **fields),
            event_type="agent_step",
        )

    # -- single events -----------------------------------------------------

    def message(self, role: str, content: Any, **fields: Any) -> str:
        """Record a chat message under the current block; return its id."""
        return self._emit(
            self._current.get(),
            "message",
            _fields(role=role, content=content, **fields),
        )

    def evaluation(
        self,
        name: str,
        *,
        score: float | None = None,
        label: str | None = None,
        comment: str | None = None,
        target: Span | str | None = None,
        **fields: Any,
    ) -> str:
        """Record an evaluation of an event (the current block by default).

        Args:
            name: What was judged (``helpfulness``, ``correct_tool``, ...).
            score: A number, when the judgement is one.
            label: A category, when the judgement is one.
            comment: Free text.
            target: The judged event, as a span or an id; its id becomes the
                evaluation's ``parent_id``.
            **fields: Other event fields.

        Returns:
            The evaluation event's id.
        """
        output = _fields(score=score, label=label, comment=comment)
        return self._emit(
            self._current.get(),
            "evaluation",
            _fields(name=name, output=output, **fields),
            target=target,
        )

    def event(self, type: str, **fields: Any) -> str:
        """Record any other event (``debug``, ...) under the current block."""
        return self._emit(self._current.get(), type, dict(fields))

    def current(self) -> Span | None:
        """The innermost open block in this thread or task, if any."""
        return self._current.get()

    # -- the writer --------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event so far is written or spooled; see the writer."""
        return self.writer.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Write or spool every queued event and stop; idempotent."""
        return self.writer.close(timeout)

    def stats(self) -> WriterStats:
        """The writer's counters: written, retried, spooled, dropped, ..."""
        return self.writer.stats()

    def replay_spool(self) -> ReplayReport:
        """Replay spooled events now, on this thread.

        Raises:
            StoreError: The database failed; the spool stays for later.
        """
        return self.writer.replay()

    def __enter__(self) -> AgentLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- inside ------------------------------------------------------------

    def _emit(
        self,
        parent: Span | None,
        event_type: str,
        fields: dict[str, Any],
        *,
        target: Span | str | None = None,
    ) -> str:
        event_id = ObjectId()
        try:
            event = _base_event(event_id, event_type, parent)
            if target is not None:
                if isinstance(target, Span):
                    event["parent_id"] = target.id
                    if target.run_id is not None:
                        event["run_id"] = target.run_id
                else:
                    event["parent_id"] = str(target)
            frozen, size = freeze(fields)
            pending = _PendingEvent(event, [("", frozen)], dt.datetime.now(_UTC))
            self.writer.submit(pending, size)
        except Exception:
            logger.exception("recording a %s event failed; it is skipped", event_type)
        return str(event_id)


class _LazyRepository:
    """A repository whose client is made on first use, on the writer's thread.

    :meth:`AgentLogger.from_settings` must not fail because the database is
    down when the agent starts: events are then spooled, and the connection is
    made (and pinged) when the writer first writes.
    """

    def __init__(self, factory: Callable[[], AgentLogRepository]) -> None:
        self._factory = factory
        self._real: AgentLogRepository | None = None

    @property
    def repository(self) -> AgentLogRepository:
        """The repository, made now if it was not yet."""
        if self._real is None:
            self._real = self._factory()
        return self._real

    def insert_many(self, events: Iterable[Mapping[str, Any]]) -> InsertReport:
        return self.repository.insert_many(events)

    def __repr__(self) -> str:
        if self._real is None:
            return "AgentLogRepository(not connected yet)"
        return repr(self._real)


def _fields(**values: Any) -> dict[str, Any]:
    """The arguments that were given (not ``None``)."""
    return {k: v for k, v in values.items() if v is not None}


def _base_event(
    event_id: ObjectId, event_type: str, parent: Span | None
) -> dict[str, Any]:
    event: dict[str, Any] = {"_id": event_id, "type": event_type}
    if parent is not None:
        event["parent_id"] = parent.id
        run = parent._run
        if run is not None:
            event["run_id"] = run.id
            event["seq"] = next(run._seq)
            event.update(run._inherited)
            if "agent" in event:
                event["agent"] = dict(event["agent"])
    return event


class _PendingEvent:
    """An event recorded on the calling thread, completed on the writer's.

    The calling thread keeps the least it can: the event's ids and times, and
    its payloads frozen (see :mod:`~mongo_ai_logs.capture._snapshot`). The
    writer thread thaws the payloads, reads the provider response, and puts
    the document together.
    """

    __slots__ = ("elapsed", "event", "parts", "started_at")

    def __init__(
        self,
        event: dict[str, Any],
        parts: list[tuple[str, Any]],
        started_at: dt.datetime,
        elapsed: float | None = None,
    ) -> None:
        self.event = event
        self.parts = parts
        self.started_at = started_at
        self.elapsed = elapsed

    @property
    def event_id(self) -> ObjectId:
        """The event's ``_id``."""
        event_id: ObjectId = self.event["_id"]
        return event_id

    def build(self) -> dict[str, Any]:
        """The event document, ready for the redactors and the repository."""
        event = self.event
        for key, frozen in self.parts:
            value = thaw(frozen)
            if key == "":
                for name, item in value.items():
                    _assign(event, name, item)
            elif key == _RESPONSE:
                _read_response(event, value)
            else:
                _assign(event, key, value)
        event["started_at"] = self.started_at
        if self.elapsed is not None:
            event["ended_at"] = self.started_at + dt.timedelta(seconds=self.elapsed)
            event["duration_ms"] = self.elapsed * 1000.0
        return event


_RESPONSE = "%response"
_MERGED = frozenset(["metadata", "model", "tool"])


def _assign(event: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (``tool.result``: one level down) of the event to ``value``.

    ``metadata``, ``model`` and ``tool`` given more than once are merged.
    """
    if "." in key:
        head, _, tail = key.partition(".")
        inner = event.get(head)
        if not isinstance(inner, dict):
            inner = event[head] = {}
        inner[tail] = value
        return
    current = event.get(key)
    if key in _MERGED and isinstance(current, dict) and isinstance(value, dict):
        current.update(value)
    else:
        event[key] = value


def _read_response(event: dict[str, Any], response: Any) -> None:
    try:
        described = describe_response(response)
    except (TypeError, ValueError) as exc:
        logger.warning("not a known provider response (%s); stored as output", exc)
        event["output"] = response
        return
    model = event.get("model")
    model = dict(model) if isinstance(model, dict) else {}
    model.setdefault("provider", described.provider)
    if described.model:
        model["name"] = described.model
    event["model"] = model
    output: Any = described.output
    if described.tool_calls and (output is None or isinstance(output, str)):
        output = _fields(content=output, tool_calls=described.tool_calls)
    event["output"] = output
    if described.usage:
        event["usage"] = described.usage
    metadata = _fields(
        finish_reason=described.finish_reason,
        response_id=described.response_id,
        reasoning=described.reasoning,
    )
    _assign(event, "metadata", metadata)


def _error_info(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    module = kind.__module__
    name = (
        kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    )
    try:
        message = str(exc)
    except Exception:  # an exception whose __str__ fails is still recorded
        message = f"<{name} whose message cannot be read>"
    try:
        trace = "".join(traceback.format_exception(kind, exc, exc.__traceback__))
    except Exception:
        trace = ""
    return {"type": name, "message": message, "traceback": trace}


def _is_failure(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, SystemExit):
        return exc.code not in (None, 0)
    return True


class Span:
    """An open block: a step, and the base of runs, LLM calls and tool calls.

    Set the event's fields while the block is open (``span.output = ...``,
    :meth:`set`); they are written when the block ends. Blocks opened from a
    span (``span.tool_call(...)``) are its children whatever the context.

    Attributes:
        run_id: The run the event belongs to, if any.
        parent_id: The id of the block it is nested in, if any.
    """

    _event_type = "agent_step"

    def __init__(
        self,
        logger_: AgentLogger,
        parent: Span | None,
        fields: dict[str, Any],
        *,
        event_type: str | None = None,
        run_options: dict[str, Any] | None = None,
    ) -> None:
        self._logger = logger_
        self._oid = ObjectId()
        self._id: str | None = None
        self._type = event_type or self._event_type
        self._parent = parent
        self.parent_id = parent.id if parent is not None else None
        self._run: Run | None = parent._run if parent is not None else None
        self._parts: list[tuple[str, Any]] = []
        self._keys: set[str] = set()
        self._size = 64
        self._token: contextvars.Token[Span | None] | None = None
        self._ended = False
        self._t0 = 0.0
        self._started_at = _EPOCH
        self._event = self._make_event(parent, run_options)
        self.run_id = self._run.id if self._run is not None else None
        if fields:
            self.set(**fields)

    def _make_event(
        self, parent: Span | None, run_options: dict[str, Any] | None
    ) -> dict[str, Any]:
        return _base_event(self._oid, self._type, parent)

    @property
    def id(self) -> str:
        """The event's id, known from the start (24 hex digits)."""
        if self._id is None:
            self._id = str(self._oid)
        return self._id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, type={self._type!r})"

    # -- fields ------------------------------------------------------------

    def set(self, **fields: Any) -> None:
        """Set event fields (``output=``, ``metadata=``, ``tags=``, ...).

        Values are copied now, so changing them later does not change the
        event. ``metadata`` is merged into what is already there.
        """
        self._add("", fields)
        self._keys.update(fields)

    def _add(self, key: str, value: Any) -> None:
        try:
            frozen, size = freeze(value)
        except Exception:
            logger.exception("copying %s of a %s event failed", key, self._type)
            return
        self._parts.append((key, frozen))
        self._size += size

    def _latest(self, key: str) -> Any:
        """The value last given for ``key``, for the getters (rarely used)."""
        head, _, tail = key.partition(".")
        for part, frozen in reversed(self._parts):
            if part == key:
                return thaw(frozen)
            if part == "":
                value = thaw(frozen)
                if head in value:
                    inner = value[head]
                    if not tail:
                        return inner
                    if isinstance(inner, dict) and tail in inner:
                        return inner[tail]
        return None

    @property
    def output(self) -> Any:
        """The block's output; set it before the block ends."""
        return self._latest("output")

    @output.setter
    def output(self, value: Any) -> None:
        self.set(output=value)

    def fail(self, error: BaseException | str) -> None:
        """Mark the event as failed without raising (a handled error)."""
        if isinstance(error, BaseException):
            self.set(status="error", error=_error_info(error))
        else:
            self.set(status="error", error={"type": "error", "message": error})

    # -- children ----------------------------------------------------------

    def llm_call(self, model: str | None = None, **kwargs: Any) -> Block[LLMCall]:
        """Open an LLM call as a child of this block (see ``AgentLogger``)."""
        block = self._logger.llm_call(model, **kwargs)
        block._parent = self
        return block

    def tool_call(self, name: str, **kwargs: Any) -> Block[ToolCall]:
        """Open a tool call as a child of this block (see ``AgentLogger``)."""
        block = self._logger.tool_call(name, **kwargs)
        block._parent = self
        return block

    def step(self, name: str, **kwargs: Any) -> Block[Span]:
        """Open a step as a child of this block; see :meth:`AgentLogger.step`."""
        block = self._logger.step(name, **kwargs)
        block._parent = self
        return block

    def run(self, name: str | None = None, **kwargs: Any) -> Block[Run]:
        """Open a run as a child of this block; see :meth:`AgentLogger.run`."""
        block = self._logger.run(name, **kwargs)
        block._parent = self
        return block

    def message(self, role: str, content: Any, **fields: Any) -> str:
        """Record a message as a child of this block; return its id."""
        return self._logger._emit(
            self, "message", _fields(role=role, content=content, **fields)
        )

    def evaluation(
        self,
        name: str,
        *,
        score: float | None = None,
        label: str | None = None,
        comment: str | None = None,
        **fields: Any,
    ) -> str:
        """Record an evaluation of this block's event; return its id."""
        output = _fields(score=score, label=label, comment=comment)
        return self._logger._emit(
            self,
            "evaluation",
            _fields(name=name, output=output, **fields),
            target=self,
        )

    def event(self, type: str, **fields: Any) -> str:
        """Record any other event as a child of this block; return its id."""
        return self._logger._emit(self, type, dict(fields))

    # -- lifecycle ---------------------------------------------------------

    def _enter(self) -> None:
        self._token = self._logger._current.set(self)
        self._started_at = dt.datetime.now(_UTC)
        self._t0 = _clock()

    def _exit(self, exc: BaseException | None) -> None:
        elapsed = _clock() - self._t0
        if self._token is not None:
            try:
                self._logger._current.reset(self._token)
            except ValueError:
                # Left in another context than it was entered in.
                self._logger._current.set(self._parent)
            self._token = None
        if self._ended:
            return
        self._ended = True
        try:
            event = self._event
            if _is_failure(exc):
                assert exc is not None
                event["status"] = "error"
                event["error"] = _error_info(exc)
            else:
                event["status"] = "ok"
            pending = _PendingEvent(event, self._parts, self._started_at, elapsed)
            self._logger.writer.submit(pending, self._size)
        except Exception:
            logger.exception("recording a %s event failed; it is skipped", self._type)


class Run(Span):
    """An agent run: the root of the events that happen inside it.

    Its ``run_id`` is its own id, and every event recorded inside it carries
    that ``run_id`` and the run's user, session and agent.
    """

    _event_type = "run"
    _inherited: dict[str, Any]

    def _make_event(
        self, parent: Span | None, run_options: dict[str, Any] | None
    ) -> dict[str, Any]:
        options = run_options or {}
        outer = parent._run if parent is not None else None
        inherited: dict[str, Any] = {}
        for key in ("user_id", "session_id"):
            value = options.get(key)
            if value is None and outer is not None:
                value = outer._inherited.get(key)
            if value is not None:
                inherited[key] = str(value)
        agent = _fields(
            name=options.get("agent") or self._logger.agent,
            version=options.get("agent_version") or self._logger.agent_version,
        )
        if agent:
            inherited["agent"] = agent
        elif outer is not None and "agent" in outer._inherited:
            inherited["agent"] = dict(outer._inherited["agent"])
        self._inherited = inherited
        self._seq = itertools.count()
        self._run = self
        event: dict[str, Any] = {
            "_id": self._oid,
            "type": "run",
            "run_id": self.id,
            "seq": next(self._seq),
            **inherited,
        }
        if "agent" in event:
            event["agent"] = dict(event["agent"])
        if parent is not None:
            event["parent_id"] = parent.id
        return event


class LLMCall(Span):
    """An LLM call. Give the provider's response to :meth:`record`."""

    _event_type = "llm_call"

    def record(
        self, response: Any, *, cost: float | Mapping[str, float] | None = None
    ) -> None:
        """Read model, output, finish reason and usage from a provider response.

        Takes an OpenAI chat completion or Responses object, an Anthropic
        message, or their dict forms; no provider SDK is imported. The
        response is copied now and read on the writer's thread; a response of
        another shape is stored as the output, with a warning.

        Args:
            response: The provider's response.
            cost: The call's cost in USD, a number or ``{input, output}``.
        """
        self._add(_RESPONSE, response)
        self._keys.update(("output", "usage", "model"))
        if cost is not None:
            self.set(cost=cost)

    def set_usage(self, **counts: int) -> None:
        """Set token counts by hand (``input_tokens=``, ``output_tokens=``, ...)."""
        self.set(usage=counts)


class ToolCall(Span):
    """A tool call. Set :attr:`result` before the block ends."""

    _event_type = "tool_call"

    @property
    def result(self) -> Any:
        """The tool's result."""
        return self._latest("tool.result")

    @result.setter
    def result(self, value: Any) -> None:
        self._add("tool.result", value)


class Block(Generic[S]):
    """A block to open: use it with ``with``, ``async with``, or as a decorator.

    Each ``with`` (and each call of a decorated function) opens a new
    :class:`Span` with a new id. Blocks are made by the methods of
    :class:`AgentLogger` and :class:`Span`, not directly.
    """

    def __init__(
        self,
        logger_: AgentLogger,
        parent: Span | None,
        span_type: type[S],
        fields: dict[str, Any],
        *,
        event_type: str | None = None,
        run_options: dict[str, Any] | None = None,
    ) -> None:
        self._logger = logger_
        self._parent = parent
        self._span_type = span_type
        self._fields = fields
        self._event_type = event_type
        self._run_options = run_options
        self._open: list[S] = []

    def _new(self) -> S:
        parent = (
            self._parent if self._parent is not None else self._logger._current.get()
        )
        return self._span_type(
            self._logger,
            parent,
            self._fields,
            event_type=self._event_type,
            run_options=self._run_options,
        )

    def __enter__(self) -> S:
        span = self._new()
        span._enter()
        self._open.append(span)
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The span this task or thread opened is its current one: with the
        # block shared between tasks, the last one opened may be another's.
        current = self._logger._current.get()
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index] is current:
                self._open.pop(index)._exit(exc)
                return
        self._open.pop()._exit(exc)

    async def __aenter__(self) -> S:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Record each call of ``func`` (sync or async) as this block."""
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"{func.__qualname__} is a generator function: wrap the loop that "
                "consumes it in a block instead"
            )
        if inspect.iscoroutinefunction(func):
            return cast(F, self._wrap_async(func))
        return cast(F, self._wrap_sync(func))

    def _wrap_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            span = self._new()
            self._before(span, func, args, kwargs)
            span._enter()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                span._exit(exc)
                raise
            self._after(span, result)
            span._exit(None)
            return result

        return wrapper

    def _wrap_async(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            span = self._new()
            self._before(span, func, args, kwargs)
            span._enter()
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                span._exit(exc)
                raise
            self._after(span, result)
            span._exit(None)
            return result

        return wrapper

    def _before(
        self,
        span: S,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        if isinstance(span, ToolCall) and "arguments" not in self._fields["tool"]:
            try:
                bound = inspect.signature(func).bind_partial(*args, **kwargs)
                arguments = {
                    k: v for k, v in bound.arguments.items() if k not in ("self", "cls")
                }
            except (TypeError, ValueError):
                arguments = {"args": list(args), "kwargs": kwargs}
            span._add("tool.arguments", arguments)

    def _after(self, span: S, result: Any) -> None:
        if isinstance(span, ToolCall):
            span.result = result
        elif isinstance(span, LLMCall):
            span.record(result)
        elif "output" not in span._keys and result is not None:
            span.output = result
