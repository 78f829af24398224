"""Running the service with uvicorn, and the loopback rule."""

from __future__ import annotations

import logging

import uvicorn

from mongo_ai_logs.client import describe_hosts
from mongo_ai_logs.config import Settings
from mongo_ai_logs.errors import ConfigurationError
from mongo_ai_logs.server._app import create_app
from mongo_ai_logs.server._auth import is_loopback_host
from mongo_ai_logs.server._settings import ServerSettings

__all__ = ["check_host", "serve"]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def check_host(host: str, server_settings: ServerSettings) -> None:
    """Refuse a non-loopback ``host`` when no API key is configured.

    Raises:
        ConfigurationError: ``host`` is not a loopback address and the service
            has no keys.
    """
    if server_settings.auth_required or is_loopback_host(host):
        return
    raise ConfigurationError(
        f"no API keys are configured, so the service listens on 127.0.0.1 only "
        f"and will not listen on {host!r}: set AI_LOGS_API_KEYS (or "
        "AI_LOGS_API_KEYS_FILE) to serve other hosts"
    )


def serve(
    settings: Settings | None = None,
    server_settings: ServerSettings | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_level: str = "info",
) -> None:
    """Run the service until interrupted.

    Args:
        settings: Where the events live. Defaults to :meth:`Settings.load`.
        server_settings: Keys and limits. Defaults to
            :meth:`ServerSettings.load`.
        host: The address to listen on. Defaults to ``127.0.0.1``; without API
            keys only a loopback address is accepted.
        port: The TCP port. Defaults to 8000.
        log_level: uvicorn's log level. Defaults to ``"info"``.

    Raises:
        ConfigurationError: The settings cannot work, or ``host`` is not
            loopback and no key is configured.
        ConnectionFailedError: The database did not answer within the timeout.
    """
    settings = Settings.load() if settings is None else settings
    server_settings = (
        ServerSettings.load() if server_settings is None else server_settings
    )
    check_host(host, server_settings)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigurationError(f"port must be a number from 0 to 65535, got {port!r}")

    app = create_app(settings, server_settings)
    if server_settings.auth_required:
        logger.info(
            "%d API key(s) configured; every request must carry one",
            len(server_settings.api_keys),
        )
    else:
        logger.warning(
            "no API keys configured (AI_LOGS_API_KEYS): listening on %s only, "
            "and every request acts as admin of %s",
            host,
            "the default project (events without a project_id)"
            if server_settings.project is None
            else f"project {server_settings.project!r}",
        )
    logger.info(
        "serving the events of %s (%s.%s) on http://%s:%d/",
        describe_hosts(settings.uri),
        settings.db,
        settings.collection,
        f"[{host}]" if ":" in host else host,
        port,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    _quiet_query_strings()
    uvicorn.Server(config).run()


class _WithoutQueryString(logging.Filter):
    """Drop the query string from uvicorn's access lines.

    A client may put a key or a user's id in a query parameter (a key there
    is refused, but the line is written first); the path and the status are
    what an access log needs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, mark, _ = args[2].partition("?")
            if mark:
                record.args = (*args[:2], f"{path}?…", *args[3:])
        return True


def _quiet_query_strings() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _WithoutQueryString) for f in access.filters):
        access.addFilter(_WithoutQueryString())
