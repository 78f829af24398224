"""The service's own settings: API keys, the project without keys, body limits.

They are read like the library's settings (an argument, then the environment,
then ``.env``), through :func:`mongo_ai_logs.config.read_environment`:

``AI_LOGS_API_KEYS``
    Comma-separated ``KEY:PROJECT:ROLE`` entries, optionally
    ``KEY:PROJECT:ROLE:NAME``. ``ROLE`` is ``read``, ``write`` or ``admin``;
    ``NAME`` labels the key in ``deleted_by`` and in the service's log
    (defaults to ``PROJECT/ROLE``).
``AI_LOGS_API_KEYS_FILE``
    A file of the same entries, one per line; blank lines and lines starting
    with ``#`` are skipped. Both may be set: the keys add up.
``AI_LOGS_API_MAX_BODY_BYTES``
    The largest request body accepted, in bytes (default 32 MiB).
``AI_LOGS_PROJECT``
    The project of every request when no key is configured (default: the
    project of events stored without one).

A key is 16 to 256 printable ASCII characters without spaces, ``:`` or ``,``.
Errors name the entry by its position, never by its value.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mongo_ai_logs.config import read_environment
from mongo_ai_logs.errors import ConfigurationError

__all__ = ["ApiKey", "Role", "ServerSettings"]

_MIN_KEY_CHARS = 16
_MAX_KEY_CHARS = 256
_DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_ENV_NAMES = (
    "AI_LOGS_API_KEYS",
    "AI_LOGS_API_KEYS_FILE",
    "AI_LOGS_API_MAX_BODY_BYTES",
    "AI_LOGS_PROJECT",
)


class Role(enum.IntEnum):
    """What a key may do; each role may do what the ones below it may."""

    READ = 1
    """Read events, runs and statistics."""
    WRITE = 2
    """Also store, change, soft-delete and restore events."""
    ADMIN = 3
    """Also purge soft-deleted events for good."""

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text`` (``read``, ``write`` or ``admin``)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"role must be read, write or admin, got {text.strip()!r}"
            ) from None

    @property
    def label(self) -> str:
        """The role's name in lower case, as written in the settings."""
        return self.name.lower()


@dataclass(frozen=True)
class ApiKey:
    """One API key and what it grants.

    Attributes:
        secret: The key itself. Never shown: not in the repr, logs or errors.
        project: The only project whose events the key reaches.
        role: What the key may do there.
        name: A label for the key in logs and in ``deleted_by``.
    """

    secret: str = field(repr=False)
    project: str
    role: Role
    name: str

    @classmethod
    def parse(cls, entry: str) -> ApiKey:
        """Read one ``KEY:PROJECT:ROLE[:NAME]`` entry.

        Raises:
            ValueError: The entry is malformed; the message never quotes the key.
        """
        parts = entry.strip().split(":")
        if len(parts) not in (3, 4):
            raise ValueError(
                f"expected KEY:PROJECT:ROLE or KEY:PROJECT:ROLE:NAME, got "
                f"{len(parts)} part(s) separated by ':'"
            )
        secret, project, role_text = (p.strip() for p in parts[:3])
        _check_secret(secret)
        if not project:
            raise ValueError("the project is empty")
        role = Role.parse(role_text)
        name = parts[3].strip() if len(parts) == 4 else ""
        return cls(secret, project, role, name or f"{project}/{role.label}")


def _check_secret(secret: str) -> None:
    if not _MIN_KEY_CHARS <= len(secret) <= _MAX_KEY_CHARS:
        raise ValueError(
            f"the key must be {_MIN_KEY_CHARS} to {_MAX_KEY_CHARS} characters, "
            f"this one has {len(secret)}"
        )
    if not all("!" <= ch <= "~" and ch != "," for ch in secret):
        raise ValueError("the key must be printable ASCII without spaces, ':' or ','")


