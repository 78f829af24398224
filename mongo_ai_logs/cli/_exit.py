"""The exit codes of the CLI, which scripts can rely on."""

from __future__ import annotations

import enum

__all__ = ["ExitCode"]


class ExitCode(enum.IntEnum):
    """How a command ended.

    Attributes:
        OK: It did all it was asked.
        REFUSED: It ran, but not everything was done: events or files refused
            by ingest, ids not found, a run with no events, a purge not
            confirmed, output cut short by a closed pipe.
        USAGE: The command line is wrong: an unknown option, a bad value, a
            filter the library refuses, a file that cannot be read or written.
        STORE: The store cannot be reached or used: MONGODB_URI is malformed or
            its server does not answer, the local store is not installed or
            its server failed.
        BUSY: The local store is in use by another command, which did not end
            within ``--wait`` seconds.
        SOFTWARE: A bug in mongo-ai-logs; ``-vv`` shows the traceback.
        INTERRUPTED: Stopped by Ctrl-C.
    """

    OK = 0
    REFUSED = 1
    USAGE = 2
    STORE = 3
    BUSY = 4
    SOFTWARE = 70
    INTERRUPTED = 130
