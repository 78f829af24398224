"""The event document: one document per message, call, step or evaluation.

Field names follow the OpenTelemetry GenAI conventions, and LangSmith and
Langfuse where they agree, in snake_case. Every part of the model accepts
fields it does not know and keeps them, because the logs of AI applications
change shape often. Free payloads (``content``, ``input``, ``output``,
``tool.arguments``, ``tool.result``, ``metadata``) are kept as given.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from mongo_ai_logs.codec import to_utc_millis

__all__ = [
    "SCHEMA_VERSION",
    "AgentInfo",
    "AgentLogEvent",
    "Cost",
    "ErrorInfo",
    "EventType",
    "ModelInfo",
    "Source",
    "ToolInfo",
    "Usage",
]

SCHEMA_VERSION = 1
"""The version written into ``schema_version`` of every new event."""

EventType = Literal[
    "message", "llm_call", "tool_call", "agent_step", "run", "evaluation", "debug"
]
Status = Literal["ok", "error"]
Level = Literal["debug", "info", "warning", "error"]

UtcDatetime = Annotated[dt.datetime, AfterValidator(to_utc_millis)]

#: A token count: what a 64-bit integer holds, so that sums stay numbers.
TokenCount = Annotated[int, Field(ge=0, le=2**63 - 1)]
#: An amount (USD, milliseconds): a finite number from zero to 10**15, so
#: that sums of many stay finite too.
MAX_AMOUNT = 1e15
Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
"""A datetime stored as MongoDB keeps it: UTC, milliseconds; naive means UTC."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


class AgentInfo(_Part):
    """The agent that produced the event."""

    name: str | None = None
    version: str | None = None


class ModelInfo(_Part):
    """The model behind an LLM call: ``provider`` as in ``gen_ai.system``."""

    provider: str | None = None
    name: str | None = None
    parameters: dict[Any, Any] | None = None


class ToolInfo(_Part):
    """A tool call: its name, the provider's call id, arguments and result."""

    name: str | None = None
    call_id: str | None = None
    arguments: Any = None
    result: Any = None


class Usage(_Part):
    """Token counts, on the OpenTelemetry GenAI scale.

    ``input_tokens`` counts every input token, cached ones included;
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` say how
    many of them were read from or written to the provider's cache, and
    ``reasoning_tokens`` how many of the output tokens were reasoning.
    ``total_tokens`` defaults to input plus output.
    """

    input_tokens: TokenCount | None = None
    output_tokens: TokenCount | None = None
    total_tokens: TokenCount | None = None
    cache_read_input_tokens: TokenCount | None = None
    cache_creation_input_tokens: TokenCount | None = None
    reasoning_tokens: TokenCount | None = None

    @model_validator(mode="after")
    def _fill_total(self) -> Usage:
        if self.total_tokens is None and (
            self.input_tokens is not None or self.output_tokens is not None
        ):
            total = (self.input_tokens or 0) + (self.output_tokens or 0)
            if total > 2**63 - 1:
                raise ValueError("input_tokens + output_tokens is too large")
            self.total_tokens = total
        return self


class Cost(_Part):
    """Cost in USD. ``total`` defaults to input plus output."""

    input: Amount | None = None
    output: Amount | None = None
    total: Amount | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"total": value}
        return value

    @model_validator(mode="after")
    def _fill_total(self) -> Cost:
        if self.total is None and (self.input is not None or self.output is not None):
            self.total = (self.input or 0.0) + (self.output or 0.0)
        return self


class ErrorInfo(_Part):
    """What went wrong: exception type and message (a traceback may follow)."""

    type: str | None = None
    message: str | None = None


class Source(_Part):
    """Where an imported event came from; it decides the event's id."""

    format: str = Field(min_length=1)
    id: str = Field(min_length=1)


class AgentLogEvent(BaseModel):
    """One event of an AI application, as stored in MongoDB.

    Only ``type`` is required. ``name`` says what the event is in the words of
    its source: a span, step, run or score name, as OpenTelemetry names spans.
    ``_id`` is not part of the model: the repository takes it from the input
    or makes it. ``created_at`` and ``updated_at`` are set by the repository
    when absent.
    """

    # Numbers given for string fields (a numeric user id) become strings; keys
    # of free maps are left alone, for the codec to store or refuse.
    model_config = ConfigDict(
        extra="allow", coerce_numbers_to_str=True, validate_default=False
    )

    type: EventType
    name: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    parent_id: str | None = None
    seq: int | None = None

    agent: AgentInfo | None = None
    model: ModelInfo | None = None
    role: str | None = None
    content: Any = None
    input: Any = None
    output: Any = None
    tool: ToolInfo | None = None
    usage: Usage | None = None
    cost: Cost | None = None

    status: Status | None = None
    error: ErrorInfo | None = None
    level: Level | None = None

    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    duration_ms: Amount | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None

    tags: list[str] | None = None
    metadata: dict[Any, Any] | None = None
    source: Source | None = None

    deleted: bool = False
    deleted_at: UtcDatetime | None = None
    deleted_by: str | None = None
    delete_reason: str | None = None

    schema_version: int = SCHEMA_VERSION

    @model_validator(mode="after")
    def _fill_duration(self) -> AgentLogEvent:
        if (
            self.duration_ms is None
            and self.started_at is not None
            and self.ended_at is not None
            and self.ended_at >= self.started_at
        ):
            delta = self.ended_at - self.started_at
            self.duration_ms = delta / dt.timedelta(milliseconds=1)
        return self

    @model_validator(mode="after")
    def _check_deletion(self) -> AgentLogEvent:
        # purge and the retention TTL both go by deleted_at: a deleted event
        # needs one, and a live event must never carry one.
        if self.deleted and self.deleted_at is None:
            self.deleted_at = to_utc_millis(dt.datetime.now(dt.timezone.utc))
        elif not self.deleted and (
            self.deleted_at is not None
            or self.deleted_by is not None
            or self.delete_reason is not None
        ):
            raise ValueError(
                "deleted_at, deleted_by and delete_reason belong to deleted "
                "events; set deleted to true or leave them out"
            )
        return self

    def to_document(self) -> dict[str, Any]:
        """The fields that are set, as a plain dict; payloads are not copied."""
        document: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if value is None:
                continue
            if isinstance(value, BaseModel):
                value = _part_to_dict(value)
            document[name] = value
        if self.__pydantic_extra__:
            document.update(self.__pydantic_extra__)
        return document


def _part_to_dict(part: BaseModel) -> dict[str, Any]:
    values = {k: v for k, v in part.__dict__.items() if v is not None}
    if part.__pydantic_extra__:
        values.update(part.__pydantic_extra__)
    return values
