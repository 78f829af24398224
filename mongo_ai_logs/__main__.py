"""``python -m mongo_ai_logs``: the same as the ``mongo-ai-logs`` command."""

from __future__ import annotations

import sys

from mongo_ai_logs.cli import main

sys.exit(main())
