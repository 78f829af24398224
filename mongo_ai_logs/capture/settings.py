"""Settings of the capture writer, from arguments, the environment and ``.env``.

=============================  ==========================================  =========
variable                       meaning                                     default
=============================  ==========================================  =========
``AI_LOGS_BATCH_SIZE``         events per write                            500
``AI_LOGS_FLUSH_INTERVAL_MS``  longest wait before queued events are sent  1000
``AI_LOGS_MAX_QUEUE_EVENTS``   events held in memory at most               10000
``AI_LOGS_MAX_QUEUE_BYTES``    payload bytes held in memory at most        64 MiB
``AI_LOGS_OVERFLOW``           past the bound: ``spool``, ``block``,       ``spool``
                               ``drop``
``AI_LOGS_SPOOL_DIR``          where spool files go                        see below
``AI_LOGS_REDACT``             mask API keys and passwords (``on``/        ``on``
                               ``off``)
``AI_LOGS_WRITE_TIMEOUT_MS``   longest one batch write may take            5000
``AI_LOGS_WRITE_RETRIES``      retries of a failed batch before spooling   2
``AI_LOGS_PROBE_INTERVAL_MS``  how often a down database is tried again    1000
``AI_LOGS_EXIT_TIMEOUT_MS``    longest wait at exit before spooling        5000
``AI_LOGS_WRITER_THREADS``     batches written at once                     2
=============================  ==========================================  =========

The spool directory defaults to ``$XDG_STATE_HOME/mongo-ai-logs/spool``
(``~/.local/state/mongo-ai-logs/spool`` when ``XDG_STATE_HOME`` is unset). Each
destination (hosts, database, collection, project) gets a subdirectory of its
own there, so events are never replayed into another database.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from mongo_ai_logs.client import describe_hosts
from mongo_ai_logs.config import Settings, read_environment
from mongo_ai_logs.errors import ConfigurationError

__all__ = ["CaptureSettings", "Overflow", "default_spool_root", "spool_directory"]

Overflow = Literal["spool", "block", "drop"]

_ENV_NAMES = {
    "batch_size": "AI_LOGS_BATCH_SIZE",
    "flush_interval_ms": "AI_LOGS_FLUSH_INTERVAL_MS",
    "max_queue_events": "AI_LOGS_MAX_QUEUE_EVENTS",
    "max_queue_bytes": "AI_LOGS_MAX_QUEUE_BYTES",
    "overflow": "AI_LOGS_OVERFLOW",
    "spool_dir": "AI_LOGS_SPOOL_DIR",
    "redact": "AI_LOGS_REDACT",
    "write_timeout_ms": "AI_LOGS_WRITE_TIMEOUT_MS",
    "write_retries": "AI_LOGS_WRITE_RETRIES",
    "probe_interval_ms": "AI_LOGS_PROBE_INTERVAL_MS",
    "exit_timeout_ms": "AI_LOGS_EXIT_TIMEOUT_MS",
    "writer_threads": "AI_LOGS_WRITER_THREADS",
}
_INTEGERS = (
    "batch_size",
    "flush_interval_ms",
    "max_queue_events",
    "max_queue_bytes",
    "write_timeout_ms",
    "probe_interval_ms",
    "exit_timeout_ms",
    "writer_threads",
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CaptureSettings:
    """How the capture writer batches, bounds, spools and redacts.

    Build it with :meth:`CaptureSettings.load` to read the environment; the
    table in the module docstring gives each variable and default.

    Attributes:
        batch_size: Events per write. Defaults to 500.
        flush_interval_ms: Queued events are sent at least this often.
            Defaults to 1000.
        max_queue_events: Events held in memory at most, besides one batch
            on its way to the spool. Defaults to 10,000.
        max_queue_bytes: Payload bytes (strings and bytes, roughly) held in
            memory at most. Defaults to 64 MiB.
        overflow: What happens to an event past the bound: ``"spool"`` writes
            it to the spool file (the default), ``"block"`` makes the caller
            wait for room, ``"drop"`` drops it and counts it.
        spool_dir: The spool's root directory; ``None`` for the default.
        redact: Whether the built-in redactor masks credentials. Defaults to
            ``True``.
        write_timeout_ms: Longest time one batch write may take. Defaults to
            5000.
        write_retries: Retries of a failed batch before it is spooled.
            Defaults to 2.
        probe_interval_ms: How often a database that failed is tried again.
            Defaults to 1000.
        exit_timeout_ms: Longest wait at exit for queued events to be
            written, after which they are spooled. Defaults to 5000.
        writer_threads: Threads writing batches at once, so that one batch
            is prepared while another travels to the server. Defaults to 2.
    """

    batch_size: int = 500
    flush_interval_ms: int = 1000
    max_queue_events: int = 10_000
    max_queue_bytes: int = 64 * 1024 * 1024
    overflow: Overflow = "spool"
    spool_dir: Path | None = None
    redact: bool = True
    write_timeout_ms: int = 5000
    write_retries: int = 2
    probe_interval_ms: int = 1000
    exit_timeout_ms: int = 5000
    writer_threads: int = 2

    def __post_init__(self) -> None:
        for name in _INTEGERS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(
                    f"{_ENV_NAMES[name]} must be a whole number greater than 0, "
                    f"got {value!r}"
                )
        retries = self.write_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(
                f"AI_LOGS_WRITE_RETRIES must be a whole number >= 0, got {retries!r}"
            )
        if self.overflow not in get_args(Overflow):
            raise ConfigurationError(
                f"AI_LOGS_OVERFLOW must be spool, block or drop, got {self.overflow!r}"
            )

    @classmethod
    def load(
        cls,
        *,
        env_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> CaptureSettings:
        """Read settings from arguments, then the environment, then ``.env``.

        Args:
            env_file: As for :meth:`mongo_ai_logs.config.Settings.load`.
            environ: The environment to read. Defaults to ``os.environ``.
            **overrides: Values that win over both, by attribute name.
                ``None`` means "not given".

        Raises:
            ConfigurationError: A value is malformed or an override unknown.
        """
        unknown = set(overrides) - set(_ENV_NAMES)
        if unknown:
            raise ConfigurationError(f"unknown capture settings: {sorted(unknown)}")
        found = read_environment(
            _ENV_NAMES.values(), env_file=env_file, environ=environ
        )
        raw: dict[str, Any] = {}
        for name, env_name in _ENV_NAMES.items():
            if overrides.get(name) is not None:
                raw[name] = overrides[name]
            elif env_name in found:
                raw[name] = _parse(name, found[env_name])
        if raw.get("spool_dir") is not None:
            raw["spool_dir"] = Path(raw["spool_dir"]).expanduser()
        return cls(**raw)

    def with_changes(self, **changes: Any) -> CaptureSettings:
        """Return a copy with some attributes replaced, checked again."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        parts = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"CaptureSettings({parts})"