def parse_keys(text: str, source: str, *, separator: str = ",") -> list[ApiKey]:
    """Read the entries of ``text``; ``source`` names it in errors.

    Raises:
        ConfigurationError: An entry is malformed, naming its position.
    """
    keys = []
    entries = text.split(separator)
    for position, entry in enumerate(entries, start=1):
        stripped = entry.strip()
        if not stripped or (separator == "\n" and stripped.startswith("#")):
            continue
        try:
            keys.append(ApiKey.parse(stripped))
        except ValueError as exc:
            where = "line" if separator == "\n" else "entry"
            raise ConfigurationError(f"{source}, {where} {position}: {exc}") from None
    return keys


def _read_key_file(path: str) -> list[ApiKey]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"AI_LOGS_API_KEYS_FILE {path!r} cannot be read: "
            f"{getattr(exc, 'strerror', None) or type(exc).__name__}"
        ) from None
    return parse_keys(text, f"AI_LOGS_API_KEYS_FILE {path!r}", separator="\n")


@dataclass(frozen=True)
class ServerSettings:
    """How the service authenticates and what it accepts.

    Attributes:
        api_keys: The keys; none means the service is local only: it listens
            on a loopback address and every request is an admin of
            ``project``.
        project: The project of every request when there are no keys.
            Defaults to ``None``, the project of events stored without one.
        max_body_bytes: The largest request body, in bytes. Defaults to 32 MiB.
        max_batch_events: The most events one ``POST /v1/events`` may carry.
            Defaults to 10,000.
    """

    api_keys: tuple[ApiKey, ...] = ()
    project: str | None = None
    max_body_bytes: int = _DEFAULT_MAX_BODY_BYTES
    max_batch_events: int = 10_000

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for position, key in enumerate(self.api_keys, start=1):
            if key.secret in seen:
                raise ConfigurationError(
                    f"API key {position} ({key.name}) is listed twice; each key "
                    "must grant one project and role"
                )
            seen.add(key.secret)
        if self.project is not None and not self.project:
            raise ConfigurationError("AI_LOGS_PROJECT must not be empty")
        for name in ("max_body_bytes", "max_batch_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"{name} must be a whole number >= 1, got {value!r}"
                )

    @property
    def auth_required(self) -> bool:
        """Whether requests must carry a key."""
        return bool(self.api_keys)

    @classmethod
    def load(
        cls,
        *,
        env_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        api_keys: Iterable[ApiKey] | None = None,
        project: str | None = None,
        max_body_bytes: int | None = None,
    ) -> ServerSettings:
        """Read the service's settings from arguments, the environment, ``.env``.

        Args:
            env_file: As for :meth:`mongo_ai_logs.Settings.load`.
            environ: The environment to read. Defaults to ``os.environ``.
            api_keys: Keys that replace those of the environment.
            project: The project without keys; wins over ``AI_LOGS_PROJECT``.
            max_body_bytes: Wins over ``AI_LOGS_API_MAX_BODY_BYTES``.

        Raises:
            ConfigurationError: A key entry, the key file or a number is
                malformed; the message names the entry, never the key.
        """
        found = read_environment(_ENV_NAMES, env_file=env_file, environ=environ)
        if api_keys is not None:
            keys = list(api_keys)
        else:
            keys = parse_keys(found.get("AI_LOGS_API_KEYS", ""), "AI_LOGS_API_KEYS")
            if "AI_LOGS_API_KEYS_FILE" in found:
                keys += _read_key_file(found["AI_LOGS_API_KEYS_FILE"])

        if max_body_bytes is None and "AI_LOGS_API_MAX_BODY_BYTES" in found:
            raw = found["AI_LOGS_API_MAX_BODY_BYTES"]
            try:
                max_body_bytes = int(raw)
            except ValueError:
                raise ConfigurationError(
                    f"AI_LOGS_API_MAX_BODY_BYTES must be a whole number, got {raw!r}"
                ) from None

        return cls(
            api_keys=tuple(keys),
            project=project if project is not None else found.get("AI_LOGS_PROJECT"),
            max_body_bytes=(
                _DEFAULT_MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
            ),
        )
