"""ShareGPT conversations: ``conversations[].from/value`` with ``system`` and ``tools``.

Each conversation becomes a session and a run of its own:

- a ``run`` event, with the conversation's tools (parsed from the JSON
  string ShareGPT keeps them in) as ``input: {"tools": [...]}``;
- a ``message`` event for the ``system`` prompt and for each turn, with the
  role read from ``from`` (``human`` is ``user``, ``gpt`` is ``assistant``,
  ``observation`` is ``tool``);
- a ``tool_call`` event for each ``function_call`` turn, with the call's
  name and arguments, and as its result the ``observation`` turn that
  answers it.

Conversations have no id of their own in most datasets; an ``id`` field is
used when there is one, otherwise the id is made from the content.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mongo_ai_logs.ingest._reading import Value
from mongo_ai_logs.ingest._records import (
    ContentIds,
    ParsedRecord,
    event,
    join_location,
    leftover,
    parse_json_text,
)

__all__ = ["parse"]

FORMAT = "sharegpt"

_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "system": "system",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}
_CALLS = frozenset(["function_call", "tool_call", "tool_calls"])
_RESULTS = frozenset(["observation", "tool", "function", "ipython"])


def parse(values: Iterable[Value]) -> Iterator[ParsedRecord]:
    """Read each value as one conversation."""
    ids = ContentIds()
    for value in values:
        location = value.location or "record 1"
        if value.error is not None:
            yield ParsedRecord(location, error=value.error)
            continue
        data = value.data
        if not isinstance(data, Mapping) or not isinstance(
            data.get("conversations"), list
        ):
            yield ParsedRecord(
                location, error="not a ShareGPT conversation: no 'conversations' list"
            )
            continue
        given = data.get("id")
        has_id = isinstance(given, (str, int)) and not isinstance(given, bool)
        conversation = str(given) if has_id and given != "" else ids(data)
        yield from _conversation(data, conversation, location)


def _conversation(
    data: Mapping[str, Any], conversation: str, location: str
) -> Iterator[ParsedRecord]:
    common = {"run_id": conversation, "session_id": conversation}
    tools = parse_json_text(data.get("tools"))
    used = {"id", "conversations", "system", "tools"}
    if tools in ("", []):
        tools = None
    yield ParsedRecord(
        location,
        event=event(
            type="run",
            **common,
            seq=0,
            input=event(tools=tools) or None,
            source=event(format=FORMAT, id=conversation, fields=leftover(data, used)),
        ),
    )

    seq = 0
    system = data.get("system")
    if system:
        seq += 1
        yield ParsedRecord(
            join_location(location, "system"),
            event=event(
                type="message",
                **common,
                seq=seq,
                role="system",
                content=system,
                source={"format": FORMAT, "id": f"{conversation}/system"},
            ),
            parent=conversation,
        )

    turns = data["conversations"]
    index = 0
    while index < len(turns):
        turn = turns[index]
        where = join_location(location, f"turn {index + 1}")
        source_id = f"{conversation}/{index}"
        index += 1
        if not isinstance(turn, Mapping):
            yield ParsedRecord(where, error="a turn must be an object")
            continue
        speaker = str(turn.get("from", turn.get("role", "")))
        text = turn.get("value", turn.get("content"))
        fields = leftover(turn, {"from", "role", "value", "content"})

        if speaker not in _CALLS:
            seq += 1
            yield ParsedRecord(
                where,
                event=event(
                    type="message",
                    **common,
                    seq=seq,
                    role=_ROLES.get(speaker, speaker or None),
                    content=text,
                    source=event(format=FORMAT, id=source_id, fields=fields),
                ),
                parent=conversation,
            )
            continue

        answer = turns[index] if index < len(turns) else None
        result = None
        if (
            isinstance(answer, Mapping)
            and answer.get("from", answer.get("role")) in _RESULTS
        ):
            result = answer.get("value", answer.get("content"))
            index += 1
        calls = parse_json_text(text)
        if (
            isinstance(calls, list)
            and calls
            and all(isinstance(c, Mapping) for c in calls)
        ):
            # Parallel calls: one event each; their answer stays one message.
            for number, call in enumerate(calls):
                seq += 1
                yield ParsedRecord(
                    where,
                    event=_tool_call(
                        call, common, seq, f"{source_id}.{number}", fields
                    ),
                    parent=conversation,
                )
            if result is not None:
                seq += 1
                yield ParsedRecord(
                    join_location(location, f"turn {index}"),
                    event=event(
                        type="message",
                        **common,
                        seq=seq,
                        role="tool",
                        content=result,
                        source={"format": FORMAT, "id": f"{conversation}/{index - 1}"},
                    ),
                    parent=conversation,
                )
            continue
        seq += 1
        call = calls if isinstance(calls, Mapping) else {"arguments": text}
        yield ParsedRecord(
            where,
            event=_tool_call(call, common, seq, source_id, fields, result),
            parent=conversation,
        )


def _tool_call(
    call: Mapping[str, Any],
    common: dict[str, Any],
    seq: int,
    source_id: str,
    fields: Any,
    result: Any = None,
) -> dict[str, Any]:
    name = call.get("name")
    if "arguments" in call:
        arguments = call["arguments"]
    elif "parameters" in call:
        arguments = call["parameters"]
    else:
        arguments = {key: value for key, value in call.items() if key != "name"} or None
    return event(
        type="tool_call",
        **common,
        seq=seq,
        tool=event(
            name=name if isinstance(name, str) else None,
            arguments=arguments,
            result=result,
        ),
        source=event(format=FORMAT, id=source_id, fields=fields),
    )
