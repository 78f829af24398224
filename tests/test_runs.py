"""A run as a tree of its events."""

from __future__ import annotations

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.runs import build_tree, load_run
from tests.helpers import at, event


def test_run_tree_nests_by_parent_and_orders_by_seq(repo: AgentLogRepository) -> None:
    root = repo.insert(event(type="run", seq=0, run_id="r9", started_at=at(0)))
    call = repo.insert(event(seq=2, run_id="r9", parent_id=root, started_at=at(2)))
    repo.insert(
        event(type="tool_call", seq=3, run_id="r9", parent_id=call, started_at=at(3))
    )
    repo.insert(
        event(type="message", seq=1, run_id="r9", parent_id=root, started_at=at(1))
    )
    repo.insert(event(seq=0, run_id="other"))

    roots = load_run(repo, "r9")

    assert len(roots) == 1
    assert [(d, n.event["seq"]) for d, n in roots[0].walk()] == [
        (0, 0),
        (1, 1),
        (1, 2),
        (2, 3),
    ]
    assert roots[0].to_dict()["children"][1]["children"][0]["type"] == "tool_call"


def test_orphans_and_cycles_become_roots_instead_of_vanishing() -> None:
    events = [
        {"_id": "a", "parent_id": "b", "seq": 1},
        {"_id": "b", "parent_id": "a", "seq": 2},
        {"_id": "c", "parent_id": "missing", "seq": 3},
        {"_id": "d", "parent_id": "d", "seq": 4},
    ]

    roots = build_tree(events)

    assert sum(1 for r in roots for _ in r.walk()) == 4


def test_deleted_events_leave_the_tree_unless_asked(repo: AgentLogRepository) -> None:
    root = repo.insert(event(type="run", seq=0, run_id="r1"))
    child = repo.insert(event(seq=1, run_id="r1", parent_id=root))
    repo.soft_delete(root)

    assert [n.event["_id"] for n in load_run(repo, "r1")] == [child]
    assert len(load_run(repo, "r1", include_deleted=True)) == 1
    assert load_run(repo, "nope") == []
