"""What each command does, given its parsed arguments."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mongo_ai_logs import jsonl
from mongo_ai_logs.agent_log_repository import AgentLogRepository
from mongo_ai_logs.cli._exit import ExitCode
from mongo_ai_logs.cli._format import (
    Column,
    cost_of,
    event_name,
    format_cost,
    format_count,
    format_duration,
    format_time,
    format_tokens,
    one_line,
    plural,
    preview,
    printable,
    render_table,
)
from mongo_ai_logs.cli._prices import PriceTable
from mongo_ai_logs.cli._progress import ProgressBar
from mongo_ai_logs.cli._store import OpenStore, StoreOptions
from mongo_ai_logs.config import Settings
from mongo_ai_logs.demo import run_demo
from mongo_ai_logs.ingest import FileReport, ingest_file
from mongo_ai_logs.runs import RunNode, dumps_tree, load_run

__all__ = ["COMMANDS", "Context"]

logger = logging.getLogger(__name__)

StoreOpener = Callable[[StoreOptions], AbstractContextManager[OpenStore]]

_FILTER_ARGUMENTS = {
    "user": "user_id",
    "session": "session_id",
    "run": "run_id",
    "type": "type",
    "model": "model",
    "status": "status",
}
_REFUSED_SHOWN = 20
_STDIN = "/dev/stdin"


@dataclass
class Context:
    """A command's arguments, streams and way to its store."""

    args: argparse.Namespace
    out: TextIO
    err: TextIO
    stdin: TextIO
    opener: StoreOpener
    width: int | None = None
    progress: bool = False

    @property
    def json(self) -> bool:
        """Whether output is JSON lines rather than text for people."""
        return bool(getattr(self.args, "json", False))

    def store(self) -> AbstractContextManager[OpenStore]:
        """Open the command's store; see :func:`mongo_ai_logs.cli._store.open_store`."""
        store_path = getattr(self.args, "store", None)
        return self.opener(
            StoreOptions(
                project=getattr(self.args, "project", None),
                store_path=Path(store_path).expanduser() if store_path else None,
                wait=float(getattr(self.args, "wait", 30.0)),
                command=f"mongo-ai-logs {self.args.command}",
                on_wait=self.note,
            )
        )

    def say(self, text: str = "") -> None:
        """Write a line of output, with what a terminal would act on escaped."""
        print(printable(text, tabs=True), file=self.out, flush=True)

    def emit(self, data: Mapping[str, Any]) -> None:
        """Write one JSON line."""
        self.out.write(json.dumps(data, ensure_ascii=False) + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """Tell the user something on stderr, apart from the output."""
        print(f"mongo-ai-logs: {printable(text)}", file=self.err, flush=True)

    def filters(self) -> dict[str, Any]:
        """The event filters given on the command line, by repository name."""
        args = self.args
        found: dict[str, Any] = {}
        for name, filter_name in _FILTER_ARGUMENTS.items():
            value = getattr(args, name, None)
            if value is not None:
                found[filter_name] = value
        if getattr(args, "tag", None):
            found["tags"] = list(args.tag)
        if getattr(args, "meta", None):
            found["metadata"] = dict(args.meta)
        for name in ("since", "until"):
            if getattr(args, name, None) is not None:
                found[name] = getattr(args, name)
        if getattr(args, "include_deleted", False):
            found["include_deleted"] = True
        return found


# -- demo and ping --------------------------------------------------------


def cmd_demo(ctx: Context) -> int:
    """Run the demo of :mod:`mongo_ai_logs.demo`."""
    run_demo(out=ctx.out)
    return ExitCode.OK


def cmd_ping(ctx: Context) -> int:
    """Say where the events live, the server's version and how many there are."""
    with ctx.store() as store:
        version = store.server_version()
        events = store.repository.count()
        collection = store.repository.collection.full_name
        started = None if store.local is None else store.local.start_seconds
    if store.kind == "local":
        version = f"{version} (SecantusDB)"
    info: dict[str, Any] = {
        "store": store.kind,
        "location": store.location,
        "server_version": version,
        "collection": collection,
        "project": store.repository.project_id,
        "events": events,
    }
    if started is not None:
        info["start_seconds"] = round(started, 3)
    if ctx.json:
        ctx.emit(info)
        return ExitCode.OK
    where = "local store" if store.kind == "local" else "MongoDB"
    ctx.say(f"store:      {where} at {store.location}")
    ctx.say(f"server:     {version}")
    ctx.say(f"collection: {collection}")
    ctx.say(f"project:    {store.repository.project_id or '(default)'}")
    ctx.say(f"events:     {events:,}")
    if started is not None:
        ctx.say(f"started in: {started:.2f} s")
    return ExitCode.OK


# -- ingest ---------------------------------------------------------------


def cmd_ingest(ctx: Context) -> int:
    """Import log files, one summary per file; non-zero if anything was refused."""
    paths: list[str] = [_STDIN if p == "-" else p for p in ctx.args.paths]
    reports: list[FileReport] = []
    with ctx.store() as store:
        repository = store.repository
        repository.ensure_indexes()
        for number, path in enumerate(paths, start=1):
            label = f"[{number}/{len(paths)}] {printable(os.path.basename(path))}"
            bar = ProgressBar(
                ctx.err, label, enabled=ctx.progress, width=ctx.width or 80
            )
            try:
                report = ingest_file(
                    repository, path, format=ctx.args.format, on_progress=bar.update
                )
            finally:
                bar.close()
            reports.append(report)
            _print_file_report(ctx, report)

    failed = [r for r in reports if not r.ok]
    if not ctx.json and len(reports) > 1:
        stored = sum(r.stored for r in reports)
        skipped = sum(r.skipped for r in reports)
        refused = sum(len(r.refused) for r in reports)
        not_read = sum(1 for r in reports if r.error is not None)
        ctx.say(
            f"total: {plural(len(reports), 'file')}, {stored:,} stored, "
            f"{skipped:,} already present, {refused:,} refused"
            + (f", {plural(not_read, 'file')} not imported" if not_read else "")
        )
    return ExitCode.REFUSED if failed else ExitCode.OK


def _print_file_report(ctx: Context, report: FileReport) -> None:
    refused = [
        {"location": item.location, "reason": item.reason} for item in report.refused
    ]
    if ctx.json:
        ctx.emit(
            {
                "path": report.path,
                "format": report.format,
                "stored": report.stored,
                "skipped": report.skipped,
                "refused": refused,
                "error": report.error,
                "ok": report.ok,
            }
        )
        return
    if report.error is not None:
        reason = report.error.removeprefix(f"{report.path}: ")
        ctx.say(f"{report.path}: not imported: {reason}")
        return
    ctx.say(
        f"{report.path} ({report.format}): {report.stored:,} stored, "
        f"{report.skipped:,} already present, {len(refused):,} refused"
    )
    for item in refused[:_REFUSED_SHOWN]:
        ctx.say(f"  {item['location']}: {one_line(item['reason'], 200)}")
    if len(refused) > _REFUSED_SHOWN:
        ctx.say(f"  ... and {len(refused) - _REFUSED_SHOWN:,} more (--json lists all)")


# -- find -----------------------------------------------------------------

_FIND_COLUMNS = [
    Column("STARTED (UTC)"),
    Column("ID"),
    Column("TYPE"),
    Column("NAME", max_width=28),
    Column("RUN"),
    Column("STATUS"),
    Column("TOKENS", align="right"),
    Column("COST", align="right"),
    Column("SUMMARY", flex=True),
]


def _find_row(event: Mapping[str, Any]) -> list[str]:
    return [
        format_time(event.get("started_at")),
        str(event.get("_id", "")),
        str(event.get("type", "")),
        event_name(event),
        str(event.get("run_id") or ""),
        str(event.get("status") or ("deleted" if event.get("deleted") else "")),
        format_tokens(event.get("usage")),
        format_cost(cost_of(event)),
        preview(event, 300),
    ]


def cmd_find(ctx: Context) -> int:
    """List events matching the filters, newest first, a page at a time."""
    args = ctx.args
    filters = ctx.filters()
    next_cursor: str | None = None
    rows: list[list[str]] = []
    with ctx.store() as store:
        repository = store.repository
        if args.all:
            events: Iterable[dict[str, Any]] = repository.iter_events(
                page_size=args.limit or 1000, **filters
            )
        else:
            limit = args.limit or 50
            page = repository.find(limit=limit, cursor=args.cursor, **filters)
            events, next_cursor = page.items, page.next_cursor
        for event in events:
            if ctx.json:
                ctx.out.write(jsonl.dumps(event) + "\n")
            else:
                rows.append(_find_row(event))
    if not ctx.json:
        if rows:
            for line in render_table(_FIND_COLUMNS, rows, width=ctx.width):
                ctx.say(line)
        else:
            ctx.note("no events match")
    ctx.out.flush()
    if next_cursor is not None:
        ctx.note(f"more events: add --cursor {next_cursor} (or --all for all)")
    return ExitCode.OK


# -- show -----------------------------------------------------------------

_SHOW_COLUMNS = [
    Column("EVENT"),
    Column("NAME", max_width=32),
    Column("DURATION", align="right"),
    Column("TOKENS", align="right"),
    Column("COST", align="right"),
    Column("STATUS"),
    Column("PREVIEW", flex=True),
]
_DRAWN_LEVELS = 16
_FULL_FIELDS = (
    ("content", ("content",)),
    ("input", ("input",)),
    ("output", ("output",)),
    ("tool arguments", ("tool", "arguments")),
    ("tool result", ("tool", "result")),
    ("error", ("error",)),
)


def _tree(roots: Sequence[RunNode]) -> Iterator[tuple[str, str, RunNode]]:
    """Yield ``(branch, continuation, node)`` in display order.

    Below :data:`_DRAWN_LEVELS` levels, the guides of the levels above are
    left out and counted (``[+120]``), so that a deep run keeps narrow lines.
    """
    pending: list[tuple[RunNode, tuple[str, ...], int, bool]] = [
        (root, (), 0, True) for root in reversed(roots)
    ]
    while pending:
        node, guides, depth, last = pending.pop()
        if depth == 0:
            branch = below = ""
        else:
            hidden = depth - 1 - len(guides)
            drawn = (f"[+{hidden:,}] " if hidden else "") + "".join(guides)
            branch = drawn + ("└─ " if last else "├─ ")
            below = drawn + ("   " if last else "│  ")
            guides = (*guides, "   " if last else "│  ")[-_DRAWN_LEVELS:]
        yield branch, below, node
        count = len(node.children)
        for index in reversed(range(count)):
            child = node.children[index]
            pending.append((child, guides, depth + 1, index == count - 1))


def _duration(event: Mapping[str, Any]) -> Any:
    duration = event.get("duration_ms")
    if duration is None:
        started, ended = event.get("started_at"), event.get("ended_at")
        if isinstance(started, dt.datetime) and isinstance(ended, dt.datetime):
            duration = (ended - started) / dt.timedelta(milliseconds=1)
    return duration


def _dig(event: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = event
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _full_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(
        jsonl.to_jsonable({"v": value})["v"], ensure_ascii=False, indent=2
    )


def cmd_show(ctx: Context) -> int:
    """Show a run as a tree of its events."""
    args = ctx.args
    with ctx.store() as store:
        roots = load_run(
            store.repository, args.run_id, include_deleted=args.include_deleted
        )
        project = store.repository.project_id
    if not roots:
        where = f" in project {project!r}" if project else ""
        ctx.note(f"no events for run {args.run_id!r}{where}")
        return ExitCode.REFUSED
    nodes = list(_tree(roots))
    if ctx.json:
        # The tree is written by dumps_tree, which any depth of run allows.
        head = json.dumps(
            {"run_id": args.run_id, "events": len(nodes)}, ensure_ascii=False
        )
        tree = dumps_tree(
            roots, lambda node: jsonl.to_jsonable(node.event), ensure_ascii=False
        )
        ctx.out.write(f'{head[:-1]}, "tree": {tree}}}\n')
        ctx.out.flush()
        return ExitCode.OK

    ctx.say(_run_header(args.run_id, [node.event for _, _, node in nodes]))
    rows = []
    for branch, _, node in nodes:
        event = node.event
        status = event.get("status") or ""
        if event.get("deleted"):
            status = f"{status} deleted".strip()
        rows.append(
            [
                branch + str(event.get("type", "")),
                event_name(event),
                format_duration(_duration(event)),
                format_tokens(event.get("usage")),
                format_cost(cost_of(event)),
                status,
                "" if args.full else preview(event, 300),
            ]
        )
    lines = render_table(_SHOW_COLUMNS, rows, width=ctx.width)
    ctx.say(lines[0])
    for line, (_, below, node) in zip(lines[1:], nodes, strict=True):
        ctx.say(line)
        if args.full:
            for label, path in _FULL_FIELDS:
                value = _dig(node.event, path)
                if value is None or value == {}:
                    continue
                text = _full_text(value).splitlines() or [""]
                indent = below + ("│  " if node.children else "   ")
                ctx.say(f"{indent}  {label}: {text[0]}")
                for more in text[1:]:
                    ctx.say(f"{indent}    {more}")
    return ExitCode.OK


def _run_header(run_id: str, events: Sequence[Mapping[str, Any]]) -> str:
    starts: list[dt.datetime] = []
    ends: list[dt.datetime] = []
    for event in events:
        started, ended = event.get("started_at"), event.get("ended_at")
        if isinstance(started, dt.datetime):
            starts.append(started)
            ends.append(ended if isinstance(ended, dt.datetime) else started)
    tokens = sum(
        int(e["usage"].get("total_tokens") or 0)
        for e in events
        if isinstance(e.get("usage"), Mapping)
    )
    costs = [c for c in (cost_of(e) for e in events) if c is not None]
    parts = [f"run {run_id}", plural(len(events), "event")]
    if starts:
        parts.append(f"started {format_time(min(starts))} UTC")
        span = max(ends) - min(starts)
        if span:
            parts.append(format_duration(span / dt.timedelta(milliseconds=1)))
    if tokens:
        parts.append(f"{tokens:,} tokens")
    if costs:
        parts.append(f"cost {format_cost(sum(costs))}")
    for name in ("user_id", "session_id"):
        values = {e.get(name) for e in events if e.get(name)}
        if len(values) == 1:
            parts.append(f"{name.split('_')[0]} {values.pop()}")
    return ", ".join(parts)


# -- stats ----------------------------------------------------------------

_GROUP_BY = {"model": "model", "user": "user_id", "day": "day", "type": "type"}
_TOKEN_FIELDS = (
    ("INPUT", "input_tokens"),
    ("OUTPUT", "output_tokens"),
    ("CACHE READ", "cache_read_input_tokens"),
    ("REASONING", "reasoning_tokens"),
    ("TOTAL", "total_tokens"),
)


@dataclass
class _Estimate:
    cost: float = 0.0
    events: int = 0
    unpriced: int = 0


def _group_value(event: Mapping[str, Any], by: str) -> Any:
    if by == "model":
        model = event.get("model")
        return model.get("name") if isinstance(model, Mapping) else None
    if by == "day":
        started = event.get("started_at")
        if not isinstance(started, dt.datetime):
            return None
        return started.astimezone(dt.timezone.utc).strftime("%Y-%m-%d")
    return event.get(by)


def _estimates(
    repository: AgentLogRepository,
    prices: PriceTable,
    by: str,
    filters: Mapping[str, Any],
) -> dict[Any, _Estimate]:
    """Estimated cost per group of the events that recorded no cost.

    This reads every matching event; an aggregation on the server grouped by
    the group and the model name would read only the sums.
    """
    estimates: dict[Any, _Estimate] = {}
    for event in repository.iter_events(
        page_size=1000, load_large_values=False, **filters
    ):
        usage = event.get("usage")
        if cost_of(event) is not None or not isinstance(usage, Mapping):
            continue
        model = event.get("model")
        name = model.get("name") if isinstance(model, Mapping) else None
        price = prices.price_for(name)
        estimate = estimates.setdefault(_group_value(event, by), _Estimate())
        amount = None if price is None else price.cost(usage)
        if amount is None:
            if price is None and (
                usage.get("input_tokens") or usage.get("output_tokens")
            ):
                estimate.unpriced += 1
            continue
        estimate.cost += amount
        estimate.events += 1
    return estimates


def cmd_stats(ctx: Context) -> int:
    """Tokens, cost and events per model, user, day or type."""
    args = ctx.args
    by = _GROUP_BY[args.by]
    filters = ctx.filters()
    prices = PriceTable.load(args.prices) if args.prices else None
    with ctx.store() as store:
        rows = store.repository.usage_stats(group_by=by, **filters)  # type: ignore[arg-type]
        estimates = _estimates(store.repository, prices, by, filters) if prices else {}

    results = []
    for row in rows:
        group = row.pop(by)
        result = {"by": args.by, "group": group, **row}
        if prices is not None:
            estimate = estimates.get(group, _Estimate())
            result["estimated_cost"] = estimate.cost
            result["estimated_events"] = estimate.events
            result["unpriced_events"] = estimate.unpriced
        results.append(result)

    if ctx.json:
        for result in results:
            ctx.emit(result)
        return ExitCode.OK
    if not results:
        ctx.note("no events match")
        return ExitCode.OK
    _print_stats(ctx, args.by, results, prices)
    return ExitCode.OK


def _print_stats(
    ctx: Context,
    by: str,
    results: list[dict[str, Any]],
    prices: PriceTable | None,
) -> None:
    columns = [Column(by.upper(), max_width=40), Column("EVENTS", align="right")]
    columns += [Column(title, align="right") for title, _ in _TOKEN_FIELDS]
    columns.append(Column("COST", align="right"))
    if prices is not None:
        columns.append(Column("EST. COST*", align="right"))

    def cells(name: str, data: Mapping[str, Any]) -> list[str]:
        row = [name, format_count(data["events"])]
        row += [format_count(data.get(key)) for _, key in _TOKEN_FIELDS]
        row.append(format_cost(data.get("cost") or 0.0))
        if prices is not None:
            row.append(format_cost(data.get("estimated_cost") or 0.0))
        return row

    table = [
        cells("(none)" if r["group"] is None else str(r["group"]), r) for r in results
    ]
    if len(results) > 1:
        keys = ["events", "cost", *(key for _, key in _TOKEN_FIELDS)]
        if prices is not None:
            keys.append("estimated_cost")
        totals = {k: sum(r.get(k) or 0 for r in results) for k in keys}
        table.append(cells("(all)", totals))
    for line in render_table(columns, table, width=ctx.width):
        ctx.say(line)
    if prices is not None:
        estimated = sum(r["estimated_events"] for r in results)
        unpriced = sum(r["unpriced_events"] for r in results)
        has = "has" if unpriced == 1 else "have"
        ctx.say(
            f"* estimated from {prices.source} for {plural(estimated, 'event')} "
            "that recorded no cost; COST is only what the logs recorded"
            + (
                f"; {plural(unpriced, 'event')} with tokens {has} no price"
                if unpriced
                else ""
            )
        )


# -- delete, restore, purge -----------------------------------------------


def cmd_delete(ctx: Context) -> int:
    """Soft-delete events by id or by filter."""
    args = ctx.args
    filters = ctx.filters()
    by = args.by if args.by is not None else _login_name()
    with ctx.store() as store:
        repository = store.repository
        if args.ids:
            if args.dry_run:
                found = [i for i in args.ids if repository.get(i) is not None]
                return _report_ids(ctx, "would soft-delete", found, args.ids)
            done = [
                event_id
                for event_id in args.ids
                if repository.soft_delete(event_id, by=by, reason=args.reason)
            ]
            return _report_ids(ctx, "soft-deleted", done, args.ids)
        if args.dry_run:
            count = repository.count(**filters)
            verb = "would soft-delete"
        else:
            count = repository.soft_delete_many(by=by, reason=args.reason, **filters)
            verb = "soft-deleted"
    if ctx.json:
        ctx.emit({"action": verb, "events": count, "dry_run": args.dry_run})
    else:
        ctx.say(f"{verb} {plural(count, 'event')}")
    return ExitCode.OK


def cmd_restore(ctx: Context) -> int:
    """Bring soft-deleted events back."""
    with ctx.store() as store:
        done = [i for i in ctx.args.ids if store.repository.restore(i)]
    return _report_ids(ctx, "restored", done, ctx.args.ids)


def _report_ids(ctx: Context, verb: str, done: list[str], asked: list[str]) -> int:
    missing = [i for i in asked if i not in done]
    if ctx.json:
        ctx.emit({"action": verb, "ids": done, "not_found": missing})
    else:
        ctx.say(f"{verb} {len(done)} of {len(asked)} events")
        if missing:
            state = "not deleted" if verb == "restored" else "already deleted"
            ctx.say(f"not found or {state}: {', '.join(missing)}")
    return ExitCode.REFUSED if missing else ExitCode.OK


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def cmd_purge(ctx: Context) -> int:
    """Remove for good the events soft-deleted before a cutoff, once confirmed."""
    args = ctx.args
    if args.before is not None:
        cutoff: dt.datetime = args.before
    else:
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=args.older_than)
    when = cutoff.isoformat(timespec="seconds")

    with ctx.store() as store:
        repository = store.repository
        count = repository.purge(deleted_before=cutoff, dry_run=True)
        if args.dry_run or count == 0:
            return _report_purge(ctx, when, count, removed=False)
        if not args.yes:
            refusal = _confirm_purge(ctx, count, when)
            if refusal is not None:
                ctx.note(refusal)
                return ExitCode.REFUSED
        removed = repository.purge(deleted_before=cutoff)
    return _report_purge(ctx, when, removed, removed=True)


def _confirm_purge(ctx: Context, count: int, when: str) -> str | None:
    """Ask on a terminal; return why not to go on, or ``None`` to go on."""
    if not ctx.stdin.isatty():
        return (
            f"purge would remove {plural(count, 'event')} for good; not on a "
            "terminal, so "
            "nothing was removed: pass --yes to confirm (--dry-run only counts)"
        )
    ctx.err.write(
        f"Remove {plural(count, 'event')} soft-deleted before {when} for good? "
        "This cannot be undone. [y/N] "
    )
    ctx.err.flush()
    answer = ctx.stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return None
    return "nothing was removed"


def _report_purge(ctx: Context, when: str, count: int, *, removed: bool) -> int:
    if ctx.json:
        key = "removed" if removed else "would_remove"
        ctx.emit({key: count, "deleted_before": when, "dry_run": ctx.args.dry_run})
    elif removed:
        ctx.say(f"purged {plural(count, 'event')} soft-deleted before {when}")
    else:
        ctx.say(f"would purge {plural(count, 'event')} soft-deleted before {when}")
    return ExitCode.OK


# -- export ---------------------------------------------------------------


def cmd_export(ctx: Context) -> int:
    """Write the matching events as JSON lines, to stdout or a file."""
    args = ctx.args
    filters = ctx.filters()
    if args.output is None or args.output == "-":
        with ctx.store() as store:
            count = _write_events(store.repository, filters, ctx.out)
        return ExitCode.OK

    target = Path(args.output)
    # Written beside the target and moved into place at the end, so a failed
    # export never leaves half a file under the target's name.
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent or "."
        )
    except OSError as exc:
        raise _naming(exc, target) from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file, ctx.store() as store:
            count = _write_events(store.repository, filters, file)
        # mkstemp makes the file readable by its owner only; give it the
        # permissions any new file of the user gets.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise _naming(exc, target) from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    ctx.note(f"exported {plural(count, 'event')} to {target}")
    return ExitCode.OK


