"""Settings: where the logs live and how the library treats them.

Each setting comes from, in order of precedence, an explicit argument to
:meth:`Settings.load`, the process environment, then a ``.env`` file (the one in
the working directory unless another is named). The connection string's
password is masked in the settings' repr, in log lines and in errors.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, cast, get_args

from dotenv import dotenv_values
from pymongo import uri_parser
from pymongo.errors import PyMongoError

from mongo_ai_logs.codec import LargeValuePolicy
from mongo_ai_logs.errors import ConfigurationError

__all__ = [
    "LargeValuePolicy",
    "Settings",
    "mask_uri",
    "read_environment",
    "uri_secrets",
]

logger = logging.getLogger(__name__)

_SCHEMES = ("mongodb://", "mongodb+srv://")
_RESERVED_IN_USERINFO = re.compile(r"[@/?#\[\]]")

# The largest value of each whole-number setting.
_INT_LIMITS = {
    "timeout_ms": 24 * 3600 * 1000,
    # A TTL index counts seconds in a 32-bit integer: 24,855 days.
    "retention_days": 24_855,
    # A value larger than a whole document is never inline.
    "max_inline_bytes": 16 * 1024 * 1024,
}
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DB_NAME_FORBIDDEN = set('/\\. "$*<>:|?\x00')
# Connection-string options whose values are secrets, up to the next option.
_SECRET_OPTION = re.compile(
    r"(?i)((?:^|[?&;])(?:[^=&;?]*(?:password|secret|token)[^=&;?]*"
    r"|authMechanismProperties)=)[^&;]*"
)

# Environment variable for each setting; the order is the order of the table
# in the README.
_ENV_NAMES = {
    "uri": "MONGODB_URI",
    "db": "MONGODB_DB",
    "collection": "MONGODB_COLLECTION",
    "timeout_ms": "MONGODB_TIMEOUT_MS",
    "app_name": "MONGODB_APP_NAME",
    "retention_days": "MONGODB_RETENTION_DAYS",
    "large_values": "AI_LOGS_LARGE_VALUES",
    "max_inline_bytes": "AI_LOGS_MAX_INLINE_BYTES",
}


def mask_uri(uri: str) -> str:
    """Return ``uri`` with its password and secret options replaced by ``***``.

    Works on malformed strings too: everything between the first ``:`` of the
    credentials and the last ``@`` is hidden, so a password with an unescaped
    ``@``, ``:`` or ``/`` is hidden whole. So are the values of options that
    carry secrets (``tlsCertificateKeyFilePassword``,
    ``authMechanismProperties``, any option naming a password, secret or
    token).
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return _SECRET_OPTION.sub(r"\1***", uri)
    userinfo, at, hosts = rest.rpartition("@")
    hosts = _SECRET_OPTION.sub(r"\1***", hosts)
    if not at:
        return f"{scheme}://{hosts}"
    user, colon, _ = userinfo.partition(":")
    if not colon:
        return f"{scheme}://{userinfo}@{hosts}"
    return f"{scheme}://{user}:***@{hosts}"


def uri_secrets(uri: str) -> list[str]:
    """The secrets in ``uri`` as written and percent-decoded, longest first.

    For hiding them in text that did not come from :func:`mask_uri`, such as
    a driver's error message.
    """
    rest = uri.partition("://")[2] or uri
    userinfo, _, hosts = rest.rpartition("@")
    found = [userinfo.partition(":")[2]]
    found += [m.group(0)[len(m.group(1)) :] for m in _SECRET_OPTION.finditer(hosts)]
    found += [urllib.parse.unquote(value) for value in found]
    return sorted({value for value in found if value}, key=len, reverse=True)


def _check_uri(uri: str) -> None:
    """Refuse a connection string that pymongo would misread or reject."""
    masked = mask_uri(uri)
    if not uri.startswith(_SCHEMES):
        raise ConfigurationError(
            f"MONGODB_URI must start with mongodb:// or mongodb+srv://, got {masked!r}"
        )
    rest = uri.split("://", 1)[1]
    if "@" in rest:
        userinfo = rest.rpartition("@")[0]
        _user, _, password = userinfo.partition(":")
        if (
            _RESERVED_IN_USERINFO.search(userinfo)
            or ":" in password
            or _BAD_PERCENT.search(userinfo)
        ):
            raise ConfigurationError(
                f"MONGODB_URI {masked!r} has a user name or password with a "
                "character that must be percent-encoded ('@', ':', '/', '?', '#', "
                "'[', ']' or '%'); encode it with urllib.parse.quote_plus()"
            )
    if uri.startswith("mongodb+srv://"):
        # Parsing an SRV string resolves DNS records; leave that to the client.
        return
    try:
        uri_parser.parse_uri(uri)
    except (PyMongoError, ValueError) as exc:
        # The driver's message may quote fragments of the string, so it is
        # masked and the original exception is not chained.
        detail = str(exc)
        password = rest.rpartition("@")[0].partition(":")[2]
        if password:
            detail = detail.replace(password, "***")
        raise ConfigurationError(
            f"MONGODB_URI {masked!r} is invalid: {detail}"
        ) from None


def _check_name(kind: str, value: str) -> None:
    if not value or len(value) > 120:
        raise ConfigurationError(f"{kind} must be 1 to 120 characters, got {value!r}")
    if kind == "MONGODB_DB" and _DB_NAME_FORBIDDEN & set(value):
        raise ConfigurationError(
            f"MONGODB_DB {value!r} contains a character MongoDB forbids in "
            "database names"
        )
    if kind == "MONGODB_COLLECTION" and (
        "$" in value or "\x00" in value or value.startswith("system.")
    ):
        raise ConfigurationError(f"MONGODB_COLLECTION {value!r} is not allowed")