def _parse(name: str, raw: str) -> Any:
    env_name = _ENV_NAMES[name]
    if name in _INTEGERS or name == "write_retries":
        try:
            return int(raw.replace("_", ""))
        except ValueError:
            raise ConfigurationError(
                f"{env_name} must be a whole number, got {raw!r}"
            ) from None
    if name == "redact":
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigurationError(f"{env_name} must be on or off, got {raw!r}")
    if name == "overflow":
        return raw.strip().lower()
    return raw


def default_spool_root() -> Path:
    """``$XDG_STATE_HOME/mongo-ai-logs/spool``, or under ``~/.local/state``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "mongo-ai-logs" / "spool"


def spool_directory(
    root: Path | None, settings: Settings, project_id: str | None
) -> Path:
    """The spool directory of one destination under ``root``.

    The name shows the database, collection and project, and ends with a
    digest of the hosts as well, so two servers with the same database names
    never share a spool. No password is part of it.
    """
    root = default_spool_root() if root is None else root
    key = "\x00".join(
        [
            describe_hosts(settings.uri),
            settings.db,
            settings.collection,
            project_id or "",
        ]
    )
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    readable = f"{settings.db}.{settings.collection}.{project_id or '_'}"
    readable = _UNSAFE_IN_NAME.sub("_", readable)[:80]
    return root / f"{readable}-{digest}"
