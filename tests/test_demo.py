"""The demo runs end to end as a user runs it: ``python main.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SERVER_URI
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _run_main(env_changes: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MONGODB_", "AI_LOGS_"))
    }
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_demo_runs_on_the_embedded_default() -> None:
    result = _run_main({})

    assert result.returncode == 0, result.stderr
    for step in (
        "1. Connecting",
        "ping ok",
        "Indexes ready",
        "Stored an agent run of 4",
        "find hides it (True)",
        "count is 3",
        "count is back to 4",
        "gpt-4o-mini",
        "Done.",
    ):
        assert step in result.stdout, step


@pytest.mark.skipif(SERVER_URI is None, reason="needs MONGODB_TEST_URI")
def test_demo_runs_on_a_real_server() -> None:
    result = _run_main(
        {"MONGODB_URI": SERVER_URI or "", "MONGODB_DB": "ai_logs_demo_test"}
    )

    assert result.returncode == 0, result.stderr
    assert "Cleaned up" in result.stdout


def test_demo_fails_with_one_clear_line_and_no_password() -> None:
    secret = "hunter2-Secret"
    result = _run_main(
        {
            "MONGODB_URI": f"mongodb://app:{secret}@127.0.0.1:{free_port()}/",
            "MONGODB_TIMEOUT_MS": "500",
        }
    )

    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "cannot reach MongoDB at 127.0.0.1" in result.stderr
    assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_demo_refuses_a_malformed_uri_without_showing_the_password() -> None:
    result = _run_main({"MONGODB_URI": "mongodb://app:p@ss-Secret9@db.example.net/"})

    assert result.returncode == 1
    assert "percent-encode" in result.stderr
    assert "Secret9" not in result.stdout + result.stderr
