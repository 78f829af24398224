"""LangSmith run payloads: ``post`` and ``patch`` parts merged per run.

A file holds batch payloads ``{"post": [...], "patch": [...]}`` as the
LangSmith SDKs send them, or runs as the API returns them (a list, JSON
lines, or one run). A run is first posted and later patched with its outputs
and end time; the parts of each run are merged, the later winning, before
any event is made. A patch that lacks the run's ``id`` is matched through the
last part of its ``dotted_order``.

Each run becomes one event of the run named by its ``trace_id``: ``llm`` and
``embedding`` runs are ``llm_call``, ``tool`` and ``retriever`` runs
``tool_call``, a root run of another type is the ``run`` and the others are
``agent_step``. Events are numbered in ``dotted_order``, which is the order
of the tree; times may be epoch milliseconds or ISO strings.

Usage and cost are read for LLM runs only: LangSmith reports the sums of
their children on the runs above them, which would count them twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mongo_ai_logs.ingest._reading import Value
from mongo_ai_logs.ingest._records import (
    ParsedRecord,
    RecordError,
    count,
    event,
    join_location,
    leftover,
    money,
    timestamp,
)
from mongo_ai_logs.providers import describe_usage

__all__ = ["parse"]

FORMAT = "langsmith"

_TYPES = {
    "llm": "llm_call",
    "embedding": "llm_call",
    "tool": "tool_call",
    "retriever": "tool_call",
}
_SESSION_KEYS = ("thread_id", "session_id", "conversation_id")
_USED = frozenset(["id", "trace_id", "inputs", "outputs", "tags", "extra"])
_USED |= frozenset(["start_time", "end_time", "child_runs"])


@dataclass
class _Run:
    """The merged parts of one run, and where its first part was read."""

    location: str
    data: dict[str, Any] = field(default_factory=dict)

    def merge(self, part: Mapping[str, Any]) -> None:
        for key, value in part.items():
            if value is None and key in self.data:
                continue
            current = self.data.get(key)
            if (
                key == "extra"
                and isinstance(current, Mapping)
                and isinstance(value, Mapping)
            ):
                value = {**current, **value}
            self.data[key] = value


def parse(values: Iterable[Value]) -> Iterator[ParsedRecord]:
    """Read every payload, merge the parts of each run, then make the events."""
    runs: dict[str, _Run] = {}
    for value in values:
        location = value.location
        if value.error is not None:
            yield ParsedRecord(location or "file", error=value.error)
            continue
        for where, part in _parts(value.data, location):
            if not isinstance(part, Mapping):
                yield ParsedRecord(where, error="a run must be an object")
                continue
            for piece in _flattened(part):
                run_id = _run_id(piece)
                if run_id is None:
                    yield ParsedRecord(
                        where, error="id: missing, and no dotted_order to find it"
                    )
                    continue
                runs.setdefault(run_id, _Run(where)).merge(piece)

    traces: dict[str, list[tuple[str, _Run]]] = {}
    for run_id, run in runs.items():
        traces.setdefault(_trace_id(run_id, run.data), []).append((run_id, run))
    for trace_id, members in traces.items():
        members.sort(key=lambda member: _order(member[1].data))
        for seq, (run_id, run) in enumerate(members):
            try:
                document, parent = _event(run_id, run.data, trace_id, seq)
            except RecordError as exc:
                yield ParsedRecord(run.location, error=str(exc))
                continue
            yield ParsedRecord(run.location, event=document, parent=parent)


def _parts(data: Any, location: str) -> Iterator[tuple[str, Any]]:
    if isinstance(data, Mapping) and any(k in data for k in ("post", "patch")):
        for kind in ("post", "patch"):
            parts = data.get(kind)
            for index, part in enumerate(parts if isinstance(parts, list) else []):
                yield join_location(location, f"{kind} {index + 1}"), part
    else:
        yield location or "record 1", data


def _flattened(run: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The run, then the runs nested in its ``child_runs``, with their parent."""
    yield run
    children = run.get("child_runs")
    if not isinstance(children, list):
        return
    parent_id = _run_id(run)
    for child in children:
        if isinstance(child, Mapping):
            linked = dict(child)
            linked.setdefault("parent_run_id", parent_id)
            linked.setdefault("trace_id", run.get("trace_id"))
            yield from _flattened(linked)


def _run_id(run: Mapping[str, Any]) -> str | None:
    run_id = run.get("id")
    if isinstance(run_id, str) and run_id:
        return run_id
    segments = _segments(run.get("dotted_order"))
    return segments[-1] if segments else None


def _segments(dotted_order: Any) -> list[str]:
    """The run ids along a ``dotted_order``: ``<time>Z<id>`` joined by dots."""
    if not isinstance(dotted_order, str) or not dotted_order:
        return []
    return [part.partition("Z")[2] or part for part in dotted_order.split(".")]


def _trace_id(run_id: str, run: Mapping[str, Any]) -> str:
    trace_id = run.get("trace_id")
    if isinstance(trace_id, str) and trace_id:
        return trace_id
    segments = _segments(run.get("dotted_order"))
    return segments[0] if segments else run_id


