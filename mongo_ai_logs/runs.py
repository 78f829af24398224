"""An agent run as a tree of its events, for the CLI, the service and the viewer.

Events of a run point at the event they nest under with ``parent_id``; the
tree puts each under its parent, siblings ordered by ``seq`` then
``started_at``. An event whose parent is not part of the run (not stored, or
deleted) is shown as a root rather than hidden.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mongo_ai_logs.agent_log_repository import AgentLogRepository

__all__ = ["RunNode", "build_tree", "load_run"]

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

    def walk(self, depth: int = 0) -> Iterable[tuple[int, RunNode]]:
        """Yield ``(depth, node)`` for this node and its descendants, in order."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def to_dict(self) -> dict[str, Any]:
        """The node as plain data: the event with a ``children`` list."""
        return {**self.event, "children": [c.to_dict() for c in self.children]}


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
    roots: list[RunNode] = []
    for node in nodes.values():
        parent = nodes.get(str(node.event.get("parent_id")))
        if parent is None or parent is node or _is_ancestor(node, parent, nodes):
            roots.append(node)
        else:
            parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=_order)
    roots.sort(key=_order)
    return roots


def _is_ancestor(node: RunNode, candidate: RunNode, nodes: dict[str, RunNode]) -> bool:
    """Whether ``node`` is an ancestor of ``candidate`` (a cycle in the data)."""
    seen: set[str] = set()
    current: RunNode | None = candidate
    while current is not None:
        current_id = str(current.event["_id"])
        if current is node or current_id in seen:
            return True
        seen.add(current_id)
        current = nodes.get(str(current.event.get("parent_id")))
    return False


def load_run(
    repo: AgentLogRepository, run_id: str, *, include_deleted: bool = False
) -> list[RunNode]:
    """Read every event of ``run_id`` and return the run's trees.

    Returns an empty list when the run has no events in the repository's
    project.
    """
    events = repo.iter_events(run_id=run_id, include_deleted=include_deleted)
    return build_tree(events)
