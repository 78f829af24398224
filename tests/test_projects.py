"""A repository bound to a project reads and writes that project's events only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from bson.objectid import ObjectId
from pymongo.collection import Collection

from mongo_ai_logs import AgentLogRepository, InvalidEventError, InvalidFilterError
from tests.helpers import event


@pytest.fixture
def two(collection: Collection[Any]) -> tuple[AgentLogRepository, AgentLogRepository]:
    base = AgentLogRepository(collection)
    base.ensure_indexes()
    return base.for_project("acme"), base.for_project("globex")


def test_events_are_stamped_with_the_repository_project(
    two: tuple[AgentLogRepository, AgentLogRepository],
) -> None:
    acme, _ = two

    stored = acme.get(acme.insert(event()))

    assert stored is not None
    assert stored["project_id"] == "acme"


def test_no_read_or_write_reaches_another_project(
    two: tuple[AgentLogRepository, AgentLogRepository],
) -> None:
    acme, globex = two
    secret = acme.insert(event(user_id="shared-user", run_id="shared-run"))
    acme.insert_many(event(seq=i, user_id="shared-user") for i in range(3))

    assert globex.get(secret) is None
    assert globex.get(secret, include_deleted=True) is None
    assert globex.find(include_deleted=True).items == []
    assert globex.find(user_id="shared-user").items == []
    assert globex.count(include_deleted=True) == 0
    assert globex.usage_stats() == []
    assert list(globex.iter_events(run_id="shared-run")) == []
    assert globex.update(secret, {"status": "error"}) is False
    assert globex.add_usage(secret, input_tokens=1000) is False
    assert globex.soft_delete(secret) is False
    assert globex.soft_delete_many(user_id="shared-user") == 0
    acme.soft_delete(secret)
    assert globex.restore(secret) is False
    far_future = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)
    assert globex.purge(deleted_before=far_future) == 0

    hidden = acme.get(secret, include_deleted=True)
    assert hidden is not None
    assert hidden["status"] == "ok"
    assert hidden["usage"]["input_tokens"] == 10
    assert acme.count() == 3


def test_a_cursor_from_one_project_pages_only_the_other_projects_events(
    two: tuple[AgentLogRepository, AgentLogRepository],
) -> None:
    acme, globex = two
    acme.insert_many(event(seq=i) for i in range(6))
    cursor = acme.find(limit=2).next_cursor
    assert cursor is not None

    assert globex.find(cursor=cursor).items == []


def test_an_event_for_another_project_is_refused(
    two: tuple[AgentLogRepository, AgentLogRepository],
) -> None:
    acme, _ = two

    with pytest.raises(InvalidEventError, match="project_id") as caught:
        acme.insert(event(project_id="globex"))

    assert caught.value.field == "project_id"


def test_an_id_owned_by_another_project_is_refused_not_reported_as_stored(
    two: tuple[AgentLogRepository, AgentLogRepository],
) -> None:
    acme, globex = two
    oid = ObjectId()
    acme.insert(event(_id=oid))

    with pytest.raises(InvalidEventError, match="already used"):
        globex.insert(event(_id=oid))
    report = globex.insert_many([event(_id=oid), event(seq=5)])

    assert [r.index for r in report.refused] == [0]
    assert len(report.inserted_ids) == 1
    assert globex.count() == 1


def test_default_project_is_separate_from_named_ones(
    collection: Collection[Any],
) -> None:
    default = AgentLogRepository(collection)
    named = default.for_project("acme")
    named.insert(event())

    assert default.count() == 0
    assert default.for_project(None).count() == 0


@pytest.mark.parametrize("project_id", ["", 5])
def test_project_id_must_be_a_non_empty_string(
    collection: Collection[Any], project_id: Any
) -> None:
    with pytest.raises(InvalidFilterError, match="project_id"):
        AgentLogRepository(collection, project_id=project_id)
