"""Masking secrets in events before they leave the process.

The built-in redactor looks at every key and every string of an event, at any
depth, and masks what looks like a credential:

- API keys by their shape: OpenAI and Anthropic (``sk-…``, ``sk-proj-…``,
  ``sk-ant-…``), AWS access key ids (``AKIA…``, ``ASIA…``), GitHub tokens
  (``ghp_…``, ``github_pat_…``), Slack tokens (``xoxb-…``);
- ``Bearer`` tokens and the value of ``Authorization`` headers written in text;
- the password of a URL (``scheme://user:password@host``) and credential query
  parameters (``?api_key=…``, ``&token=…``);
- the whole value under a key that names a secret (``Authorization``,
  ``api_key``, ``password``, ``client_secret``, ``access_token``, ``cookie``,
  ...), whatever it looks like.

A masked credential keeps the prefix that tells its kind (``sk-ant-***``,
``Bearer ***``, ``user:***@host``) so a log still says which key was used, never
the key. Ordinary text is left alone: the patterns need the length and the
alphabet of a real key, and a word such as ``task-management`` or ``bearer of
bad news`` does not match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

__all__ = ["MASK", "Redactor", "redact_secrets", "redact_text"]

MASK = "***"
"""What replaces a secret."""

Redactor = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""A redaction hook: takes an event, returns it changed, or ``None`` to skip it."""

# Each rule masks what follows the part of its match that names the kind of
# secret (group "keep"). Keys and tokens whose alphabet allows ordinary words
# must contain a digit, as generated secrets do. A rule runs only on text that
# contains one of its triggers, which rules out most text at the speed of a
# substring search.
_BOUNDARY = r"(?<![A-Za-z0-9_-])"
_RULES: list[tuple[tuple[str, ...], bool, re.Pattern[str]]] = [
    (
        ("sk-",),
        False,
        re.compile(
            _BOUNDARY + r"(?P<keep>sk-(?:ant-(?:api\d\d-|admin\d\d-)?|proj-|"
            r"svcacct-|admin-)?)(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{20,}"
        ),
    ),
    (
        ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA"),
        False,
        re.compile(
            _BOUNDARY
            + r"(?P<keep>AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}(?![0-9A-Za-z])"
        ),
    ),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        False,
        re.compile(
            _BOUNDARY + r"(?:(?P<keep>gh[pousr]_)[A-Za-z0-9]{30,}|"
            r"(?P<pat>github_pat_)[A-Za-z0-9_]{30,})"
        ),
    ),
    (
        ("xox",),
        False,
        re.compile(
            _BOUNDARY + r"(?P<keep>xox[abposer]-)(?=[A-Za-z-]*[0-9])[A-Za-z0-9-]{10,}"
        ),
    ),
    (
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        False,
        re.compile(_BOUNDARY + r"(?P<keep>[sr]k_(?:live|test)_)[A-Za-z0-9]{16,}"),
    ),
    (
        ("hf_",),
        False,
        re.compile(
            _BOUNDARY + r"(?P<keep>hf_)(?=[A-Za-z]*[0-9])[A-Za-z0-9]{30,}(?![\w-])"
        ),
    ),
    (
        ("AIza",),
        False,
        re.compile(_BOUNDARY + r"(?P<keep>AIza)[0-9A-Za-z_-]{35}(?![\w-])"),
    ),
    (
        ("eyJ",),
        False,
        # A JSON Web Token: base64url header and payload, both JSON objects.
        re.compile(
            _BOUNDARY + r"(?P<keep>)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}"
            r"\.[A-Za-z0-9_-]{8,}"
        ),
    ),
    (
        ("PRIVATE KEY-----",),
        False,
        re.compile(
            r"(?P<keep>-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?"
            r"(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
        ),
    ),
    (
        ("authorization",),
        True,
        re.compile(
            r"(?i)(?P<keep>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            r"(?:basic|digest|token|apikey|negotiate|ntlm|aws4-hmac-sha256)\s+)"
            r"[A-Za-z0-9._~+/=,:-]{6,}"
        ),
    ),
    (
        ("authorization",),
        True,
        re.compile(
            r"(?i)(?P<keep>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
            r"(?!bearer\s)(?=[A-Za-z._~+/=,:-]*[0-9])[A-Za-z0-9._~+/=,:-]{8,}"
        ),
    ),
    (
        ("bearer",),
        True,
        re.compile(
            r"(?P<keep>\b(?i:bearer)\s+)(?=[A-Za-z._~+/=-]*[0-9])"
            r"[A-Za-z0-9._~+/=-]{12,}"
        ),
    ),
    (
        ("://",),
        False,
        re.compile(
            r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?#\"'<>]*:)"
            r"[^\s/?#\"'<>]+(?=@[^\s@/?#\"'<>]+)"
        ),
    ),
    (
        ("secret", "password", "passwd", "token", "api_key", "apikey", "access_key"),
        True,
        # An assignment in a shell, an .env file or a config dump:
        # AWS_SECRET_ACCESS_KEY=..., db_password: ... . The value must look
        # generated (letters and digits, eight characters or more), so that
        # max_tokens=4096, num_tokens: 12345678 or "token: Hello" stay.
        re.compile(
            r"(?i)(?P<keep>\b[A-Za-z0-9_.-]*(?:secret|password|passwd|token|"
            r"api_?key|access_?key)[A-Za-z0-9_.-]*[ \t]*[=:][ \t]*[\"']?)"
            r"(?![^\s\"'&;,]*\*\*\*)"  # masked by a rule above, kind shown
            r"(?=[^\s\"'&;,]*[0-9])(?=[^\s\"'&;,]*[A-Za-z])[^\s\"'&;,]{8,}"
        ),
    ),
    (
        ("=",),
        False,
        re.compile(
            r"(?P<keep>[?&;](?i:api[_-]?key|access[_-]?token|auth[_-]?token|token"
            r"|password|passwd|secret|client[_-]?secret|sig|signature|key)=)"
            r"[^&;#\s\"'<>]+"
        ),
    ),
]


