"""The examples of docs/capture.md run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "capture.md"


def code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_main_example_runs_and_stores_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(code_blocks()[0], str(DOC), "exec"), namespace)

    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 6  # run, message, 2 LLM calls, tool call, evaluation
    assert namespace["log"].stats().written == 6
    usage = namespace["repo"].get(namespace["call"].id)["usage"]
    assert usage["cache_read_input_tokens"] == 900


def test_the_redaction_hook_example_works() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(code_blocks()[2], str(DOC), "exec"), namespace)
    event = namespace["hide_emails"]({"content": "write to bob@example.com"})
    assert event["content"] == "write to <email>"
    namespace["log"].close()
