"""Langfuse trace exports: a trace, its observations and its scores.

An export is ``{"trace": {...}, "observations": [...]}``, or a trace as the
Langfuse API returns it, with ``observations`` and ``scores`` inside. It
becomes one run:

- the trace is a ``run`` event; its ``metadata``, which Langfuse may give as
  a JSON string, is stored as a map, dotted keys and all;
- each observation is an event under its ``parentObservationId`` (or under
  the run): ``GENERATION`` and ``EMBEDDING`` are ``llm_call``, ``TOOL`` and
  ``RETRIEVER`` are ``tool_call``, ``EVENT`` is ``debug``, ``EVALUATOR`` is
  ``evaluation``, and ``AGENT``, ``SPAN`` and the rest are ``agent_step``;
- each score is an ``evaluation`` event under the observation it scores, or
  under the run, with ``output: {name, value, comment}``.

Events are numbered by start time. Usage and cost come from
``usageDetails`` and ``costDetails`` alone; the trace carries none, since
its observations already do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from mongo_ai_logs.ingest._reading import Value
from mongo_ai_logs.ingest._records import (
    ParsedRecord,
    RecordError,
    event,
    join_location,
    leftover,
    money,
    parse_json_text,
    timestamp,
)

__all__ = ["parse"]

FORMAT = "langfuse"

_TYPES = {
    "GENERATION": "llm_call",
    "EMBEDDING": "llm_call",
    "TOOL": "tool_call",
    "RETRIEVER": "tool_call",
    "EVENT": "debug",
    "EVALUATOR": "evaluation",
}
_LEVELS = {"DEBUG": "debug", "DEFAULT": "info", "WARNING": "warning", "ERROR": "error"}
_PROVIDER_KEYS = ("gen_ai.system", "gen_ai.provider.name", "llm.system", "llm.provider")
_LATEST = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def parse(values: Iterable[Value]) -> Iterator[ParsedRecord]:
    """Read each value as one trace export."""
    for value in values:
        location = value.location
        if value.error is not None:
            yield ParsedRecord(location or "file", error=value.error)
            continue
        data = value.data
        trace = data.get("trace") if isinstance(data, Mapping) else None
        if not isinstance(trace, Mapping) and isinstance(data, Mapping):
            trace = data if isinstance(data.get("observations"), list) else None
        if trace is None:
            yield ParsedRecord(
                location or "file",
                error="not a Langfuse trace export: no 'trace' object",
            )
            continue
        yield from _export(data, trace, location)


def _export(
    data: Mapping[str, Any], trace: Mapping[str, Any], location: str
) -> Iterator[ParsedRecord]:
    where = join_location(location, "trace")
    run_id = _text(trace.get("id"))
    if run_id is None:
        yield ParsedRecord(where, error="trace.id: missing; a trace needs its id")
        return
    common = event(
        run_id=run_id,
        user_id=_text(trace.get("userId")),
        session_id=_text(trace.get("sessionId")),
    )
    run_source = f"trace:{run_id}"
    try:
        yield ParsedRecord(where, event=_run(trace, run_source, common))
    except RecordError as exc:
        yield ParsedRecord(where, error=str(exc))

    observations = _list(data.get("observations"), trace.get("observations"))
    scores = _list(trace.get("scores"), data.get("scores"))
    first = 1
    for kind, items, build, field in (
        ("observation", observations, _observation, "startTime"),
        ("score", scores, _score, "timestamp"),
    ):
        numbers = _numbered_by_time(items, field, first)
        for index, item in enumerate(items):
            where = join_location(location, f"{kind} {index + 1}")
            yield _record(where, build, item, numbers[index], run_source, common)
        first += len(items)


Builder = Callable[[Any, int, str, dict[str, Any]], tuple[dict[str, Any], str]]


def _record(
    location: str,
    build: Builder,
    item: Any,
    seq: int,
    run_source: str,
    common: dict[str, Any],
) -> ParsedRecord:
    try:
        document, parent = build(item, seq, run_source, common)
    except RecordError as exc:
        return ParsedRecord(location, error=str(exc))
    return ParsedRecord(location, event=document, parent=parent)


def _run(
    trace: Mapping[str, Any], source_id: str, common: dict[str, Any]
) -> dict[str, Any]:
    metadata, metadata_kept = _metadata(trace.get("metadata"))
    used = {"id", "userId", "sessionId", "name", "input", "output", "tags", "timestamp"}
    used |= {"observations", "scores"} | ({"metadata"} if metadata_kept else set())
    latency = trace.get("latency")
    duration = None
    if isinstance(latency, (int, float)) and not isinstance(latency, bool):
        duration = latency * 1000 if latency >= 0 else None  # seconds for a trace
    tags = trace.get("tags")
    return event(
        type="run",
        **common,
        seq=0,
        agent=event(name=_text(trace.get("name"))) or None,
        input=trace.get("input"),
        output=trace.get("output"),
        tags=tags if isinstance(tags, list) and tags else None,
        metadata=metadata,
        started_at=timestamp(trace.get("timestamp"), "trace.timestamp"),
        duration_ms=duration,
        source=event(format=FORMAT, id=source_id, fields=leftover(trace, used)),
    )


def _observation(
    obs: Any, seq: int, run_source: str, common: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    if not isinstance(obs, Mapping):
        raise RecordError("an observation must be an object")
    obs_id = _text(obs.get("id"))
    if obs_id is None:
        raise RecordError("id: missing; an observation needs its id")
    kind = str(obs.get("type") or "SPAN").upper()
    event_type = _TYPES.get(kind, "agent_step")
    name = _text(obs.get("name"))
    metadata, metadata_kept = _metadata(obs.get("metadata"))
    level = obs.get("level")

    used = {"id", "traceId", "startTime", "endTime", "model", "modelParameters"}
    used |= {"metadata"} if metadata_kept else set()
    tool = agent = None
    if event_type == "tool_call":
        tool = event(name=name, arguments=obs.get("input"), result=obs.get("output"))
        used |= {"name", "input", "output"}
    else:
        used |= {"input", "output"}
        if kind == "AGENT":
            agent = event(name=name) or None
            used.add("name")

    failed = level == "ERROR"
    parent = obs.get("parentObservationId")
    document = event(
        type=event_type,
        **common,
        seq=seq,
        agent=agent,
        model=_model(obs, metadata)
        if event_type == "llm_call" or obs.get("model")
        else None,
        tool=tool or None,
        input=None if tool else obs.get("input"),
        output=None if tool else obs.get("output"),
        usage=_usage(obs),
        cost=_cost(obs),
        level=_LEVELS.get(str(level)) if level is not None else None,
        status="error" if failed else None,
        error=event(message=_text(obs.get("statusMessage"))) if failed else None,
        metadata=metadata,
        started_at=timestamp(obs.get("startTime"), "startTime"),
        ended_at=timestamp(obs.get("endTime"), "endTime"),
        source=event(
            format=FORMAT, id=f"observation:{obs_id}", fields=leftover(obs, used)
        ),
    )
    return document, f"observation:{parent}" if parent else run_source


def _score(
    score: Any, seq: int, run_source: str, common: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    if not isinstance(score, Mapping):
        raise RecordError("a score must be an object")
    score_id = _text(score.get("id"))
    if score_id is None:
        raise RecordError("id: missing; a score needs its id")
    metadata, metadata_kept = _metadata(score.get("metadata"))
    value_field = "value"
    if score.get("dataType") == "CATEGORICAL" and score.get("stringValue") is not None:
        value_field = "stringValue"
    used = {"id", "traceId", "timestamp", "name", "comment", value_field}
    used |= {"metadata"} if metadata_kept else set()
    target = score.get("observationId")
    document = event(
        type="evaluation",
        **common,
        seq=seq,
        output=event(
            name=score.get("name"),
            value=score.get(value_field),
            comment=score.get("comment"),
        ),
        metadata=metadata,
        started_at=timestamp(score.get("timestamp"), "timestamp"),
        source=event(
            format=FORMAT, id=f"score:{score_id}", fields=leftover(score, used)
        ),
    )
    return document, f"observation:{target}" if target else run_source


def _model(obs: Mapping[str, Any], metadata: Any) -> dict[str, Any] | None:
    parameters = obs.get("modelParameters")
    return (
        event(
            provider=_provider(metadata),
            name=_text(obs.get("model")),
            parameters=parameters
            if isinstance(parameters, Mapping) and parameters
            else None,
        )
        or None
    )


def _provider(metadata: Any) -> str | None:
    if not isinstance(metadata, Mapping):
        return None
    attributes = metadata.get("attributes")
    for source in (attributes, metadata):
        if isinstance(source, Mapping):
            for key in _PROVIDER_KEYS:
                if isinstance(source.get(key), str):
                    return str(source[key])
    return None


def _usage(obs: Mapping[str, Any]) -> dict[str, int] | None:
    details = obs.get("usageDetails")
    if not isinstance(details, Mapping):
        details = obs.get("usage")
    counts = {
        str(key): int(value)
        for key, value in (details.items() if isinstance(details, Mapping) else ())
        if _is_count(value)
    }
    split = _split(counts)
    if split is None:
        return None
    input_tokens, output_tokens, total = split
    cache_read = _sum(counts, "cache_read", "cached")
    cache_creation = _sum(counts, "cache_creation", "cache_write")
    reasoning = _sum(counts, "reasoning")
    return event(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
        reasoning_tokens=reasoning,
    )


def _cost(obs: Mapping[str, Any]) -> dict[str, float] | None:
    details = obs.get("costDetails")
    if not isinstance(details, Mapping):
        details = {
            "input": obs.get("calculatedInputCost", obs.get("inputCost")),
            "output": obs.get("calculatedOutputCost", obs.get("outputCost")),
            "total": obs.get("calculatedTotalCost", obs.get("totalCost")),
        }
        if not any(details.values()):
            return None
    amounts = {
        str(key): amount
        for key, value in details.items()
        if (amount := money(value, f"costDetails.{key}")) is not None
    }
    split = _split(amounts)
    if split is None:
        return None
    return event(input=split[0], output=split[1], total=split[2])


def _split(parts: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    """Input, output and total from Langfuse's usage or cost types.

    Langfuse's types are separate units whose sum is the total (``input``
    without the cached tokens, ``input_cached_tokens``, ...), unless the
    source's own total shows that ``input`` and ``output`` already hold the
    rest, as when the details are only a breakdown of them.
    """
    if not parts:
        return None
    total = parts.get("total")
    rest = {key: value for key, value in parts.items() if key != "total"}
    if total is None or total == sum(rest.values()):
        inputs = [v for k, v in rest.items() if _is_input(k)]
        outputs = [v for k, v in rest.items() if _is_output(k)]
        return (
            sum(inputs) if inputs else None,
            sum(outputs) if outputs else None,
            total if total is not None else sum(rest.values()),
        )
    return parts.get("input"), parts.get("output"), total


def _is_input(key: str) -> bool:
    return key.startswith("prompt") or "input" in key or "cache_read" in key


def _is_output(key: str) -> bool:
    return key.startswith(("output", "completion")) or "output" in key


def _sum(counts: dict[str, int], *marks: str) -> int | None:
    found = [value for key, value in counts.items() if any(m in key for m in marks)]
    return sum(found) if found else None


def _is_count(value: Any) -> bool:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _metadata(value: Any) -> tuple[dict[str, Any] | None, bool]:
    """The metadata as a map, and whether it was taken (to leave it out of fields)."""
    parsed = parse_json_text(value)
    if isinstance(parsed, Mapping):
        return (dict(parsed) or None), True
    return None, value is None


def _numbered_by_time(items: list[Any], field: str, first: int) -> list[int]:
    """The ``seq`` of each item, from ``first``, in order of time, then of the list."""

    def moment(index: int) -> tuple[dt.datetime, int]:
        item = items[index]
        try:
            found = (
                timestamp(item.get(field), field) if isinstance(item, Mapping) else None
            )
        except RecordError:
            found = None
        return found or _LATEST, index

    numbers = [0] * len(items)
    for seq, index in enumerate(sorted(range(len(items)), key=moment), start=first):
        numbers[index] = seq
    return numbers


def _list(*candidates: Any) -> list[Any]:
    for candidate in candidates:
        if isinstance(candidate, list):
            return candidate
    return []


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, (str, int)) else None
