"""A walk through the repository on a realistic agent run.

Run it with ``python main.py`` or ``mongo-ai-logs demo``. Without
``MONGODB_URI`` it uses the embedded in-memory backend; with it, the demo
writes to a project of its own (``demo-<random>``) and leaves the rest of the
collection alone.
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from typing import Any, TextIO

from mongo_ai_logs.agent_log_repository import AgentLogRepository
from mongo_ai_logs.client import MongoConnection
from mongo_ai_logs.config import Settings

__all__ = ["demo_run_events", "run_demo"]


def demo_run_events(run_id: str, start: dt.datetime) -> list[dict[str, Any]]:
    """The events of one short agent run: a question, an LLM call that asks for
    a tool, the tool call with its output, and the answer."""
    user, session = "user-42", f"session-{run_id[:8]}"
    agent = {"name": "travel-assistant", "version": "1.3.0"}

    def at(seconds: float) -> dt.datetime:
        return start + dt.timedelta(seconds=seconds)

    common = {"user_id": user, "session_id": session, "run_id": run_id, "agent": agent}
    return [
        {
            **common,
            "type": "message",
            "seq": 0,
            "role": "user",
            "content": "What's the weather in Lisbon tomorrow? I land at 9am.",
            "started_at": at(0),
            "tags": ["demo"],
        },
        {
            **common,
            "type": "llm_call",
            "seq": 1,
            "model": {
                "provider": "openai",
                "name": "gpt-4o-mini",
                "parameters": {"temperature": 0.2},
            },
            "input": [{"role": "user", "content": "What's the weather in Lisbon?"}],
            "output": {
                "tool_calls": [
                    {"name": "get_forecast", "arguments": {"city": "Lisbon"}}
                ]
            },
            "usage": {"input_tokens": 412, "output_tokens": 23},
            "cost": {"input": 0.0000618, "output": 0.0000138},
            "status": "ok",
            "started_at": at(0.1),
            "ended_at": at(0.9),
            "metadata": {"llm.request.type": "chat", "finish_reason": "tool_calls"},
            "tags": ["demo"],
        },
        {
            **common,
            "type": "tool_call",
            "seq": 2,
            "tool": {
                "name": "get_forecast",
                "call_id": "call_7Hq2d",
                "arguments": {"city": "Lisbon", "date": "tomorrow"},
                "result": {"high_c": 19, "low_c": 12, "summary": "sunny, light wind"},
            },
            "status": "ok",
            "started_at": at(0.9),
            "ended_at": at(1.3),
            "tags": ["demo"],
        },
        {
            **common,
            "type": "message",
            "seq": 3,
            "role": "assistant",
            "content": "Sunny in Lisbon tomorrow: 12-19°C with a light wind.",
            "started_at": at(1.4),
            "tags": ["demo"],
        },
    ]


def run_demo(settings: Settings | None = None, *, out: TextIO = sys.stdout) -> None:
    """Run the demo, printing what each step did to ``out``.

    Raises:
        MongoAILogsError: Any step failed; the message says which and why.
    """

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    connection = MongoConnection(settings)
    where = (
        connection.settings.masked_uri or "the embedded in-memory backend (mongomock)"
    )
    say(f"1. Connecting to {where} ...")
    connection.ping()
    say(f"   ping ok, server {connection.server_version()}")

    project = None if connection.settings.embedded else f"demo-{uuid.uuid4().hex[:8]}"
    repo = AgentLogRepository(
        connection.collection,
        project_id=project,
        retention_days=connection.settings.retention_days,
    )
    names = repo.ensure_indexes()
    say(f"2. Indexes ready on {repo.collection.full_name}: {', '.join(names)}")

    run_id = uuid.uuid4().hex
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    report = repo.insert_many(demo_run_events(run_id, start))
    say(
        f"3. Stored an agent run of {len(report.inserted_ids)} events "
        f"(run {run_id[:8]}): user message, LLM call, tool call, answer"
    )
    ids = [i for i in report.ids if i is not None]

    page = repo.find(user_id="user-42", run_id=run_id)
    say(f"4. Events of user-42 in this run, newest first ({len(page.items)}):")
    for event in page.items:
        say(f"   - {event['type']:<9} {event['_id']}  {_summary(event)}")

    llm_call_id = ids[1]
    repo.add_usage(llm_call_id, input_tokens=120, output_tokens=40, cost=0.00004)
    usage = (repo.get(llm_call_id) or {}).get("usage", {})
    say(
        f"5. Added a retry's usage to the LLM call atomically: now "
        f"{usage.get('input_tokens')} in / {usage.get('output_tokens')} out tokens"
    )

    tool_call_id = ids[2]
    repo.soft_delete(tool_call_id, by="demo", reason="contains a customer address")
    after_delete = repo.count(run_id=run_id)
    hidden = all(e["_id"] != tool_call_id for e in repo.find(run_id=run_id).items)
    say(
        f"6. Soft-deleted the tool call: find hides it ({hidden}), count is "
        f"{after_delete}, and it is still there for include_deleted="
        f"{repo.get(tool_call_id, include_deleted=True) is not None}"
    )

    repo.restore(tool_call_id)
    say(f"7. Restored it: count is back to {repo.count(run_id=run_id)}")

    say("8. Usage by model:")
    for row in repo.usage_stats(group_by="model", run_id=run_id):
        say(
            f"   {row['model'] or '(no model)':<14} events {row['events']:>2}  "
            f"tokens {row['input_tokens']:>4} in / {row['output_tokens']:>3} out  "
            f"cost ${row['cost']:.6f}"
        )
    if project is not None:
        removed = repo.soft_delete_many(
            run_id=run_id, by="demo", reason="demo clean-up"
        )
        say(
            f"9. Cleaned up: soft-deleted the demo's {removed} events "
            f"in project {project}"
        )
    say("Done.")


def _summary(event: dict[str, Any]) -> str:
    if event["type"] == "message":
        return f"{event.get('role')}: {str(event.get('content'))[:50]}"
    if event["type"] == "llm_call":
        usage = event.get("usage", {})
        return (
            f"{event['model']['name']}: {usage.get('input_tokens')} in / "
            f"{usage.get('output_tokens')} out tokens"
        )
    if event["type"] == "tool_call":
        return f"{event['tool']['name']} -> {event['tool']['result']}"
    return ""