def _replace(match: re.Match[str]) -> str:
    kept = match.group("keep")
    if kept is None:
        kept = match.group("pat")
    return str(kept) + MASK


# Every trigger of the rules in one pattern: on short text one search is
# quicker than a substring test per trigger.
_ANY_TRIGGER = re.compile(
    "|".join(
        f"(?i:{re.escape(t)})" if ignore_case else re.escape(t)
        for triggers, ignore_case, _ in _RULES
        for t in triggers
    )
)
_SHORT = 512


def redact_text(text: str) -> str:
    """Return ``text`` with every credential it contains masked."""
    size = len(text)
    if size < 8 or (size < _SHORT and _ANY_TRIGGER.search(text) is None):
        return text
    folded: str | None = None
    for triggers, ignore_case, pattern in _RULES:
        if ignore_case:
            if folded is None:
                folded = text.lower()
            haystack = folded
        else:
            haystack = text
        for trigger in triggers:
            if trigger in haystack:
                text = pattern.sub(_replace, text)
                break
    return text


_SECRET_KEY_NAMES = frozenset(
    [
        "authorization",
        "proxyauthorization",
        "cookie",
        "cookies",
        "setcookie",
        "password",
        "passwd",
        "passphrase",
        "secret",
        "clientsecret",
        "apikey",
        "xapikey",
        "apitoken",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "authtoken",
        "sessiontoken",
        "bearertoken",
        "privatekey",
        "secretkey",
        "secretaccesskey",
        "awssecretaccesskey",
        "xauthtoken",
        "xamzsecuritytoken",
    ]
)
_SECRET_KEY_SUFFIXES = (
    "apikey",
    "password",
    "passwd",
    "secret",
    "accesstoken",
    "secretkey",
    "privatekey",
    "authtoken",
)


def is_secret_key(key: str) -> bool:
    """Whether a key names a secret (``Authorization``, ``api_key``, ...)."""
    if len(key) > 40:
        return False
    normal = key.lower().replace("-", "").replace("_", "").replace(" ", "")
    return normal in _SECRET_KEY_NAMES or normal.endswith(_SECRET_KEY_SUFFIXES)


