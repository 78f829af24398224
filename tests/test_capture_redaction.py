"""Redaction: credentials are masked before events leave the process."""

from __future__ import annotations

from collections import OrderedDict, defaultdict, namedtuple
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.capture import AgentLogger, Refusal, redact_secrets, redact_text
from tests.capture_support import FAST

OPENAI_KEY = "sk-proj-R4nd0mLooking_Key-9f8e7d6c5b4a3210ZYXWVUtsrq"
ANTHROPIC_KEY = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0-Ed_CbA-QQQQ"
AWS_KEY = "AKIAZ7QX4N2LW3PJ5R6T"
GITHUB_TOKEN = "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ"
SLACK_TOKEN = "xoxb-2048-1234567890-AbCdEfGhIjKlMnOp"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTQyIn0.c2lnbmF0dXJlMTIz"
SECRETS = [OPENAI_KEY, ANTHROPIC_KEY, AWS_KEY, GITHUB_TOKEN, SLACK_TOKEN, JWT]


def leaked(value: Any) -> list[str]:
    text = repr(value)
    return [s for s in [*SECRETS, "hunter2", "dXNlcjpodW50ZXIy"] if s in text]


def test_an_http_request_log_loses_its_keys_and_keeps_the_rest() -> None:
    event = {
        "type": "llm_call",
        "input": {
            "url": "https://api.openai.com/v1/chat/completions",
            "headers": {
                "Authorization": f"Bearer {OPENAI_KEY}",
                "OpenAI-Organization": "org-123",
                "x-api-key": ANTHROPIC_KEY,
                "Content-Type": "application/json",
            },
            "body": {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "What's 2+2?"}],
                "max_tokens": 100,
            },
        },
        "metadata": {"env": {"AWS_ACCESS_KEY_ID": AWS_KEY, "HOME": "/home/agent"}},
    }

    redacted = redact_secrets(event)

    assert leaked(redacted) == []
    headers = redacted["input"]["headers"]
    assert headers["Authorization"] == "***"
    assert headers["x-api-key"] == "***"
    assert headers["Content-Type"] == "application/json"
    assert redacted["input"]["body"] == event["input"]["body"]
    assert redacted["metadata"]["env"] == {
        "AWS_ACCESS_KEY_ID": "AKIA***",
        "HOME": "/home/agent",
    }
    assert event["input"]["headers"]["Authorization"].endswith(OPENAI_KEY)  # unchanged


def test_keys_inside_free_text_are_masked_with_their_kind_kept() -> None:
    output = (
        f"export OPENAI_API_KEY={OPENAI_KEY}\n"
        f"ANTHROPIC_API_KEY='{ANTHROPIC_KEY}'\n"
        f"git remote set-url origin https://x-access-token:{GITHUB_TOKEN}@github.com/a/b\n"
        f"SLACK={SLACK_TOKEN}\n"
        f"curl -H 'Authorization: Bearer {JWT}' https://api.example.com\n"
        "curl -H 'Authorization: Basic dXNlcjpodW50ZXIy' https://api.example.com\n"
        "DATABASE_URL=postgres://app:hunter2@db.internal:5432/prod\n"
    )

    redacted = redact_text(output)

    assert leaked(redacted) == []
    assert "OPENAI_API_KEY=sk-proj-***" in redacted
    assert "sk-ant-api03-***" in redacted
    assert "https://x-access-token:***@github.com/a/b" in redacted
    assert "xoxb-***" in redacted
    assert "Authorization: Bearer ***" in redacted
    assert "Authorization: Basic ***" in redacted
    assert "postgres://app:***@db.internal:5432/prod" in redacted


@pytest.mark.parametrize(
    ("secret", "kept"),
    [
        ("sk_live_51HxYzAbCdEfGhIjKlMnOp", "sk_live_***"),
        ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz12345678", "hf_***"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIza***"),
        (JWT, "***"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n"
            "-----END OPENSSH PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----***",
        ),
    ],
)
def test_more_kinds_of_keys_are_masked_in_text(secret: str, kept: str) -> None:
    redacted = redact_text(f"found {secret} in the logs")

    assert redacted == f"found {kept} in the logs"


def test_secrets_assigned_to_secret_names_in_text_are_masked() -> None:
    text = (
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1\n"
        "db_password: s3cretPass99\n"
        "max_tokens=4096 num_tokens: 12345678 token: Hello\n"
    )

    assert redact_text(text) == (
        "export AWS_SECRET_ACCESS_KEY=***\n"
        "db_password: ***\n"
        "max_tokens=4096 num_tokens: 12345678 token: Hello\n"
    )


def test_words_that_look_like_key_prefixes_are_left_alone() -> None:
    text = "pip install hf_transfer; sk_test_ mode; eyJ is base64 for {"
    assert redact_text(text) == text


def test_a_secret_used_as_a_key_is_masked_too() -> None:
    redacted = redact_secrets({"metadata": {OPENAI_KEY: "seen in a cache"}})
    assert redacted == {"metadata": {"sk-proj-***": "seen in a cache"}}


def test_values_under_secret_names_are_masked_whatever_they_look_like() -> None:
    redacted = redact_secrets(
        {
            "tool": {
                "arguments": {
                    "password": "correct horse battery staple",
                    "db_password": 123456,
                    "client_secret": ["a", "b"],
                    "cookie": "session=abc",
                    "has_password": True,
                    "password_hint": "a horse",
                }
            }
        }
    )
    assert redacted["tool"]["arguments"] == {
        "password": "***",
        "db_password": "***",
        "client_secret": ["***", "***"],
        "cookie": "***",
        "has_password": True,
        "password_hint": "a horse",
    }


