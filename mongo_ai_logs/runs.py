"""An agent run as a tree of its events, for the CLI, the service and the viewer.

Events of a run point at the event they nest under with ``parent_id``; the
tree puts each under its parent, siblings ordered by ``seq`` then
``started_at``. An event whose parent is not part of the run (not stored, or
deleted) is shown as a root rather than hidden, and so is an event whose
parents lead round in a cycle, with the events under it.

A run can nest as deep as its events go, thousands of levels for a chain of
steps each under the one before, so nothing here recurses: building, walking
and writing the tree as JSON (:func:`dumps_tree`) work at any depth.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mongo_ai_logs.agent_log_repository import AgentLogRepository

__all__ = ["RunNode", "build_tree", "dumps_tree", "load_run"]

_FAR_PAST = dt.datetime.min.replace(tzinfo=dt.timezone.utc)


@dataclass
class RunNode:
    """One event of a run with the events nested under it.

    Attributes:
        event: The event, as the repository returns it.
        children: The events whose ``parent_id`` is this event's id, in order.
    """

    event: dict[str, Any]
    children: list[RunNode] = field(default_factory=list)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, RunNode]]:
        """Yield ``(depth, node)`` for this node and its descendants, in order."""
        pending = [(depth, self)]
        while pending:
            level, node = pending.pop()
            yield level, node
            pending.extend((level + 1, child) for child in reversed(node.children))

    def to_dict(self) -> dict[str, Any]:
        """The node as plain data: the event with a ``children`` list.

        The data nests as deep as the tree. ``json.dumps`` stops at about a
        thousand levels; :func:`dumps_tree` writes a tree of any depth.
        """
        top: dict[str, Any] = {**self.event, "children": []}
        pending = [(self, top)]
        while pending:
            node, out = pending.pop()
            for child in node.children:
                nested: dict[str, Any] = {**child.event, "children": []}
                out["children"].append(nested)
                pending.append((child, nested))
        return top


def _order(node: RunNode) -> tuple[int, dt.datetime, str]:
    event = node.event
    seq = event.get("seq")
    started = event.get("started_at")
    return (
        seq if isinstance(seq, int) else 2**62,
        started if isinstance(started, dt.datetime) else _FAR_PAST,
        str(event.get("_id")),
    )


def build_tree(events: Iterable[dict[str, Any]]) -> list[RunNode]:
    """Arrange events into trees by ``parent_id``; return the roots in order."""
    nodes = {str(e["_id"]): RunNode(e) for e in events}
    parents: dict[str, str] = {}
    for key, node in nodes.items():
        parent = str(node.event.get("parent_id"))
        if parent in nodes and parent != key:
            parents[key] = parent

    grounded = _grounded(parents)
    roots: list[RunNode] = []
    for key, node in nodes.items():
        if grounded.get(key, False):
            nodes[parents[key]].children.append(node)
        else:
            roots.append(node)

    for node in nodes.values():
        node.children.sort(key=_order)
    roots.sort(key=_order)
    return roots


def _grounded(parents: dict[str, str]) -> dict[str, bool]:
    """For each node with a parent, whether its line of parents ends at a root.

    A line that comes back on itself is a cycle in the data. Each node is
    followed once, so a chain of any length costs its length.
    """
    known: dict[str, bool] = {}
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        key = start
        while key in parents and key not in known and key not in on_path:
            path.append(key)
            on_path.add(key)
            key = parents[key]
        # Stopped at a node already known, at a root, or back on the path: a cycle.
        ends = known.get(key, key not in on_path)
        for step in path:
            known[step] = ends
    return known


def dumps_tree(
    nodes: Sequence[RunNode],
    encode: Callable[[RunNode], dict[str, Any]],
    **options: Any,
) -> str:
    """The JSON array of ``nodes`` and every node below them, without recursion.

    Each node is written as the object ``encode`` gives, with its
    ``children`` array added.

    Args:
        nodes: The roots.
        encode: The JSON object of a node, without its children.
        **options: Passed to ``json.dumps`` for each node, except
            ``separators``: the text is compact.
    """
    parts = ["["]
    pending: list[Iterator[RunNode]] = [iter(nodes)]
    first = [True]
    while pending:
        node = next(pending[-1], None)
        if node is None:
            pending.pop()
            first.pop()
            parts.append("]}" if pending else "]")
            continue
        if not first[-1]:
            parts.append(",")
        first[-1] = False
        fields = {k: v for k, v in encode(node).items() if k != "children"}
        text = json.dumps(fields, separators=(",", ":"), **options)
        parts.append(text[:-1] + ("," if fields else "") + '"children":[')
        pending.append(iter(node.children))
        first.append(True)
    return "".join(parts)


def load_run(
    repo: AgentLogRepository, run_id: str, *, include_deleted: bool = False
) -> list[RunNode]:
    """Read every event of ``run_id`` and return the run's trees.

    Returns an empty list when the run has no events in the repository's
    project.
    """
    events = repo.iter_events(run_id=run_id, include_deleted=include_deleted)
    return build_tree(events)