def _positive_int(name: str, raw: object, maximum: int) -> int:
    try:
        value = int(cast(Any, raw))
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{name} must be a whole number, got {str(raw)[:40]!r}"
        ) from None
    if not 0 < value <= maximum:
        raise ConfigurationError(
            f"{name} must be from 1 to {maximum:,}, got {str(raw)[:40]!r}"
        )
    return value


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything the library needs to reach and use the database.

    Build it with :meth:`Settings.load` to read the environment and ``.env``;
    the constructor takes values as they are and checks them.

    Attributes:
        uri: The MongoDB connection string. ``None`` selects the embedded
            in-memory backend (mongomock): data lasts as long as the process.
        db: Database name. Defaults to ``"ai_logs"``.
        collection: Collection of events. Defaults to ``"agent_logs"``.
        timeout_ms: Server selection and connect timeout in milliseconds.
            Defaults to 5000.
        app_name: Name the client reports to the server. Defaults to
            ``"mongo-ai-logs"``.
        retention_days: When set, the server removes soft-deleted events this
            many days after their deletion (a TTL index on ``deleted_at``).
            Live events are never touched. Defaults to ``None``: kept forever.
        large_values: What happens to a string or bytes value bigger than
            ``max_inline_bytes``: ``"offload"`` stores it in chunks beside the
            event and reads it back whole (the default), ``"truncate"`` keeps
            its head with a marker that says so, ``"refuse"`` rejects the event.
        max_inline_bytes: Size above which a value counts as large. Defaults to
            1 MiB.
    """

    uri: str | None = None
    db: str = "ai_logs"
    collection: str = "agent_logs"
    timeout_ms: int = 5000
    app_name: str = "mongo-ai-logs"
    retention_days: int | None = None
    large_values: LargeValuePolicy = "offload"
    max_inline_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.uri is not None:
            _check_uri(self.uri)
        _check_name("MONGODB_DB", self.db)
        _check_name("MONGODB_COLLECTION", self.collection)
        for name, maximum in _INT_LIMITS.items():
            value = getattr(self, name)
            if value is not None:
                _positive_int(_ENV_NAMES[name], value, maximum)
        if self.large_values not in get_args(LargeValuePolicy):
            raise ConfigurationError(
                "AI_LOGS_LARGE_VALUES must be offload, truncate or refuse, "
                f"got {self.large_values!r}"
            )

    @classmethod
    def load(
        cls,
        *,
        env_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Read settings from arguments, then the environment, then ``.env``.

        Args:
            env_file: The ``.env`` file to read. Defaults to ``.env`` in the
                working directory, skipped when it does not exist. A file named
                here must exist.
            environ: The environment to read. Defaults to ``os.environ``.
            **overrides: Values that win over both, by attribute name
                (``uri=``, ``db=``, ...). ``None`` means "not given".

        Raises:
            ConfigurationError: A value is malformed, an override is unknown, or
                the named ``env_file`` does not exist.
        """
        unknown = set(overrides) - set(_ENV_NAMES)
        if unknown:
            raise ConfigurationError(f"unknown settings: {sorted(unknown)}")

        found = read_environment(
            _ENV_NAMES.values(), env_file=env_file, environ=environ
        )
        raw: dict[str, Any] = {}
        for name, env_name in _ENV_NAMES.items():
            if overrides.get(name) is not None:
                raw[name] = overrides[name]
            elif env_name in found:
                raw[name] = found[env_name]

        for name, maximum in _INT_LIMITS.items():
            if name in raw:
                raw[name] = _positive_int(_ENV_NAMES[name], raw[name], maximum)
        return cls(**raw)

    def with_changes(self, **changes: Any) -> Settings:
        """Return a copy with some attributes replaced, checked again."""
        return replace(self, **changes)

    @property
    def embedded(self) -> bool:
        """Whether these settings select the in-memory backend."""
        return self.uri is None

    @property
    def masked_uri(self) -> str | None:
        """The connection string with its password replaced by ``***``."""
        return None if self.uri is None else mask_uri(self.uri)

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = self.masked_uri if f.name == "uri" else getattr(self, f.name)
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__


def read_environment(
    names: Iterable[str],
    *,
    env_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the value of each variable set in the environment or ``.env``.

    The environment wins over the file, even with an empty value, which
    counts as unset (``MONGODB_URI=`` selects the embedded backend whatever
    ``.env`` says). Other
    parts of the library (the service, the CLI) read their own settings with
    it, so every setting follows the same precedence.

    Args:
        names: The variables to look up.
        env_file: As for :meth:`Settings.load`.
        environ: The environment to read. Defaults to ``os.environ``.

    Raises:
        ConfigurationError: The named ``env_file`` does not exist.
    """
    file_values = _read_env_file(env_file)
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for name in names:
        value = environ[name] if name in environ else file_values.get(name)
        if value:
            found[name] = value
    return found


def _read_env_file(env_file: str | os.PathLike[str] | None) -> dict[str, str | None]:
    if env_file is None:
        path = Path.cwd() / ".env"
        if not path.is_file():
            return {}
    else:
        path = Path(env_file)
        if not path.is_file():
            raise ConfigurationError(f"settings file {str(path)!r} does not exist")
    logger.debug("reading settings from %s", path)
    return dotenv_values(path)
