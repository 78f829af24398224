"""What every route depends on: the store, the caller's key, strict queries.

- :class:`Store` holds the service's repository and binds it to the project
  of each request's key; database calls run on worker threads, one at a time
  on the embedded backend (mongomock is not made for concurrent writers).
- ``Reader``, ``Writer`` and ``Admin`` are the principal of the request,
  checked to have at least that role.
- :func:`strict_query` refuses query parameters a route does not take, a
  parameter given twice that takes one value, and values that look like
  MongoDB operators, so a caller who tries ``user_id[$ne]=`` or
  ``user_id={"$gt": ""}`` learns it is not accepted instead of getting an
  empty page.
"""

from __future__ import annotations

import contextlib
import json
import threading
import types
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from mongo_ai_logs.agent_log_repository import AgentLogRepository
from mongo_ai_logs.server._auth import KeyRing, Principal
from mongo_ai_logs.server._errors import ApiError
from mongo_ai_logs.server._settings import Role

__all__ = [
    "Admin",
    "Reader",
    "Store",
    "StoreDep",
    "Writer",
    "strict_query",
]

T = TypeVar("T")


class Store:
    """The repository of the service, and a lock when the backend needs one.

    Args:
        repository: The repository to serve; its own project is not used.
    """

    def __init__(self, repository: AgentLogRepository) -> None:
        self.repository = repository
        embedded = type(repository.collection).__module__.startswith("mongomock")
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if embedded else contextlib.nullcontext()
        )

    def scoped(self, principal: Principal) -> AgentLogRepository:
        """The repository bound to the principal's project."""
        return self.repository.for_project(principal.project)

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on a worker thread and return its result."""

        def locked() -> T:
            with self._lock:
                return function(*args, **kwargs)

        return await run_in_threadpool(locked)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The key in a header of its own"
)


def _principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    keyring: KeyRing = request.app.state.keyring
    presented = bearer.credentials if bearer is not None else api_key
    principal = keyring.identify(presented)
    if principal is not None:
        return principal
    if presented:
        message = "the API key is not valid"
    else:
        message = (
            "this service needs an API key: send 'Authorization: Bearer <key>' "
            "or 'X-API-Key: <key>'"
        )
    raise ApiError(
        401,
        "unauthorized",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="mongo-ai-logs"'},
    )


def _role(role: Role) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not principal.may(role):
            raise ApiError(
                403,
                "forbidden",
                f"this key has the {principal.role.label} role; this operation "
                f"needs {role.label}",
            )
        return principal

    return check


Reader = Annotated[Principal, Depends(_role(Role.READ))]
Writer = Annotated[Principal, Depends(_role(Role.WRITE))]
Admin = Annotated[Principal, Depends(_role(Role.ADMIN))]


def strict_query(request: Request) -> None:
    """Refuse unknown, repeated and operator-looking query parameters."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    repeatable = {
        getattr(param, "alias", None) or param.name: _is_list(param.field_info)
        for param in _query_params(dependant)
    }
    counts: dict[str, int] = {}
    for name, value in request.query_params.multi_items():
        if name not in repeatable:
            accepted = ", ".join(sorted(repeatable)) or "none"
            raise ApiError(
                422,
                "unknown_parameter",
                f"unknown query parameter {name!r}; accepted: {accepted}",
                field=name,
            )
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > 1 and not repeatable[name]:
            raise ApiError(
                422,
                "repeated_parameter",
                f"query parameter {name!r} is given more than once; it takes one value",
                field=name,
            )
        _refuse_operator(name, value)


def _query_params(dependant: Any) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_params(sub)


def _is_list(field_info: Any) -> bool:
    annotation = getattr(field_info, "annotation", None)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(typing.get_origin(a) is list for a in typing.get_args(annotation))
    return typing.get_origin(annotation) is list


def _refuse_operator(name: str, value: str) -> None:
    text = value.strip()
    operator = text.startswith("$")
    if not operator and text.startswith("{"):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        operator = isinstance(parsed, dict) and any(
            str(key).startswith("$") for key in parsed
        )
    if operator:
        raise ApiError(
            422,
            "invalid_filter",
            f"query parameter {name!r} looks like a MongoDB operator "
            f"({text[:40]!r}); filters compare values for equality only",
            field=name,
        )
