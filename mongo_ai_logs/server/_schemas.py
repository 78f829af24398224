"""Shapes of requests and answers, for the OpenAPI document.

Events themselves are free-form (any field is kept), so the routes read and
write them as JSON directly; these models describe the envelopes around them
and the query parameters shared by several routes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from mongo_ai_logs.codec import to_utc_millis
from mongo_ai_logs.models import EventType
from mongo_ai_logs.server._body import parse_json
from mongo_ai_logs.server._errors import ApiError

__all__ = [
    "ERRORS",
    "BatchResult",
    "DailyOut",
    "DeleteResult",
    "ErrorBody",
    "EventFilters",
    "EventPage",
    "Health",
    "PurgeIn",
    "PurgeOut",
    "RunFilters",
    "RunOut",
    "RunPageOut",
    "SingleResult",
    "StatsOut",
    "WhoAmI",
]

_MAX_VALUE = 1000


class ErrorBody(BaseModel):
    """What every error response carries."""

    error: str = Field(description="A short stable code: invalid_json, not_found...")
    message: str = Field(description="What was wrong, for people.")
    field: str | None = Field(default=None, description="The field to blame.")
    details: list[dict[str, Any]] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 415, 422, 503)
}
"""The error responses every route may give, for ``responses=``."""


class EventPage(BaseModel):
    """One page of events, newest first."""

    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="Pass it as cursor for the next page.")


class RefusedOut(BaseModel):
    """One event of a batch that was not stored."""

    index: int
    reason: str
    field: str | None = None


class BatchResult(BaseModel):
    """What ``POST /v1/events`` did with each event of a batch."""

    ok: bool = Field(description="Whether no event was refused.")
    ids: list[str | None] = Field(description="Per position: the id, or null.")
    inserted: int
    duplicates: int
    refused: list[RefusedOut]


class SingleResult(BaseModel):
    """What ``POST /v1/events`` did with one event."""

    id: str
    inserted: bool = Field(description="False when the event was already stored.")


class DeleteResult(BaseModel):
    """The deletion state of an event after the call."""

    id: str
    deleted: bool


class RunPageOut(BaseModel):
    """One page of runs, newest first."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class RunOut(BaseModel):
    """A run: its summary and its events as trees."""

    run_id: str
    summary: dict[str, Any]
    roots: list[dict[str, Any]]
    truncated: bool = Field(description="Whether the run has more events than shown.")


class StatsOut(BaseModel):
    """Sums per group."""

    group_by: str
    rows: list[dict[str, Any]]


class DailyOut(BaseModel):
    """Sums per UTC day and model."""

    rows: list[dict[str, Any]]


class PurgeIn(BaseModel):
    """The cutoff of a purge."""

    deleted_before: dt.datetime = Field(
        description="Remove the events soft-deleted before this time (ISO 8601; "
        "UTC when no zone is given)."
    )

    @classmethod
    def read(cls, data: Any) -> PurgeIn:
        """Check a parsed body; the time must be an ISO 8601 string.

        Raises:
            ApiError: 422 naming ``deleted_before``.
        """
        value = data.get("deleted_before") if isinstance(data, dict) else None
        try:
            if not isinstance(value, str):
                raise ValueError("it must be a string")
            cutoff = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return cls(deleted_before=to_utc_millis(cutoff))
        except (ValueError, OverflowError) as exc:
            raise ApiError(
                422,
                "invalid_purge",
                'the body must be {"deleted_before": "<ISO 8601 time>"}, got '
                f"{value!r:.80}: {exc}",
                field="deleted_before",
            ) from None


class PurgeOut(BaseModel):
    """How many events a purge removed."""

    purged: int


class WhoAmI(BaseModel):
    """The key behind the request."""

    project: str | None
    role: str
    name: str
    auth: bool = Field(description="Whether the service needs keys.")


class Health(BaseModel):
    """Whether the database answers."""

    status: str
    database: str


def _text(description: str) -> Any:
    return Query(description=description, min_length=1, max_length=_MAX_VALUE)


class EventFilters:
    """The event filters shared by the listing and the statistics."""

    def __init__(
        self,
        user_id: Annotated[str | None, _text("The user's id.")] = None,
        session_id: Annotated[str | None, _text("The session's id.")] = None,
        run_id: Annotated[str | None, _text("The run's id.")] = None,
        type: Annotated[EventType | None, Query(description="The event type.")] = None,
        model: Annotated[str | None, _text("The model's name.")] = None,
        status: Annotated[Literal["ok", "error"] | None, Query()] = None,
        tag: Annotated[
            list[str] | None,
            Query(description="Events having every tag given (repeatable)."),
        ] = None,
        meta: Annotated[
            list[str] | None,
            Query(
                description="Metadata equality, repeatable: KEY=VALUE (a string) or "
                "KEY:=JSON (a number, true, false or null); keys may contain dots."
            ),
        ] = None,
        since: Annotated[
            str | None, _text("started_at from this time (ISO 8601, included).")
        ] = None,
        until: Annotated[
            str | None, _text("started_at before this time (ISO 8601, excluded).")
        ] = None,
    ) -> None:
        self.values: dict[str, Any] = {
            "user_id": user_id,
            "session_id": session_id,
            "run_id": run_id,
            "type": type,
            "model": model,
            "status": status,
            "tags": tag or None,
            "metadata": None if not meta else _metadata_filters(meta),
            "since": since,
            "until": until,
        }

    def given(self) -> dict[str, Any]:
        """The filters that were given, as repository keyword arguments."""
        return {k: v for k, v in self.values.items() if v is not None}


class RunFilters:
    """The filters of the runs listing."""

    def __init__(
        self,
        user_id: Annotated[str | None, _text("A user of the run.")] = None,
        session_id: Annotated[str | None, _text("A session of the run.")] = None,
        model: Annotated[str | None, _text("A model the run called.")] = None,
        type: Annotated[
            EventType | None, Query(description="A type of event the run has.")
        ] = None,
        status: Annotated[
            Literal["ok", "error"] | None,
            Query(description="The run's status: error when one of its events failed."),
        ] = None,
        since: Annotated[
            str | None, _text("Runs with an event from this time (ISO 8601).")
        ] = None,
        until: Annotated[
            str | None, _text("Runs with an event before this time (ISO 8601).")
        ] = None,
    ) -> None:
        self.values: dict[str, Any] = {
            "user_id": user_id,
            "session_id": session_id,
            "model": model,
            "type": type,
            "status": status,
            "since": since,
            "until": until,
        }

    def given(self) -> dict[str, Any]:
        """The filters that were given, as keyword arguments of ``list_runs``."""
        return {k: v for k, v in self.values.items() if v is not None}


def _metadata_filters(items: list[str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key or key == ":":
            raise ApiError(
                422,
                "invalid_filter",
                f"meta {item!r:.80} is not KEY=VALUE (a string) or KEY:=JSON (a "
                "number, true, false or null)",
                field="meta",
            )
        if not key.endswith(":"):
            metadata[key] = value
            continue
        try:
            parsed = parse_json(value)
        except ValueError:
            raise ApiError(
                422,
                "invalid_filter",
                f"meta {item!r:.80}: {value!r:.40} is not JSON; write KEY=VALUE for "
                "a string",
                field="meta",
            ) from None
        if isinstance(parsed, (dict, list)):
            raise ApiError(
                422,
                "invalid_filter",
                f"meta {item!r:.80}: a metadata filter takes one value, not an "
                "object or a list",
                field="meta",
            )
        metadata[key[:-1]] = parsed
    return metadata
