"""Tables, previews and the progress bar: what people see."""

from __future__ import annotations

import io

from mongo_ai_logs.cli._format import (
    Column,
    display_width,
    event_name,
    fit,
    format_cost,
    format_duration,
    format_tokens,
    preview,
    printable,
    render_table,
)
from mongo_ai_logs.cli._progress import ProgressBar


def test_wide_characters_take_two_columns() -> None:
    assert display_width("abc") == 3
    assert display_width("北京天气") == 8
    assert display_width("café") == 4


def test_fit_cuts_by_columns_and_marks_the_cut() -> None:
    assert fit("hello world", 20) == "hello world"
    assert fit("hello world", 6) == "hello…"
    assert fit("北京天气预报", 7) == "北京天…"
    assert display_width(fit("北京天气预报", 7)) <= 7


def test_table_aligns_columns_and_numbers_right() -> None:
    lines = render_table(
        [Column("NAME"), Column("COUNT", align="right")],
        [["alpha", "5"], ["北京", "1,200"]],
    )

    assert lines == ["NAME   COUNT", "alpha      5", "北京   1,200"]


def test_table_narrows_then_drops_the_flexible_column() -> None:
    columns = [Column("ID"), Column("SUMMARY", flex=True)]
    rows = [["0123456789", "a long summary of what happened in this event"]]

    narrowed = render_table(columns, rows, width=30)
    dropped = render_table(columns, rows, width=15)

    assert all(display_width(line) <= 30 for line in narrowed)
    assert narrowed[1].endswith("…")
    assert dropped == ["ID", "0123456789"]


def test_names_and_previews_by_event_type() -> None:
    llm = {
        "type": "llm_call",
        "model": {"name": "gpt-4o"},
        "output": {
            "object": "chat.completion",
            "choices": [{"message": {"role": "assistant", "content": "Hi  there"}}],
        },
    }
    tool = {"type": "tool_call", "tool": {"name": "search", "result": {"n": 3}}}
    step = {"type": "agent_step", "input": "ls -la", "output": "total 0\nfile"}
    failed = {"type": "tool_call", "error": {"type": "Timeout", "message": "slow"}}
    score = {"type": "evaluation", "output": {"name": "toxicity", "value": 0.1}}

    assert (event_name(llm), preview(llm, 80)) == ("gpt-4o", "Hi there")
    assert (event_name(tool), preview(tool, 80)) == ("search", '{"n":3}')
    assert preview(step, 80) == "ls -la → total 0 file"
    assert preview(failed, 80) == "error: Timeout: slow"
    assert (event_name(score), preview(score, 80)) == ("toxicity", "0.1")


def test_previews_read_the_text_of_responses_api_and_anthropic_outputs() -> None:
    responses = {
        "type": "llm_call",
        "output": {
            "object": "response",
            "output": [
                {"type": "reasoning", "summary": []},
                {
                    "type": "message",
                    "content": [{"type": "output_text", "text": "Here is the chart."}],
                },
            ],
        },
    }
    anthropic = {
        "type": "llm_call",
        "output": {
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": 1}},
            ],
        },
    }
    reasoning_only = {
        "type": "llm_call",
        "output": {"object": "response", "output": [{"type": "reasoning"}]},
    }

    assert preview(responses, 80) == "Here is the chart."
    assert preview(anthropic, 80) == 'Checking.; calls lookup({"q":1})'
    assert preview(reasoning_only, 80) == "[reasoning]"


def test_durations_tokens_and_cost_read_well() -> None:
    assert format_duration(850) == "850 ms"
    assert format_duration(1250) == "1.2 s"
    assert format_duration(125_000) == "2 min 5 s"
    assert format_duration(None) == ""
    assert format_tokens({"input_tokens": 1200, "output_tokens": 40}) == "1,200/40"
    assert format_tokens({"total_tokens": 77}) == "77"
    assert format_tokens(None) == ""
    assert format_cost(0.000204) == "$0.000204"
    assert format_cost(1.26719) == "$1.2672"
    assert format_cost(None) == ""


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_waits_before_drawing_and_wipes_its_line() -> None:
    stream, clock = io.StringIO(), _Clock()
    bar = ProgressBar(stream, "file.jsonl", enabled=True, delay=0.5, clock=clock)

    bar.update(10, 100)
    assert stream.getvalue() == ""

    clock.now = 1.0
    bar.update(50, 100)
    drawn = stream.getvalue()
    assert drawn.startswith("\rfile.jsonl")
    assert "50%" in drawn

    bar.close()
    assert stream.getvalue().endswith("\r")
    assert stream.getvalue()[len(drawn) :].strip() == ""


def test_progress_without_a_total_counts() -> None:
    stream, clock = io.StringIO(), _Clock()
    bar = ProgressBar(stream, "stdin", enabled=True, delay=0, clock=clock)

    bar.update(12_345, None)

    assert "12,345" in stream.getvalue()


def test_disabled_progress_draws_nothing() -> None:
    stream, clock = io.StringIO(), _Clock()
    bar = ProgressBar(stream, "x", enabled=False, delay=0, clock=clock)

    clock.now = 5
    bar.update(1, 2)
    bar.close()

    assert stream.getvalue() == ""


def test_what_a_terminal_would_act_on_is_written_as_escapes() -> None:
    text = "a\x1b[2J\x1b]52;c;aGk=\x07b\u202ec\u2066d\x9b\x7f\x00\ud800\r\n\te"

    assert printable(text) == (
        "a\\x1b[2J\\x1b]52;c;aGk=\\x07b\\u202ec\\u2066d\\x9b\\x7f\\x00\\ud800"
        "\\x0d\\x0a\\te"
    )
    assert printable("tab\tkept", tabs=True) == "tab\tkept"
    assert printable("plain, wide 中文, accents é, a \\ backslash") == (
        "plain, wide 中文, accents é, a \\ backslash"
    )


def test_table_cells_are_escaped_before_they_are_measured() -> None:
    lines = render_table(
        [Column("A"), Column("B")], [["\x1b[31mred", "x"], ["\u202eab", "y"]]
    )

    assert lines == ["A            B", "\\x1b[31mred  x", "\\u202eab     y"]