def _parent_id(run: Mapping[str, Any]) -> str | None:
    parent = run.get("parent_run_id")
    if isinstance(parent, str) and parent:
        return parent
    segments = _segments(run.get("dotted_order"))
    return segments[-2] if len(segments) > 1 else None


def _order(run: Mapping[str, Any]) -> tuple[str, str]:
    dotted = run.get("dotted_order")
    return (dotted if isinstance(dotted, str) else "~", str(run.get("start_time")))


def _event(
    run_id: str, run: Mapping[str, Any], trace_id: str, seq: int
) -> tuple[dict[str, Any], str | None]:
    run_type = str(run.get("run_type") or "")
    parent = _parent_id(run)
    kind = _TYPES.get(run_type) or ("run" if parent is None else "agent_step")
    given = run.get("extra")
    extra: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    metadata = extra.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, Mapping) and metadata else None
    name = run.get("name") if isinstance(run.get("name"), str) else None
    inputs, outputs = run.get("inputs"), run.get("outputs")

    fields = dict(leftover(run, _USED) or {})
    if rest := leftover(extra, {"metadata"}):
        fields["extra"] = rest
    if given is not None and not isinstance(given, Mapping):
        fields["extra"] = given
    if isinstance(run.get("child_runs"), list) and not all(
        isinstance(child, Mapping) for child in run["child_runs"]
    ):
        fields["child_runs"] = run["child_runs"]

    tool = agent = None
    if kind == "tool_call":
        tool = event(name=name, arguments=inputs, result=outputs)
        fields.pop("name", None)
    elif kind == "run" and name:
        agent = {"name": name}
        fields.pop("name", None)
    llm = kind == "llm_call"
    error = run.get("error")
    ended_at = timestamp(run.get("end_time"), "end_time")
    tags = run.get("tags")

    document = event(
        type=kind,
        run_id=trace_id,
        session_id=_session(metadata),
        seq=seq,
        agent=agent,
        model=_model(run, extra, metadata) if llm else None,
        tool=tool,
        input=None if tool else inputs,
        output=None if tool else outputs,
        usage=_usage(run, extra) if llm else None,
        cost=_cost(run) if llm else None,
        status="error" if error else ("ok" if ended_at else None),
        error=event(message=error if isinstance(error, str) else repr(error))
        if error
        else None,
        tags=tags if isinstance(tags, list) and tags else None,
        metadata=metadata,
        started_at=timestamp(run.get("start_time"), "start_time"),
        ended_at=ended_at,
        source=event(format=FORMAT, id=run_id, fields=fields or None),
    )
    return document, parent


def _session(metadata: Mapping[str, Any] | None) -> str | None:
    for key in _SESSION_KEYS:
        value = metadata.get(key) if metadata else None
        if (
            isinstance(value, (str, int))
            and not isinstance(value, bool)
            and value != ""
        ):
            return str(value)
    return None


def _model(
    run: Mapping[str, Any],
    extra: Mapping[str, Any],
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    metadata = metadata or {}
    outputs = run.get("outputs")
    inputs = run.get("inputs")
    names = (
        outputs.get("model") if isinstance(outputs, Mapping) else None,
        _get(outputs, "llm_output", "model_name"),
        metadata.get("ls_model_name"),
        inputs.get("model") if isinstance(inputs, Mapping) else None,
    )
    parameters = extra.get("invocation_params")
    return (
        event(
            provider=_string(metadata.get("ls_provider")),
            name=next((n for n in names if isinstance(n, str) and n), None),
            parameters=dict(parameters)
            if isinstance(parameters, Mapping) and parameters
            else None,
        )
        or None
    )


def _usage(run: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, int] | None:
    outputs = run.get("outputs")
    candidates = (
        _get(outputs, "usage_metadata"),
        _get(extra, "metadata", "usage_metadata"),
        _get(outputs, "llm_output", "token_usage"),
        _get(outputs, "usage"),
        _generation_usage(outputs),
    )
    for candidate in candidates:
        usage = describe_usage(candidate)
        if usage:
            return usage
    usage = event(
        input_tokens=count(run.get("prompt_tokens"), "prompt_tokens"),
        output_tokens=count(run.get("completion_tokens"), "completion_tokens"),
        total_tokens=count(run.get("total_tokens"), "total_tokens"),
    )
    return usage or None


def _generation_usage(outputs: Any) -> Any:
    """The usage LangChain keeps on the message of the first generation."""
    generations = _get(outputs, "generations")
    while isinstance(generations, list) and generations:
        generations = generations[0]
    return _get(generations, "message", "kwargs", "usage_metadata")


def _cost(run: Mapping[str, Any]) -> dict[str, float] | None:
    cost = event(
        input=money(run.get("prompt_cost"), "prompt_cost"),
        output=money(run.get("completion_cost"), "completion_cost"),
        total=money(run.get("total_cost"), "total_cost"),
    )
    return cost or None


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
