"""AgentLogRepository.purge(dry_run=True): counts what a purge would remove."""

from __future__ import annotations

import datetime as dt

from bson.objectid import ObjectId

from mongo_ai_logs import AgentLogRepository
from tests.helpers import T0, event


def test_purge_dry_run_counts_and_removes_nothing(repo: AgentLogRepository) -> None:
    old, recent, live = (repo.insert(event(seq=i)) for i in range(3))
    repo.soft_delete(old)
    repo.collection.update_one(
        {"_id": ObjectId(old)}, {"$set": {"deleted_at": T0 - dt.timedelta(days=90)}}
    )
    repo.soft_delete(recent)
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)

    would_remove = repo.purge(deleted_before=cutoff, dry_run=True)

    assert would_remove == 1
    assert repo.get(old, include_deleted=True) is not None
    assert repo.purge(deleted_before=cutoff) == would_remove
    assert repo.get(old, include_deleted=True) is None
    assert repo.get(recent, include_deleted=True) is not None
    assert repo.get(live) is not None


def test_purge_dry_run_is_scoped_to_the_project(repo: AgentLogRepository) -> None:
    other = repo.for_project("other")
    other.soft_delete(other.insert(event()))
    far_future = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)

    assert repo.purge(deleted_before=far_future, dry_run=True) == 0
    assert other.purge(deleted_before=far_future, dry_run=True) == 1
