"""``python -m mongo_ai_logs.server``: run the service from a shell.

Settings come from the environment and ``.env`` as for the library
(``MONGODB_URI``, ...) and the service (``AI_LOGS_API_KEYS``, ...).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mongo_ai_logs.config import Settings
from mongo_ai_logs.errors import ConfigurationError, ConnectionFailedError
from mongo_ai_logs.server._serve import DEFAULT_HOST, DEFAULT_PORT, serve
from mongo_ai_logs.server._settings import ServerSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the service, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m mongo_ai_logs.server",
        description="Serve the REST API and the viewer of mongo-ai-logs.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="default: %(default)s"
    )
    parser.add_argument(
        "--env-file", default=None, help="settings file (default: ./.env if present)"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="default: %(default)s",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s"
    )
    try:
        settings = Settings.load(env_file=args.env_file)
        server_settings = ServerSettings.load(env_file=args.env_file)
        serve(
            settings,
            server_settings,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
        )
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConnectionFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
