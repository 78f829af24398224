"""Settings: precedence, defaults, validation and the masking of secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mongo_ai_logs import AgentLogRepository, ConfigurationError, Settings
from mongo_ai_logs.config import mask_uri, read_environment

SECRET = "s3cr3t-Pa55"


def test_defaults_select_the_embedded_backend() -> None:
    settings = Settings.load()

    assert settings.uri is None
    assert settings.embedded
    assert (settings.db, settings.collection) == ("ai_logs", "agent_logs")
    assert settings.timeout_ms == 5000
    assert settings.retention_days is None


def test_explicit_argument_beats_environment_beats_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MONGODB_DB=from_file\nMONGODB_COLLECTION=file_events\n")
    monkeypatch.setenv("MONGODB_DB", "from_env")

    from_env = Settings.load(env_file=env_file)
    explicit = Settings.load(env_file=env_file, db="explicit")

    assert from_env.db == "from_env"
    assert from_env.collection == "file_events"
    assert explicit.db == "explicit"


def test_env_file_in_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "MONGODB_TIMEOUT_MS=1234\nMONGODB_RETENTION_DAYS=30\n"
    )

    settings = Settings.load()

    assert settings.timeout_ms == 1234
    assert settings.retention_days == 30


def test_empty_uri_in_environment_wins_over_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MONGODB_URI=mongodb://db.example.net:27017\n")
    monkeypatch.setenv("MONGODB_URI", "")

    assert Settings.load(env_file=env_file).uri is None


def test_named_env_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        Settings.load(env_file=tmp_path / "missing.env")


def test_env_file_read_is_logged_without_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"MONGODB_URI=mongodb://app:{SECRET}@db.example.net\n")
    caplog.set_level(logging.DEBUG)

    Settings.load(env_file=env_file)

    assert str(env_file) in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MONGODB_TIMEOUT_MS", "soon"),
        ("MONGODB_TIMEOUT_MS", "0"),
        ("MONGODB_TIMEOUT_MS", "99999999999999999999"),
        ("MONGODB_RETENTION_DAYS", "-3"),
        ("MONGODB_RETENTION_DAYS", "100000"),
        ("AI_LOGS_MAX_INLINE_BYTES", "99999999999"),
        ("MONGODB_DB", "has.dot"),
        ("MONGODB_COLLECTION", "system.users"),
        ("AI_LOGS_LARGE_VALUES", "compress"),
    ],
)
def test_bad_values_are_configuration_errors_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError, match=name):
        Settings.load()


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown settings"):
        Settings.load(colection="typo")


@pytest.mark.parametrize("password", ["p@ss", "pa:ss", "pa/ss", "100%sure"])
def test_unescaped_password_says_to_percent_encode_and_hides_it(password: str) -> None:
    uri = f"mongodb://app:{password}{SECRET}@db.example.net/?retryWrites=true"

    with pytest.raises(ConfigurationError) as caught:
        Settings(uri=uri)

    message = str(caught.value)
    assert "percent-encode" in message
    assert SECRET not in message
    assert caught.value.__cause__ is None or SECRET not in str(caught.value.__cause__)


def test_percent_encoded_password_is_accepted() -> None:
    settings = Settings(uri=f"mongodb://app:p%40ss{SECRET}@db.example.net:27017/")

    assert settings.uri is not None


@pytest.mark.parametrize(
    "uri",
    ["postgres://app@db", "mongodb://db.example.net:99999", "mongodb://db:port"],
)
def test_malformed_uri_is_a_configuration_error(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="MONGODB_URI"):
        Settings(uri=uri)


def test_password_is_masked_in_repr_and_str() -> None:
    settings = Settings(uri=f"mongodb+srv://app:{SECRET}@cluster0.example.mongodb.net/")

    for text in (repr(settings), str(settings), settings.masked_uri or ""):
        assert SECRET not in text
        assert "app:***@cluster0.example.mongodb.net" in text


def test_mask_uri_hides_a_password_that_breaks_the_syntax() -> None:
    masked = mask_uri(f"mongodb://app:{SECRET}@with/slash@db.example.net/x")

    assert SECRET not in masked
    assert masked == "mongodb://app:***@db.example.net/x"


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://db.example.net/?tls=true&tlsCertificateKeyFilePassword={}",
        "mongodb://db.example.net/?authMechanism=MONGODB-AWS"
        "&authMechanismProperties=AWS_SESSION_TOKEN:{}&w=1",
        "mongodb://app:{}@db.example.net/?tls=true&tlsCertificateKeyFilePassword={}",
    ],
)
def test_secret_options_are_masked_too(uri: str) -> None:
    uri = uri.format(SECRET, SECRET)
    settings = Settings(uri=uri)

    for text in (mask_uri(uri), repr(settings), str(settings)):
        assert SECRET not in text
        assert "db.example.net" in text


def test_a_driver_error_shows_no_secret_option() -> None:
    uri = f"mongodb://127.0.0.1:1/?tls=bogus&tlsCertificateKeyFilePassword={SECRET}"

    with pytest.raises(ConfigurationError) as caught:
        AgentLogRepository.from_settings(Settings.load(uri=uri))

    assert SECRET not in str(caught.value)
    assert "tls" in str(caught.value)


def test_read_environment_prefers_environment_and_skips_empty(tmp_path: Path) -> None:
    env_file = tmp_path / "x.env"
    env_file.write_text("A=file\nB=file\nC=\n")

    found = read_environment(
        ["A", "B", "C", "D"], env_file=env_file, environ={"A": "env"}
    )

    assert found == {"A": "env", "B": "file"}
