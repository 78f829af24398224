"""Capture agent runs as they happen, without slowing the agent or losing events.

::

    from mongo_ai_logs.capture import AgentLogger

    log = AgentLogger.from_settings(agent="travel-assistant", agent_version="1.3")
    with log.run(user_id="u-42", session_id="s-1") as run:
        run.message("user", "Weather in Lisbon tomorrow?")
        with log.llm_call(model="gpt-4o-mini", input=messages) as call:
            call.record(response)          # OpenAI or Anthropic, object or dict
        with log.tool_call("get_forecast", arguments={"city": "Lisbon"}) as tool:
            tool.result = get_forecast("Lisbon")

Events get their id when they are recorded, are queued in memory, and are
written in batches by a background thread. When the database is slow or down
they go to a local spool file and are written when it answers again, or by the
next process. See ``docs/capture.md``.
"""

from __future__ import annotations

from mongo_ai_logs.capture.logger import (
    AgentLogger,
    Block,
    LLMCall,
    Run,
    Span,
    ToolCall,
)
from mongo_ai_logs.capture.redaction import (
    MASK,
    Redactor,
    redact_secrets,
    redact_text,
)
from mongo_ai_logs.capture.settings import CaptureSettings, Overflow
from mongo_ai_logs.capture.spool import ReplayReport, Spool
from mongo_ai_logs.capture.writer import (
    BufferedWriter,
    EventStore,
    Refusal,
    WriterStats,
)

__all__ = [
    "MASK",
    "AgentLogger",
    "Block",
    "BufferedWriter",
    "CaptureSettings",
    "EventStore",
    "LLMCall",
    "Overflow",
    "Redactor",
    "Refusal",
    "ReplayReport",
    "Run",
    "Span",
    "Spool",
    "ToolCall",
    "WriterStats",
    "redact_secrets",
    "redact_text",
]
