"""A small fake agent that logs its runs with mongo_ai_logs.capture.

It answers travel questions with a pretend LLM (OpenAI-style and
Anthropic-style response dicts, no provider SDK) and a pretend forecast
tool, and logs every run, message, LLM call and tool call. At the end it reads
back the events of its session and checks that each one it recorded is stored
exactly once.

    MONGODB_URI=mongodb://127.0.0.1:27017/ python examples/fake_agent.py --runs 50

Stop the database while it runs and start it again: the agent does not slow
down, events wait in the spool, and the check at the end still passes.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
import uuid
from typing import Any

from mongo_ai_logs import AgentLogRepository, MongoAILogsError, Settings
from mongo_ai_logs.capture import AgentLogger

CITIES = ["Lisbon", "Oslo", "Kyoto", "Lima", "Nairobi", "Quebec"]


def openai_asks_for_tool(city: str) -> dict[str, Any]:
    """What the OpenAI Chat Completions API returns when it wants a tool."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"call_{uuid.uuid4().hex[:8]}",
                            "type": "function",
                            "function": {
                                "name": "get_forecast",
                                "arguments": json.dumps({"city": city}),
                            },
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 412,
            "completion_tokens": 18,
            "total_tokens": 430,
            "prompt_tokens_details": {"cached_tokens": 256},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def anthropic_answers(city: str, forecast: dict[str, Any]) -> dict[str, Any]:
    """What the Anthropic Messages API returns for the final answer."""
    text = f"{city} tomorrow: {forecast['summary']}, {forecast['high_c']}°C."
    return {
        "id": f"msg_{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [
            {"type": "thinking", "thinking": "The tool gave the forecast."},
            {"type": "text", "text": text},
        ],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 120,
            "cache_read_input_tokens": 900,
            "cache_creation_input_tokens": 0,
            "output_tokens": 30,
        },
    }


def get_forecast(city: str) -> dict[str, Any]:
    """The pretend tool; fails now and then, like real ones."""
    if random.random() < 0.05:
        raise TimeoutError(f"forecast service timed out for {city}")
    return {
        "city": city,
        "high_c": random.randint(5, 32),
        "summary": random.choice(["sunny", "cloudy", "light rain"]),
    }


def answer(
    log: AgentLogger, question: str, city: str, latency: float, ids: set[str]
) -> None:
    """One agent run: question, LLM asks for a tool, tool, LLM answers.

    The id of every event recorded is added to ``ids``.
    """
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    ids.add(log.message("user", question))

    with log.llm_call(model="gpt-4o-mini", provider="openai", input=messages) as call:
        ids.add(call.id)
        time.sleep(latency)
        response = openai_asks_for_tool(city)
        call.record(response, cost={"input": 0.00006, "output": 0.00001})
    tool_call = response["choices"][0]["message"]["tool_calls"][0]
    messages.append(response["choices"][0]["message"])

    with log.tool_call(
        "get_forecast",
        arguments=json.loads(tool_call["function"]["arguments"]),
        call_id=tool_call["id"],
    ) as tool:
        ids.add(tool.id)
        forecast = get_forecast(city)
        tool.result = forecast
    messages.append({"role": "tool", "content": json.dumps(forecast)})

    with log.llm_call(model="claude-sonnet-4", input=messages) as call:
        ids.add(call.id)
        time.sleep(latency)
        final = anthropic_answers(city, forecast)
        call.record(final)
    ids.add(log.message("assistant", final["content"][1]["text"]))


def read_back(session: str, wait: float = 60.0) -> tuple[list[str] | None, int]:
    """The stored ids of the session's events, waiting for the database."""
    deadline = time.monotonic() + wait
    while True:
        try:
            repo = AgentLogRepository.from_settings(Settings.load())
            stored = [event["_id"] for event in repo.iter_events(session_id=session)]
            return stored, repo.count(session_id=session, status="error")
        except MongoAILogsError as exc:
            if time.monotonic() > deadline:
                return None, 0
            print(f"cannot read back yet ({type(exc).__name__}); waiting")
            time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--latency", type=float, default=0.01, help="seconds per LLM call"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    session = f"fake-{uuid.uuid4().hex[:8]}"
    recorded: set[str] = set()
    log = AgentLogger.from_settings(agent="fake-travel-agent", agent_version="0.1")
    started = time.monotonic()
    for n in range(args.runs):
        city = random.choice(CITIES)
        try:
            with log.run(user_id=f"user-{n % 7}", session_id=session) as run:
                recorded.add(run.id)
                answer(
                    log, f"Weather in {city} tomorrow?", city, args.latency, recorded
                )
        except TimeoutError:
            pass  # recorded on the tool call and the run, as errors
        if (n + 1) % 10 == 0:
            print(f"run {n + 1}/{args.runs}: {log.stats()}", flush=True)
    agent_time = time.monotonic() - started
    log.close(timeout=60)
    stats = log.stats()
    print(f"agent finished {args.runs} runs in {agent_time:.1f} s; writer: {stats}")

    print(f"session {session}: {len(recorded)} events recorded")
    stored, errors = read_back(session)
    if stored is None:
        print("the database is still down: the spool keeps the events; run again")
        return 2
    print(
        f"session {session}: {len(stored)} stored, {len(set(stored))} distinct, "
        f"{errors} with status error"
    )
    ok = len(stored) == len(set(stored)) and set(stored) == recorded
    print("every event stored exactly once" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
