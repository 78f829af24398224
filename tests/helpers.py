"""Small builders shared by the tests."""

from __future__ import annotations

import datetime as dt
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