def _masked_value(value: Any) -> Any:
    if isinstance(value, (str, bytes, bytearray)):
        return MASK if value else value
    if isinstance(value, Mapping):
        return _unique_keys(
            (_redact_key(k), _masked_value(v)) for k, v in value.items()
        )
    if isinstance(value, (list, tuple)):
        return [_masked_value(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return MASK
    return value


# Keys and short strings repeat from event to event (field names, system
# prompts, the history of a conversation): their answers are remembered.
_CACHE_LIMIT = 8192
_CACHED_TEXT_CHARS = 2048
_key_cache: dict[str, tuple[str, bool]] = {}
_text_cache: dict[str, str] = {}


def _key(key: str) -> tuple[str, bool]:
    """The key with its secrets masked, and whether it names a secret."""
    known = _key_cache.get(key)
    if known is None:
        known = (redact_text(key), is_secret_key(key))
        if len(_key_cache) >= _CACHE_LIMIT:
            _key_cache.clear()
        _key_cache[key] = known
    return known


def _text(text: str) -> str:
    if len(text) > _CACHED_TEXT_CHARS:
        return redact_text(text)
    known = _text_cache.get(text)
    if known is None:
        known = redact_text(text)
        if len(_text_cache) >= _CACHE_LIMIT:
            _text_cache.clear()
        _text_cache[text] = known
    return known


# Values that hold no text to scan.
_ATOMS = frozenset([int, float, bool, type(None), bytes, bytearray])


def _redact_in_place(value: Any) -> None:
    """:func:`_redact` without copying, for a dict or list the writer owns."""
    if type(value) is dict:
        renamed: list[tuple[Any, str]] = []
        for key, item in value.items():
            if type(key) is str:
                new_key, secret = _key(key)
                if new_key != key:
                    renamed.append((key, new_key))
                if secret and item is not None:
                    value[key] = _masked_value(item)
                    continue
            kind = type(item)
            if kind is str:
                value[key] = _text(item)
            elif kind is dict or kind is list:
                _redact_in_place(item)
            elif kind not in _ATOMS:
                value[key] = _redact(item)
        for old, new in renamed:
            item = value.pop(old)
            while new in value:  # two secrets that mask alike keep both values
                new += "*"
            value[new] = item
        return
    for index, item in enumerate(value):
        kind = type(item)
        if kind is str:
            value[index] = _text(item)
        elif kind is dict or kind is list:
            _redact_in_place(item)
        elif kind not in _ATOMS:
            value[index] = _redact(item)


def redact_owned_event(event: dict[str, Any]) -> dict[str, Any]:
    """:func:`redact_secrets` in place, for an event nobody else holds."""
    _redact_in_place(event)
    return event


def _redact_key(key: Any) -> Any:
    return _key(key)[0] if type(key) is str else key


def _redact(value: Any) -> Any:
    """A copy of ``value`` with its secrets masked.

    Any mapping (``OrderedDict``, an HTTP library's headers) becomes a dict
    and any list or tuple (a named tuple too) a list, as the codec would
    store them; sets stay sets.
    """
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind in _ATOMS:
        return value
    if isinstance(value, str):
        return _text(str.__str__(value))
    if isinstance(value, Mapping):
        return _unique_keys(_redacted_items(value))
    if isinstance(value, (list, tuple)):
        return [_redact(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return type(value)(_redact(item) for item in value)
    return value


def _redacted_items(value: Mapping[Any, Any]) -> Iterator[tuple[Any, Any]]:
    for key, item in value.items():
        if type(key) is str:
            new_key, secret = _key(key)
            if secret and item is not None:
                yield new_key, _masked_value(item)
                continue
            yield new_key, _redact(item)
        else:
            yield key, _redact(item)


def _unique_keys(items: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    """A dict of ``items``; keys that masking made equal get ``*`` added."""
    out: dict[Any, Any] = {}
    for key, item in items:
        while key in out and isinstance(key, str):
            key += "*"
        out[key] = item
    return out


def redact_secrets(event: dict[str, Any]) -> dict[str, Any]:
    """The built-in redactor: mask credentials anywhere in ``event``.

    Returns a new dict; ``event`` is not changed. Strings inside dicts and
    lists are scanned at any depth; other values (numbers, datetimes, bytes)
    are kept as they are.
    """
    result: dict[str, Any] = _redact(event)
    return result
