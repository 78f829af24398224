"""The REST service and the web viewer of mongo-ai-logs.

Install it with ``pip install 'mongo-ai-logs[server]'`` and start it with
``python -m mongo_ai_logs.server`` (or ``mongo-ai-logs serve``), or from
code::

    from mongo_ai_logs import Settings
    from mongo_ai_logs.server import ServerSettings, serve

    serve(Settings.load(), ServerSettings.load(), host="127.0.0.1", port=8000)

Requests are scoped to the project of their API key (``AI_LOGS_API_KEYS``);
without keys the service listens on a loopback address only. The viewer is
at ``/``, the OpenAPI document at ``/openapi.json``. See ``docs/api.md``.
"""

from __future__ import annotations

from mongo_ai_logs.server._app import create_app
from mongo_ai_logs.server._serve import serve
from mongo_ai_logs.server._settings import ApiKey, Role, ServerSettings

__all__ = ["ApiKey", "Role", "ServerSettings", "create_app", "serve"]
