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
    yield ParsedRecord(
        location,
        event=event(
            type="run",
            **common,
            seq=0,
            input={"tools": tools} if tools not in (None, "", []) else None,
            source=event(format=FORMAT, id=conversation, fields=leftover(data, used)),
        ),
    )

    seq = 0
    if data.get("system"):
        seq += 1
        where = join_location(location, "system")
        yield ParsedRecord(
            where,
            event=_message(
                common, seq, "system", data["system"], f"{conversation}/system"
            ),
            parent=conversation,
        )

    turns = data["conversations"]
    index = 0
    while index < len(turns):
        turn, number = turns[index], index + 1
        where = join_location(location, f"turn {number}")
        own_id = f"{conversation}/{index}"
        index += 1
        if not isinstance(turn, Mapping):
            yield ParsedRecord(where, error="a turn must be an object")
            continue
        speaker = _speaker(turn)
        fields = leftover(turn, {"from", "role", "value", "content"})
        if speaker not in _CALLS:
            seq += 1
            role = _ROLES.get(speaker, speaker or None)
            message = _message(common, seq, role, _said(turn), own_id, fields)
            yield ParsedRecord(where, event=message, parent=conversation)
            continue

        # A function call is answered by the observation turn that follows.
        answer = turns[index] if index < len(turns) else None
        result = None
        if isinstance(answer, Mapping) and _speaker(answer) in _RESULTS:
            result = _said(answer)
            index += 1
        calls = parse_json_text(_said(turn))
        if not _parallel(calls):
            seq += 1
            call = calls if isinstance(calls, Mapping) else {"arguments": _said(turn)}
            document = _tool_call(call, common, seq, own_id, fields, result)
            yield ParsedRecord(where, event=document, parent=conversation)
            continue
        # Parallel calls: an event each; their answer stays one tool message.
        for number_in_turn, call in enumerate(calls):
            seq += 1
            call_id = f"{own_id}.{number_in_turn}"
            document = _tool_call(call, common, seq, call_id, fields)
            yield ParsedRecord(where, event=document, parent=conversation)
        if result is not None:
            seq += 1
            answer_id = f"{conversation}/{index - 1}"
            message = _message(common, seq, "tool", result, answer_id)
            yield ParsedRecord(
                join_location(location, f"turn {index}"),
                event=message,
                parent=conversation,
            )


def _speaker(turn: Mapping[str, Any]) -> str:
    return str(turn.get("from", turn.get("role", "")))


def _said(turn: Mapping[str, Any]) -> Any:
    return turn.get("value", turn.get("content"))


def _parallel(calls: Any) -> bool:
    return (
        isinstance(calls, list)
        and bool(calls)
        and all(isinstance(call, Mapping) for call in calls)
    )


def _message(
    common: dict[str, Any],
    seq: int,
    role: str | None,
    content: Any,
    source_id: str,
    fields: Any = None,
) -> dict[str, Any]:
    return event(
        type="message",
        **common,
        seq=seq,
        role=role,
        content=content,
        source=event(format=FORMAT, id=source_id, fields=fields),
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