def _naming(error: OSError, target: Path) -> OSError:
    """``error`` about ``target``, not the hidden file written beside it."""
    return OSError(error.errno, error.strerror or str(error), str(target))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_events(
    repository: AgentLogRepository, filters: Mapping[str, Any], out: TextIO
) -> int:
    count = 0
    for event in repository.iter_events(page_size=1000, **filters):
        out.write(jsonl.dumps(event) + "\n")
        count += 1
    out.flush()
    return count


# -- serve ------------------------------------------------------------------


def cmd_serve(ctx: Context) -> int:
    """Serve the REST API and the viewer on the command's store."""
    try:
        from mongo_ai_logs.server import ServerSettings, serve
    except ImportError:
        ctx.note(
            "error: the service needs its extra: pip install 'mongo-ai-logs[server]'"
        )
        return ExitCode.USAGE
    server_settings = ServerSettings.load(project=ctx.args.project)
    with ctx.store() as store:
        settings = Settings.load()
        if store.local is not None:
            settings = settings.with_changes(uri=store.local.uri)
        serve(
            settings,
            server_settings,
            host=ctx.args.host,
            port=ctx.args.port,
            log_level="debug" if ctx.args.verbose > 1 else "info",
        )
    return ExitCode.OK


COMMANDS: dict[str, Callable[[Context], int]] = {
    "demo": cmd_demo,
    "ping": cmd_ping,
    "ingest": cmd_ingest,
    "find": cmd_find,
    "show": cmd_show,
    "stats": cmd_stats,
    "delete": cmd_delete,
    "restore": cmd_restore,
    "purge": cmd_purge,
    "export": cmd_export,
    "serve": cmd_serve,
}
"""Each command's function, by name."""
