"""A run as a tree of its events."""

from __future__ import annotations

import json

from mongo_ai_logs import AgentLogRepository
from mongo_ai_logs.runs import build_tree, dumps_tree, load_run
from tests.helpers import at, chain, chain_seqs, event, loads_deep


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


def test_events_under_a_cycle_become_roots_with_it() -> None:
    events = [
        {"_id": "a", "parent_id": "b", "seq": 1},
        {"_id": "b", "parent_id": "a", "seq": 2},
        {"_id": "c", "parent_id": "a", "seq": 3},
        {"_id": "d", "parent_id": "c", "seq": 4},
        {"_id": "e", "seq": 5},
        {"_id": "f", "parent_id": "e", "seq": 6},
    ]

    roots = build_tree(events)

    assert [r.event["_id"] for r in roots] == ["a", "b", "c", "d", "e"]
    assert [c.event["_id"] for c in roots[-1].children] == ["f"]


def test_a_chain_thousands_deep_is_built_walked_and_written(
    repo: AgentLogRepository,
) -> None:
    length = 3000
    assert repo.insert_many(chain("deep", length)).ok

    (root,) = load_run(repo, "deep")

    assert [(d, n.event["seq"]) for d, n in root.walk()] == [
        (n, n) for n in range(length)
    ]
    assert chain_seqs(root.to_dict()) == list(range(length))
    text = dumps_tree([root], lambda node: {"seq": node.event["seq"]})
    assert chain_seqs(loads_deep(text)[0]) == list(range(length))


def test_dumps_tree_writes_what_json_dumps_writes_of_a_shallow_tree() -> None:
    events = [
        {"_id": "a", "seq": 0, "text": "é"},
        {"_id": "b", "parent_id": "a", "seq": 1},
        {"_id": "c", "parent_id": "a", "seq": 2},
        {"_id": "d", "seq": 3},
    ]
    roots = build_tree(events)

    text = dumps_tree(roots, lambda node: node.event, ensure_ascii=False)

    assert text == json.dumps(
        [r.to_dict() for r in roots], ensure_ascii=False, separators=(",", ":")
    )
    assert dumps_tree([], lambda node: node.event) == "[]"
    assert dumps_tree(roots[1:], lambda node: {}) == '[{"children":[]}]'
