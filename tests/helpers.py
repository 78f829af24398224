"""Small builders shared by the tests."""

from __future__ import annotations

import datetime as dt
import json
import sys
import zlib
from typing import Any

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def event(**fields: Any) -> dict[str, Any]:
    """A valid LLM-call event; keyword arguments replace or add fields."""
    base: dict[str, Any] = {
        "type": "llm_call",
        "user_id": "u1",
        "session_id": "s1",
        "run_id": "r1",
        "model": {"provider": "openai", "name": "gpt-4o"},
        "usage": {"input_tokens": 10, "output_tokens": 5},
        "cost": {"input": 0.001, "output": 0.002},
        "status": "ok",
        "started_at": T0,
    }
    base.update(fields)
    return base


def at(minutes: float) -> dt.datetime:
    """``T0`` plus some minutes."""
    return T0 + dt.timedelta(minutes=minutes)


def chain(run_id: str, length: int) -> list[dict[str, Any]]:
    """``length`` events of one run, each nested under the one before."""
    prefix = f"{zlib.crc32(run_id.encode()):08x}"
    events = []
    for seq in range(length):
        events.append(
            event(
                _id=f"{prefix}{seq + 1:016x}",
                type="agent_step",
                run_id=run_id,
                seq=seq,
                started_at=at(seq),
                **({"parent_id": f"{prefix}{seq:016x}"} if seq else {}),
            )
        )
    return events


def loads_deep(text: str) -> Any:
    """``json.loads`` of JSON nested deeper than the interpreter's recursion
    limit lets it read, as a client that expects deep trees would."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 50_000))
    try:
        return json.loads(text)
    finally:
        sys.setrecursionlimit(limit)


def chain_seqs(node: dict[str, Any]) -> list[Any]:
    """The ``seq`` of each node of a tree that is one chain, top down."""
    seqs = []
    current: dict[str, Any] | None = node
    while current is not None:
        seqs.append(current["seq"])
        children = current["children"]
        assert len(children) <= 1
        current = children[0] if children else None
    return seqs
