"""A small agent process for the capture tests, run with ``python -m``.

Usage: ``python -m tests.capture_agent_process IDS_FILE COUNT MODE [failing]``.

It records COUNT messages in one run with settings from the environment,
writes the ids it recorded to IDS_FILE, then ends as MODE says: ``exit``
returns normally (the writer closes at exit), ``kill`` flushes, prints
``ready`` and waits to be killed. With ``failing`` the events go to an
in-memory store that is down, so everything must end up in the spool.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import mongomock

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.capture import AgentLogger, CaptureSettings, Spool
from tests.capture_support import FailingStore


def main() -> None:
    ids_file, count, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    failing = len(sys.argv) > 4 and sys.argv[4] == "failing"
    if failing:
        store = FailingStore(
            AgentLogRepository(mongomock.MongoClient(tz_aware=True).db.events)
        )
        store.down = True
        settings = CaptureSettings.load()
        assert settings.spool_dir is not None
        log = AgentLogger(store, settings=settings, spool=Spool(settings.spool_dir))  # type: ignore[arg-type]
    else:
        log = AgentLogger.from_settings(agent="subprocess-agent")

    ids: list[str] = []
    with log.run(user_id="u-1") as run:
        ids.append(run.id)
        for n in range(count - 1):
            ids.append(log.message("user", f"message {n}"))
    Path(ids_file).write_text("\n".join(ids))

    if mode == "kill":
        log.flush()
        print("ready", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main()
