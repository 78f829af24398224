"""Run the mongo-ai-logs demo: ``python main.py``.

Uses ``MONGODB_URI`` from the environment or ``.env`` when set, the embedded
in-memory backend otherwise. Exits 0 on success; on failure prints one line
saying what went wrong and exits 1.
"""

from __future__ import annotations

import logging
import sys

from mongo_ai_logs import MongoAILogsError
from mongo_ai_logs.demo import run_demo


def main() -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        run_demo()
    except MongoAILogsError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
