"""Who is asking: API keys checked in constant time, and the loopback rule.

A request names its key in ``Authorization: Bearer <key>`` or in
``X-API-Key``. The service keeps only a SHA-256 digest of each key and
compares the digest of the presented key with every one of them with
:func:`hmac.compare_digest`, without stopping at a match, so the time taken
says nothing about which key matched or how much of it did.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

from mongo_ai_logs.server._settings import ApiKey, Role, ServerSettings

__all__ = ["KeyRing", "Principal", "is_loopback_host"]

_LOOPBACK_NAMES = frozenset(["localhost"])


@dataclass(frozen=True)
class Principal:
    """The key behind a request, without its secret.

    Attributes:
        project: The project every operation of the request is bound to.
        role: What the request may do.
        name: The key's label, used as ``deleted_by``.
    """

    project: str | None
    role: Role
    name: str

    def may(self, role: Role) -> bool:
        """Whether this principal has ``role`` or a higher one."""
        return self.role >= role


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class KeyRing:
    """The configured keys, as digests.

    Args:
        settings: The service's settings; with no keys every request is the
            local admin of ``settings.project``.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self._entries = [
            _Entry(_digest(k.secret), _principal(k)) for k in settings.api_keys
        ]
        self._local = Principal(settings.project, Role.ADMIN, "local")

    @property
    def required(self) -> bool:
        """Whether a request must present a key."""
        return bool(self._entries)

    def __repr__(self) -> str:
        return f"KeyRing({len(self._entries)} keys)"

    def identify(self, presented: str | None) -> Principal | None:
        """The principal of the presented key, or ``None`` when it is unknown."""
        if not self._entries:
            return self._local
        if not presented:
            return None
        digest = _digest(presented)
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry.principal
        return found


def _principal(key: ApiKey) -> Principal:
    return Principal(key.project, key.role, key.name)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, without port) is loopback."""
    host = host.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(authority: str) -> str:
    """The host part of a ``Host`` header or origin authority (port removed)."""
    authority = authority.strip()
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
