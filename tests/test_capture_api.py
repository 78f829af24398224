"""The capture API: what each block records, and how blocks nest."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from bson.objectid import ObjectId

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.capture import AgentLogger
from tests.capture_support import (
    FAST,
    anthropic_response,
    openai_chat_response,
    openai_responses_response,
    openai_tool_call_response,
)


@pytest.fixture
def log(repo: AgentLogRepository) -> Iterator[AgentLogger]:
    logger = AgentLogger(
        repo, settings=FAST, agent="travel-assistant", agent_version="1.3"
    )
    yield logger
    logger.close()


def stored(
    log: AgentLogger, repo: AgentLogRepository, **filters: Any
) -> list[dict[str, Any]]:
    assert log.flush(10)
    return list(repo.iter_events(**filters))


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["_id"]: e for e in events}


def test_run_records_its_events_with_run_user_session_and_agent(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.run(
        user_id="u-42", session_id="s-7", tags=["beta"], metadata={"plan": "pro"}
    ) as run:
        message_id = log.message("user", "Weather in Lisbon tomorrow?")

    events = by_id(stored(log, repo, run_id=run.run_id))
    run_event, message = events[run.id], events[message_id]
    assert run.run_id == run.id
    assert run_event["type"] == "run"
    assert run_event["status"] == "ok"
    assert run_event["tags"] == ["beta"]
    assert run_event["metadata"] == {"plan": "pro"}
    for event in (run_event, message):
        assert event["user_id"] == "u-42"
        assert event["session_id"] == "s-7"
        assert event["agent"] == {"name": "travel-assistant", "version": "1.3"}
    assert message["parent_id"] == run.id
    assert message["role"] == "user"
    assert message["content"] == "Weather in Lisbon tomorrow?"
    assert (run_event["seq"], message["seq"]) == (0, 1)


def test_blocks_nest_as_the_code_does(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.run() as run:
        with log.step("plan") as plan:
            with log.llm_call(model="gpt-4o-mini") as call:
                call.record(openai_chat_response())
            with log.tool_call("get_forecast", arguments={"city": "Lisbon"}) as tool:
                tool.result = {"high_c": 19}
        answer = log.message("assistant", "Sunny")

    events = by_id(stored(log, repo, run_id=run.run_id))
    assert events[plan.id]["parent_id"] == run.id
    assert events[plan.id]["type"] == "agent_step"
    assert events[plan.id]["name"] == "plan"
    assert events[call.id]["parent_id"] == plan.id
    assert events[tool.id]["parent_id"] == plan.id
    assert events[answer]["parent_id"] == run.id
    assert log.current() is None
    seqs = [events[i]["seq"] for i in (run.id, plan.id, call.id, tool.id, answer)]
    assert seqs == sorted(seqs) == list(range(5))


def test_llm_call_reads_an_openai_chat_completion(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    messages = [{"role": "user", "content": "Weather in Lisbon?"}]
    with log.llm_call(
        model="gpt-4o-mini", input=messages, parameters={"temperature": 0.2}
    ) as call:
        call.record(openai_chat_response(), cost={"input": 0.0002, "output": 0.00002})

    event = by_id(stored(log, repo))[call.id]
    assert event["type"] == "llm_call"
    assert event["model"] == {
        "provider": "openai",
        "name": "gpt-4o-mini-2024-07-18",
        "parameters": {"temperature": 0.2},
    }
    assert event["input"] == messages
    assert event["output"] == "Sunny, 19°C."
    assert event["metadata"]["finish_reason"] == "stop"
    assert event["metadata"]["response_id"] == "chatcmpl-9xY2"
    assert event["usage"] == {
        "input_tokens": 1200,
        "output_tokens": 40,
        "total_tokens": 1240,
        "cache_read_input_tokens": 1024,
        "reasoning_tokens": 12,
    }
    assert event["cost"]["total"] == pytest.approx(0.00022)


def test_llm_call_keeps_the_tool_calls_the_model_asked_for(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.llm_call() as call:
        call.record(openai_tool_call_response())

    event = by_id(stored(log, repo))[call.id]
    assert event["metadata"]["finish_reason"] == "tool_calls"
    assert event["output"] == {
        "tool_calls": [
            {
                "name": "get_forecast",
                "call_id": "call_Wx1",
                "arguments": {"city": "Lisbon"},
            }
        ]
    }


def test_llm_call_reads_an_openai_responses_object(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.llm_call() as call:
        call.record(openai_responses_response())

    event = by_id(stored(log, repo))[call.id]
    assert event["model"]["name"] == "o4-mini-2025-04-16"
    assert event["output"] == "Take a light jacket."
    assert event["metadata"]["reasoning"] == "Check the forecast."
    assert event["metadata"]["finish_reason"] == "completed"
    assert event["usage"]["reasoning_tokens"] == 448
    assert event["usage"]["cache_read_input_tokens"] == 128


def test_llm_call_reads_an_anthropic_message_with_cache_tokens(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.llm_call(model="claude-sonnet-4") as call:
        call.record(anthropic_response())

    event = by_id(stored(log, repo))[call.id]
    assert event["model"]["provider"] == "anthropic"
    assert event["model"]["name"] == "claude-sonnet-4-20250514"
    assert event["output"] == "Expect 24°C and sun."
    assert event["metadata"]["finish_reason"] == "end_turn"
    assert event["metadata"]["reasoning"] == "Lisbon in June is warm."
    assert event["usage"] == {
        "input_tokens": 2150,
        "output_tokens": 80,
        "total_tokens": 2230,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 100,
    }


def test_llm_call_reads_an_sdk_object_through_model_dump(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    class FakeSDKMessage:
        def model_dump(self) -> dict[str, Any]:
            return anthropic_response()

    with log.llm_call() as call:
        call.record(FakeSDKMessage())

    assert by_id(stored(log, repo))[call.id]["usage"]["output_tokens"] == 80


def test_llm_call_stores_an_unknown_response_as_output(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.llm_call(model="local-llama") as call:
        call.record({"text": "hello"})

    event = by_id(stored(log, repo))[call.id]
    assert event["output"] == {"text": "hello"}
    assert event["model"] == {"name": "local-llama"}


def test_an_exception_is_recorded_on_its_block_and_raised_unchanged(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    error = TimeoutError("the provider did not answer in 30 s")
    with (
        pytest.raises(TimeoutError) as raised,
        log.run() as run,
        log.llm_call(model="gpt-4o") as call,
    ):
        raise error

    assert raised.value is error
    events = by_id(stored(log, repo, run_id=run.run_id))
    for event_id in (call.id, run.id):
        event = events[event_id]
        assert event["status"] == "error"
        assert event["error"]["type"] == "TimeoutError"
        assert event["error"]["message"] == "the provider did not answer in 30 s"
        assert "raise error" in event["error"]["traceback"]


def test_error_type_names_the_module_of_a_library_exception(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    class RateLimitError(Exception):
        pass

    with pytest.raises(RateLimitError), log.tool_call("search") as tool:
        raise RateLimitError("429")
    assert by_id(stored(log, repo))[tool.id]["error"]["type"].endswith(
        "test_error_type_names_the_module_of_a_library_exception.<locals>.RateLimitError"
    )


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")


def test_an_exception_whose_message_cannot_be_read_is_still_recorded(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    error = UnprintableError()
    with pytest.raises(UnprintableError) as raised, log.tool_call("search") as tool:
        raise error
    with log.tool_call("fetch") as handled:
        handled.fail(UnprintableError())

    assert raised.value is error
    events = by_id(stored(log, repo))
    for event_id in (tool.id, handled.id):
        assert events[event_id]["status"] == "error"
        assert "cannot be read" in events[event_id]["error"]["message"]
    assert log.stats().refused == 0


def test_one_block_shared_by_two_tasks_records_each_tasks_outcome(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    search = log.tool_call("search")
    opened: dict[str, Any] = {}

    async def call(name: str, fail: bool, delay: float) -> None:
        async with search as span:
            opened[name] = span
            await asyncio.sleep(delay)
            if fail:
                raise ValueError("no results")

    async def both() -> None:
        # The failing task opens first and ends first.
        results = await asyncio.gather(
            call("failing", True, 0.01),
            call("working", False, 0.05),
            return_exceptions=True,
        )
        assert isinstance(results[0], ValueError)

    asyncio.run(both())

    events = by_id(stored(log, repo))
    assert events[opened["failing"].id]["status"] == "error"
    assert events[opened["working"].id]["status"] == "ok"
    assert "error" not in events[opened["working"].id]


def test_a_handled_failure_can_be_marked_without_raising(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.tool_call("search") as tool:
        tool.fail("no results")
    event = by_id(stored(log, repo))[tool.id]
    assert event["status"] == "error"
    assert event["error"]["message"] == "no results"


def test_duration_comes_from_a_monotonic_clock_and_started_at_from_the_wall(
    log: AgentLogger, repo: AgentLogRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter([100.0, 100.25])
    monkeypatch.setattr("mongo_ai_logs.capture.logger._clock", lambda: next(ticks))
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(milliseconds=1)
    with log.step("think") as step:
        pass
    monkeypatch.undo()

    event = by_id(stored(log, repo))[step.id]
    assert event["duration_ms"] == pytest.approx(250.0)
    assert event["started_at"] >= before
    assert event["ended_at"] - event["started_at"] == pytest.approx(
        dt.timedelta(milliseconds=250), abs=dt.timedelta(milliseconds=1)
    )


def test_event_id_is_made_when_the_block_opens(log: AgentLogger) -> None:
    with log.step("x") as step:
        assert ObjectId.is_valid(step.id)
        assert log.flush(5)
        assert log.stats().written == 0  # not written before it ends


def test_payloads_are_copied_when_recorded(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    messages = [{"role": "user", "content": "first"}]
    with log.llm_call(input=messages) as call:
        call.record(openai_chat_response())
        messages.append({"role": "assistant", "content": "Sunny, 19°C."})
        messages[0]["content"] = "changed"

    assert by_id(stored(log, repo))[call.id]["input"] == [
        {"role": "user", "content": "first"}
    ]


def test_sdk_objects_inside_payloads_are_stored_as_dicts(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    class Message:
        def model_dump(self) -> dict[str, Any]:
            return {"role": "assistant", "content": "hi"}

    with log.llm_call(input=[{"role": "user", "content": "hey"}, Message()]) as call:
        pass
    assert by_id(stored(log, repo))[call.id]["input"][1] == {
        "role": "assistant",
        "content": "hi",
    }


def test_decorated_functions_record_sync_and_async_calls(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    @log.tool_call("add")
    def add(a: int, b: int = 0) -> int:
        return a + b

    @log.run(agent="math-agent")
    async def agent(x: int) -> int:
        await asyncio.sleep(0)
        return add(x, b=2)

    assert asyncio.run(agent(40)) == 42
    events = stored(log, repo, type="tool_call")
    assert len(events) == 1
    tool = events[0]
    assert tool["tool"] == {"name": "add", "arguments": {"a": 40, "b": 2}, "result": 42}
    run = repo.get(tool["parent_id"])
    assert run is not None
    assert run["type"] == "run"
    assert run["agent"]["name"] == "math-agent"
    assert run["output"] == 42


def test_decorated_function_records_each_call_as_its_own_event(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    @log.step("turn")
    def turn() -> None:
        pass

    turn()
    turn()
    assert len({e["_id"] for e in stored(log, repo, type="agent_step")}) == 2


def test_decorated_function_raises_unchanged_and_records_the_error(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    @log.tool_call("fetch")
    async def fetch(url: str) -> str:
        raise ConnectionResetError(url)

    with pytest.raises(ConnectionResetError):
        asyncio.run(fetch("https://example.com"))
    [event] = stored(log, repo, type="tool_call")
    assert event["status"] == "error"
    assert event["tool"]["arguments"] == {"url": "https://example.com"}


def test_decorating_a_generator_is_refused(log: AgentLogger) -> None:
    def stream() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        log.step("stream")(stream)


def test_decorated_llm_call_reads_the_returned_response(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    @log.llm_call(model="claude")
    def ask(question: str) -> dict[str, Any]:
        return anthropic_response()

    ask("weather?")
    [event] = stored(log, repo, type="llm_call")
    assert event["usage"]["cache_read_input_tokens"] == 2000


def test_asyncio_tasks_each_keep_their_own_parent(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    async def worker(name: str) -> tuple[str, str]:
        with log.step(name) as step:
            await asyncio.sleep(0.01)  # let the other tasks open their steps
            with log.tool_call("lookup") as tool:
                await asyncio.sleep(0.01)
        return step.id, tool.id

    async def main() -> list[tuple[str, str]]:
        with log.run():
            return await asyncio.gather(*(worker(f"w{i}") for i in range(4)))

    pairs = asyncio.run(main())
    events = by_id(stored(log, repo))
    for step_id, tool_id in pairs:
        assert events[tool_id]["parent_id"] == step_id


def test_threads_each_keep_their_own_parent(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    pairs: list[tuple[str, str]] = []
    barrier = threading.Barrier(4)

    def worker(run_context: contextvars.Context, name: str) -> None:
        def body() -> None:
            with log.step(name) as step:
                barrier.wait()
                with log.tool_call("lookup") as tool:
                    barrier.wait()
            pairs.append((step.id, tool.id))

        run_context.run(body)

    with log.run() as run:
        threads = [
            threading.Thread(target=worker, args=(contextvars.copy_context(), f"t{i}"))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    events = by_id(stored(log, repo))
    assert len(pairs) == 4
    for step_id, tool_id in pairs:
        assert events[step_id]["parent_id"] == run.id
        assert events[tool_id]["parent_id"] == step_id


def test_a_new_thread_starts_outside_any_block_and_nests_from_a_span(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    seen: dict[str, Any] = {}

    with log.run() as run:

        def worker() -> None:
            seen["current"] = log.current()
            with run.step("in-thread") as step:
                seen["step"] = step.id

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()

    assert seen["current"] is None
    assert by_id(stored(log, repo))[seen["step"]]["parent_id"] == run.id


def test_a_run_inside_a_run_is_a_child_run(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.run(user_id="u-1") as outer, log.run(agent="researcher") as inner:
        log.message("assistant", "found it")

    events = by_id(stored(log, repo))
    assert events[inner.id]["parent_id"] == outer.id
    assert inner.run_id != outer.run_id
    assert events[inner.id]["user_id"] == "u-1"
    assert events[inner.id]["agent"]["name"] == "researcher"


def test_evaluation_points_at_the_event_it_judges(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    with log.run() as run:
        with log.llm_call() as call:
            call.record(openai_chat_response())
        evaluation_id = log.evaluation(
            "helpfulness", score=0.9, comment="accurate", target=call
        )
        label_id = run.evaluation("task_done", label="yes")

    events = by_id(stored(log, repo))
    assert events[evaluation_id]["type"] == "evaluation"
    assert events[evaluation_id]["parent_id"] == call.id
    assert events[evaluation_id]["name"] == "helpfulness"
    assert events[evaluation_id]["output"] == {"score": 0.9, "comment": "accurate"}
    assert events[label_id]["parent_id"] == run.id
    assert events[label_id]["run_id"] == run.run_id


def test_events_outside_a_run_are_stored_without_a_run(
    log: AgentLogger, repo: AgentLogRepository
) -> None:
    event_id = log.event("debug", level="info", content="warming up")
    event = by_id(stored(log, repo))[event_id]
    assert "run_id" not in event
    assert "parent_id" not in event
    assert event["level"] == "info"


def test_recording_never_raises_into_the_agent(
    log: AgentLogger, repo: AgentLogRepository, caplog: pytest.LogCaptureFixture
) -> None:
    class Unstorable:
        pass

    with log.step("odd", input={"value": Unstorable()}) as step:
        pass
    assert log.flush(5)
    assert log.stats().refused == 1
    assert repo.get(step.id) is None
    assert "refused" in caplog.text


def test_calling_thread_does_not_wait_for_the_database(
    repo: AgentLogRepository,
) -> None:
    release = threading.Event()
    writing = threading.Event()

    class BlockedStore:
        def insert_many(self, events: Any) -> Any:
            writing.set()
            release.wait(30)
            return repo.insert_many(events)

    log = AgentLogger(BlockedStore(), settings=FAST)  # type: ignore[arg-type]
    try:
        with log.step("first"):
            pass
        assert writing.wait(10)
        for _ in range(50):
            with log.step("while the database is stuck"):
                pass
        during = log.stats()
        release.set()
        assert log.flush(10)
    finally:
        release.set()
        log.close()
    assert during.written == 0
    assert during.queued == 50
    assert repo.count(type="agent_step") == 51
