"""The ``mongo-ai-logs`` command: import, find, show, count and clean up AI logs.

Run ``mongo-ai-logs --help``, or ``python -m mongo_ai_logs``. Commands::

    demo      store a short agent run and read it back
    ping      where the events live, the server's version, the count
    ingest    import log files (SWE-agent, Langfuse, LangSmith, exchanges, ...)
    find      list events by user, session, run, type, model, tag, metadata, time
    show      a run as a tree of its events
    stats     tokens, cost and events per model, user, day or type
    delete    soft-delete events; restore brings them back
    purge     remove for good the events soft-deleted before a cutoff
    export    the events as JSON lines, which ingest reads back
    serve     the REST API and the web viewer (mongo-ai-logs[server])

With ``MONGODB_URI`` set the events live on that server; without it, in a
local store that lasts between commands (see :mod:`mongo_ai_logs.local_store`).
Exit codes are in :class:`ExitCode`. The CLI configures logging for the
library; the library itself never does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mongo_ai_logs.cli._app import build_parser, run
from mongo_ai_logs.cli._exit import ExitCode

__all__ = ["ExitCode", "build_parser", "main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the
    exit code."""
    return run(sys.argv[1:] if argv is None else argv)
