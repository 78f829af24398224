"""SWE-agent trajectories (``.traj``): one run, one event per step.

A trajectory is a JSON document with the agent's ``trajectory`` (its steps:
``thought``, ``action``, ``observation``, ``execution_time``), the
``history`` of messages the model saw, and ``info`` with the submission and
``model_stats``. It becomes:

- a ``run`` event with the history as ``input``, the submission as
  ``output``, and the run's tokens and cost from ``model_stats``;
- an ``agent_step`` event per step under it, with the action as ``input``,
  the observation as ``output``, the thought in ``metadata.thought`` and the
  execution time as ``duration_ms``.

Steps carry no usage: the source counts tokens and cost for the whole run
only, and they are put on the run event alone, so that summing a run's
events counts them once. A trajectory has no id of its own; the run's id is
made from its content. The rest of the file (``environment``, the rest of
``info``, ``replay_config``) is kept in the run's ``source.fields``, the
replay config parsed when it is a JSON string and its API keys masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mongo_ai_logs.ingest._reading import Value
from mongo_ai_logs.ingest._records import (
    ContentIds,
    ParsedRecord,
    RecordError,
    count,
    event,
    join_location,
    leftover,
    money,
    parse_json_text,
)

__all__ = ["parse"]

FORMAT = "sweagent"
AGENT_NAME = "swe-agent"

_STEP_FIELDS = frozenset(["action", "observation", "thought"])
_SECRET_KEY = re.compile(r"(^|_)(api_key|secret|password|token)$", re.IGNORECASE)
_MASK = "********"


def parse(values: Iterable[Value]) -> Iterator[ParsedRecord]:
    """Read each value as one trajectory."""
    ids = ContentIds()
    for value in values:
        location = value.location
        if value.error is not None:
            yield ParsedRecord(location or "file", error=value.error)
            continue
        data = value.data
        if not isinstance(data, Mapping) or not isinstance(
            data.get("trajectory"), list
        ):
            yield ParsedRecord(
                location or "file",
                error="not a SWE-agent trajectory: no 'trajectory' list",
            )
            continue
        yield from _trajectory(data, ids(data), location)


def _trajectory(
    data: Mapping[str, Any], run_id: str, location: str
) -> Iterator[ParsedRecord]:
    where = join_location(location, "run")
    try:
        yield ParsedRecord(where, event=_run(data, run_id))
    except RecordError as exc:
        # The steps are still read: stored without their run, they show as
        # roots, and join it once a corrected file brings the run.
        yield ParsedRecord(where, error=str(exc))

    for index, step in enumerate(data["trajectory"], start=1):
        where = join_location(location, f"step {index}")
        if not isinstance(step, Mapping):
            yield ParsedRecord(where, error="a step must be an object")
            continue
        yield ParsedRecord(where, event=_step(step, run_id, index), parent=run_id)


def _run(data: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    info = data.get("info")
    info = info if isinstance(info, Mapping) else {}
    stats = info.get("model_stats")
    stats = stats if isinstance(stats, Mapping) else {}
    replay = parse_json_text(data.get("replay_config"))

    usage = event(
        input_tokens=count(stats.get("tokens_sent"), "info.model_stats.tokens_sent"),
        output_tokens=count(
            stats.get("tokens_received"), "info.model_stats.tokens_received"
        ),
    )
    # total_cost adds up every instance of a batch run; instance_cost is this one.
    spent = "instance_cost" if "instance_cost" in stats else "total_cost"
    cost = money(stats.get(spent), f"info.model_stats.{spent}")

    fields = dict(leftover(data, {"trajectory", "history", "info"}) or {})
    if not isinstance(data.get("info"), Mapping) and "info" in data:
        fields["info"] = data["info"]
    elif rest := leftover(info, {"submission"}):
        fields["info"] = rest
    if replay is not None:
        fields["replay_config"] = _masked(replay)

    status, error = _outcome(info.get("exit_status"))
    return event(
        type="run",
        run_id=run_id,
        seq=0,
        agent={"name": AGENT_NAME},
        model=_model(replay),
        input=data.get("history"),
        output=info.get("submission"),
        usage=usage or None,
        cost=None if cost is None else {"total": cost},
        status=status,
        error=error,
        source=event(format=FORMAT, id=run_id, fields=fields or None),
    )


def _step(step: Mapping[str, Any], run_id: str, index: int) -> dict[str, Any]:
    seconds = step.get("execution_time")
    duration = None
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        duration = seconds * 1000 if seconds >= 0 else None
    return event(
        type="agent_step",
        run_id=run_id,
        seq=index,
        input=step.get("action"),
        output=step.get("observation"),
        metadata=event(thought=step.get("thought")) or None,
        duration_ms=duration,
        source=event(
            format=FORMAT,
            id=f"{run_id}/{index}",
            fields=leftover(step, _STEP_FIELDS),
        ),
    )


def _outcome(exit_status: Any) -> tuple[str | None, dict[str, str] | None]:
    if not isinstance(exit_status, str) or not exit_status:
        return None, None
    if exit_status.startswith("submitted"):
        return "ok", None
    if "error" in exit_status:
        return "error", {"type": exit_status}
    return None, None


def _model(replay: Any) -> dict[str, Any] | None:
    agent = replay.get("agent") if isinstance(replay, Mapping) else None
    model = agent.get("model") if isinstance(agent, Mapping) else None
    if not isinstance(model, Mapping):
        return None
    name = model.get("name")
    parameters = event(temperature=model.get("temperature"), top_p=model.get("top_p"))
    found = event(
        name=name if isinstance(name, str) else None, parameters=parameters or None
    )
    return found or None


def _masked(value: Any) -> Any:
    """``value`` with the strings under secret-looking keys masked."""
    if isinstance(value, Mapping):
        return {
            key: _MASK
            if isinstance(item, str) and item and _SECRET_KEY.search(str(key))
            else _masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value