@pytest.mark.parametrize(
    "text",
    [
        "The task-management-system-overview is in docs/.",
        "We use sk-learn-style-pipelines-for-classification here.",
        "Bearer authentication is recommended for this API.",
        "She was the bearer of bad news.",
        "Authorization: required for every endpoint.",
        "Write to bob@example.com or visit https://example.com:8443/path?q=1&page=2",
        "Ratio 3:4 at 10:30; see https://user@host.example/x.",
        "The AWS docs say access key ids start with AKIA.",
        "Use `git log --format=%H` and `ls -la ~/.ssh`.",
        "def f(a=1, b=2):\n    return {'token': a, 'max_tokens': b}",
        "天気は晴れです。気温は19°C。",
        "a" * 5000,
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_ordinary_payloads_are_left_alone() -> None:
    event = {
        "type": "llm_call",
        "input": [
            {"role": "system", "content": "You are a travel assistant."},
            {"role": "user", "content": "Weather in Lisbon? I land at 9:30am."},
        ],
        "output": {
            "logprobs": [
                {"token": "Sunny", "logprob": -0.01},
                {"token": ",", "logprob": -0.2},
            ],
        },
        "usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
        "metadata": {
            "llm.token_count.prompt": 12,
            "$schema": "https://json-schema.org/x",
        },
        "tags": ["prod", "eu-west-1"],
    }
    assert redact_secrets(event) == event


@pytest.fixture
def refusals() -> list[Refusal]:
    return []


def make_logger(
    repo: AgentLogRepository, refusals: list[Refusal], **kwargs: Any
) -> AgentLogger:
    return AgentLogger(repo, settings=FAST, on_refused=refusals.append, **kwargs)


def test_stored_events_are_redacted(
    repo: AgentLogRepository, refusals: list[Refusal]
) -> None:
    log = make_logger(repo, refusals)
    with log.tool_call("shell", arguments={"cmd": f"echo {OPENAI_KEY}"}) as tool:
        tool.result = f"{OPENAI_KEY}\n"
    log.close()

    stored = repo.get(tool.id)
    assert stored is not None
    assert stored["tool"]["arguments"] == {"cmd": "echo sk-proj-***"}
    assert stored["tool"]["result"] == "sk-proj-***\n"


class Headers(Mapping[str, str]):
    """A mapping that is not a dict, as HTTP libraries' headers are."""

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


Request = namedtuple("Request", "url authorization")


def test_secrets_in_any_mapping_or_sequence_are_masked_when_stored(
    repo: AgentLogRepository, refusals: list[Refusal]
) -> None:
    log = make_logger(repo, refusals)
    payload = {
        "headers": Headers({"Authorization": f"Bearer {OPENAI_KEY}"}),
        "ordered": OrderedDict(note=f"key {ANTHROPIC_KEY}"),
        "defaults": defaultdict(list, {"api_key": "plain"}),
        "request": Request("postgres://app:hunter22@db/prod", f"Bearer {JWT}"),
        OPENAI_KEY: 1,
        OPENAI_KEY.replace("R4nd", "Q5oe"): 2,
    }
    event_id = log.event("debug", output=payload, metadata={"sent": (payload,)})
    log.close()

    stored = repo.get(event_id)
    assert stored is not None
    text = repr(stored)
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, JWT, "hunter22", "plain"):
        assert secret not in text
    assert stored["output"]["headers"] == {"Authorization": "***"}
    assert sorted(v for k, v in stored["output"].items() if k.startswith("sk-")) == [
        1,
        2,
    ]


def test_built_in_redaction_can_be_turned_off(
    repo: AgentLogRepository, refusals: list[Refusal]
) -> None:
    log = AgentLogger(repo, settings=FAST.with_changes(redact=False))
    event_id = log.message("user", OPENAI_KEY)
    log.close()
    stored = repo.get(event_id)
    assert stored is not None
    assert stored["content"] == OPENAI_KEY


def test_the_callers_hook_runs_on_every_event_after_the_built_in_one(
    repo: AgentLogRepository, refusals: list[Refusal]
) -> None:
    seen: list[str] = []

    def hide_emails(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(repr(event))
        content = event.get("content")
        if isinstance(content, str):
            event["content"] = content.replace("bob@example.com", "<email>")
        return event

    log = make_logger(repo, refusals, redact=hide_emails)
    with log.run():
        message_id = log.message("user", f"I'm bob@example.com, key {OPENAI_KEY}")
    log.close()

    stored = repo.get(message_id)
    assert stored is not None
    assert stored["content"] == "I'm <email>, key sk-proj-***"
    assert len(seen) == 2
    assert all(OPENAI_KEY not in text for text in seen)


def test_a_hook_that_returns_none_drops_the_event_and_counts_it(
    repo: AgentLogRepository, refusals: list[Refusal]
) -> None:
    def no_debug(event: dict[str, Any]) -> dict[str, Any] | None:
        return None if event["type"] == "debug" else event

    log = make_logger(repo, refusals, redact=no_debug)
    log.event("debug", content="noise")
    kept = log.message("user", "hi")
    log.close()

    assert log.stats().dropped == 1
    assert repo.count() == 1
    assert repo.get(kept) is not None


def test_a_hook_that_raises_keeps_that_event_out_and_reports_it(
    repo: AgentLogRepository, refusals: list[Refusal]
) -> None:
    def fragile(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("content") == "boom":
            raise KeyError("role")
        return event

    log = make_logger(repo, refusals, redact=fragile)
    bad = log.message("user", "boom")
    good = log.message("user", "fine")
    log.close()

    assert repo.get(bad) is None
    assert repo.get(good) is not None
    assert [r.event_id for r in refusals] == [bad]
    assert "redaction hook" in refusals[0].reason
    assert log.stats().refused == 1
