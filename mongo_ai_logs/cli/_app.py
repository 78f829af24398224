"""The command line: arguments, logging, and turning errors into exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import shutil
import sys
import urllib.parse
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import Any, TextIO, get_args

from mongo_ai_logs import __version__
from mongo_ai_logs.cli._commands import COMMANDS, Context, StoreOpener
from mongo_ai_logs.cli._exit import ExitCode
from mongo_ai_logs.cli._format import printable
from mongo_ai_logs.cli._store import open_store
from mongo_ai_logs.config import read_environment
from mongo_ai_logs.errors import (
    ConfigurationError,
    InvalidInputError,
    MongoAILogsError,
    NotFoundError,
    StoreError,
)
from mongo_ai_logs.ingest import FORMATS
from mongo_ai_logs.local_store import StoreBusyError
from mongo_ai_logs.models import EventType

__all__ = ["build_parser", "run"]

logger = logging.getLogger("mongo_ai_logs.cli")

_FILTER_NAMES = (
    "user",
    "session",
    "run",
    "type",
    "model",
    "status",
    "tag",
    "meta",
    "since",
    "until",
)
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

_DESCRIPTION = """\
Store, import and look at the logs of AI agents in MongoDB.

Events go to the MongoDB server of MONGODB_URI (environment or .env), or,
without it, to a local store in your data directory that lasts between
commands (see `ping`)."""

_EXIT_CODES = """\
exit codes:
  0    done
  1    not everything done: events refused, ids not found, run empty,
       purge not confirmed
  2    bad command line or value
  3    the store cannot be reached, configured or started
  4    the local store is busy with another command (see --wait)
  70   a bug in mongo-ai-logs (-vv shows the traceback)
  130  interrupted"""

_EXAMPLES = {
    "demo": "  mongo-ai-logs demo",
    "ping": "  mongo-ai-logs ping\n  mongo-ai-logs ping --json",
    "ingest": (
        "  mongo-ai-logs ingest run.traj exchanges.jsonl\n"
        "  mongo-ai-logs ingest --format sharegpt data.json --project support-bot"
    ),
    "find": (
        "  mongo-ai-logs find --user alice --type llm_call --since 7d\n"
        "  mongo-ai-logs find --meta env=prod --meta retries:=3 --all --json"
    ),
    "show": "  mongo-ai-logs show 5f2c0e7a\n  mongo-ai-logs show 5f2c0e7a --full",
    "stats": (
        "  mongo-ai-logs stats --by model --since 30d\n"
        "  mongo-ai-logs stats --by day --prices prices.toml"
    ),
    "delete": (
        "  mongo-ai-logs delete 665f1c2b9d3e4a0012345678 --reason 'has an address'\n"
        "  mongo-ai-logs delete --user bob --dry-run"
    ),
    "restore": "  mongo-ai-logs restore 665f1c2b9d3e4a0012345678",
    "purge": (
        "  mongo-ai-logs purge --older-than 30 --dry-run\n"
        "  mongo-ai-logs purge --before 2025-01-01 --yes"
    ),
    "export": (
        "  mongo-ai-logs export --run 5f2c0e7a > run.jsonl\n"
        "  mongo-ai-logs export --since 2025-06-01 -o june.jsonl"
    ),
    "serve": (
        "  mongo-ai-logs serve                  # http://127.0.0.1:8000/\n"
        "  AI_LOGS_API_KEYS=... mongo-ai-logs serve --host 0.0.0.0 --port 8080"
    ),
}


# -- argument types -------------------------------------------------------


def _when(text: str) -> dt.datetime:
    """An ISO 8601 date or time (UTC when no zone), or ``7d``, ``12h`` ago."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        unit, amount = _UNITS[relative.group(2)], float(relative.group(1))
        try:
            return dt.datetime.now(dt.timezone.utc) - dt.timedelta(**{unit: amount})
        except OverflowError:
            raise argparse.ArgumentTypeError(f"{text!r} is too long ago") from None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use ISO 8601 (2025-06-01, "
            "2025-06-01T12:00:00+02:00) or an age such as 30m, 12h, 7d, 2w"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _metadata(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` (a string) or ``KEY:=JSON`` (a number, boolean or null)."""
    key, equals, value = text.partition("=")
    if not equals or not key or key == ":":
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE (a string) or KEY:=JSON (a number, "
            "true, false or null)"
        )
    if not key.endswith(":"):
        return key, value
    try:
        parsed = json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: {value!r} is not JSON; write KEY=VALUE for a string"
        ) from None
    if isinstance(parsed, (dict, list)):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a metadata filter takes one value, not an object or a list"
        )
    return key[:-1], parsed


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def _limit(text: str) -> int:
    value = _positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError(
            f"{text!r} is more than 1000; use --all to page through everything"
        )
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


# -- the parser -----------------------------------------------------------


def _add_output_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # The same options are on each command, with SUPPRESS as default there so
    # that one given before the command is not reset after it.
    parser.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="write JSON lines for programs instead of text for people",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="say more on stderr (-v: what is done, -vv: details)",
    )


def _add_store_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--project",
        default=default(None),
        metavar="NAME",
        help="read and write the events of this project only "
        "(default: AI_LOGS_PROJECT, else the default project)",
    )
    parser.add_argument(
        "--store",
        default=default(None),
        metavar="DIR",
        help="use the local store in DIR, even if MONGODB_URI is set "
        "(default: AI_LOGS_STORE, else ~/.local/share/mongo-ai-logs/store)",
    )
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=default(30.0),
        metavar="SECONDS",
        help="how long to wait for the local store when another command is "
        "using it (default: 30)",
    )


def _add_filters(parser: argparse.ArgumentParser, *, deleted: bool) -> None:
    group = parser.add_argument_group(
        "filters", "events matching all of them; values are taken literally"
    )
    group.add_argument("--user", metavar="ID", help="user_id")
    group.add_argument("--session", metavar="ID", help="session_id")
    group.add_argument("--run", metavar="ID", help="run_id")
    group.add_argument("--type", choices=get_args(EventType), help="event type")
    group.add_argument("--model", metavar="NAME", help="model name")
    group.add_argument("--status", choices=("ok", "error"), help="status")
    group.add_argument(
        "--tag",
        action="append",
        metavar="TAG",
        help="has this tag (repeat for several: all of them)",
    )
    group.add_argument(
        "--meta",
        action="append",
        type=_metadata,
        metavar="KEY=VALUE",
        help="metadata KEY equals the string VALUE; KEY:=JSON for a number, "
        "true, false or null (repeatable; keys may contain dots)",
    )
    group.add_argument(
        "--since",
        type=_when,
        metavar="WHEN",
        help="started at or after WHEN: ISO 8601 (UTC unless a zone is "
        "given) or an age such as 30m, 12h, 7d",
    )
    group.add_argument(
        "--until", type=_when, metavar="WHEN", help="started before WHEN"
    )
    if deleted:
        group.add_argument(
            "--include-deleted",
            action="store_true",
            help="include soft-deleted events",
        )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    output = argparse.ArgumentParser(add_help=False)
    _add_output_options(output, top=False)
    store = argparse.ArgumentParser(add_help=False)
    _add_store_options(store, top=False)

    parser = argparse.ArgumentParser(
        prog="mongo-ai-logs",
        description=_DESCRIPTION,
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    _add_output_options(parser, top=True)
    _add_store_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, *, uses_store: bool = True) -> Any:
        return commands.add_parser(
            name,
            parents=[output, store] if uses_store else [output],
            help=summary,
            description=summary,
            epilog=f"examples:\n{_EXAMPLES[name]}\n\n{_EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    command(
        "demo",
        "run the demo: store a short agent run and read it back (in memory "
        "unless MONGODB_URI is set)",
        uses_store=False,
    )
    command("ping", "say where the events live, the server's version and the count")

    ingest = command(
        "ingest",
        "import log files; importing a file again adds nothing",
    )
    ingest.add_argument(
        "paths", nargs="+", metavar="PATH", help="files to import; - reads stdin"
    )
    ingest.add_argument(
        "--format",
        choices=FORMATS,
        help="read every file as this format (default: told from each file)",
    )

    find = command("find", "list events, newest first")
    _add_filters(find, deleted=True)
    find.add_argument(
        "--limit",
        type=_limit,
        metavar="N",
        help="events per page, up to 1000 (default: 50; 1000 with --all)",
    )
    pages = find.add_mutually_exclusive_group()
    pages.add_argument("--cursor", help="the page after this cursor")
    pages.add_argument("--all", action="store_true", help="every matching event")

    show = command("show", "show a run as a tree of its events")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--full", action="store_true", help="show payloads whole")
    show.add_argument(
        "--include-deleted", action="store_true", help="include soft-deleted events"
    )

    stats = command("stats", "tokens, cost and events per model, user, day or type")
    stats.add_argument(
        "--by",
        choices=("model", "user", "day", "type"),
        default="model",
        help="what to group by (default: model)",
    )
    stats.add_argument(
        "--prices",
        metavar="FILE",
        help="a price table (JSON or TOML: model name or pattern -> USD per "
        "million input, output and cached_input tokens) to estimate the cost "
        "of events that recorded none; shown apart from the recorded cost",
    )
    _add_filters(stats, deleted=False)

    delete = command("delete", "soft-delete events by id or by filter")
    delete.add_argument("ids", nargs="*", metavar="ID", help="event ids")
    _add_filters(delete, deleted=False)
    delete.add_argument("--reason", help="why, kept with the events")
    delete.add_argument(
        "--by", metavar="WHO", help="who deletes (default: your login name)"
    )
    delete.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    restore = command("restore", "bring soft-deleted events back")
    restore.add_argument("ids", nargs="+", metavar="ID", help="event ids")

    purge = command("purge", "remove for good the events soft-deleted before a cutoff")
    cutoff = purge.add_mutually_exclusive_group(required=True)
    cutoff.add_argument(
        "--older-than",
        type=_positive_int,
        metavar="DAYS",
        help="events soft-deleted more than DAYS days ago",
    )
    cutoff.add_argument(
        "--before",
        type=_when,
        metavar="DATE",
        help="events soft-deleted before DATE (ISO 8601, UTC unless a zone is given)",
    )
    purge.add_argument("--dry-run", action="store_true", help="count, remove nothing")
    purge.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask; needed when not on a terminal",
    )

    export = command("export", "write events as JSON lines, to stdout or a file")
    _add_filters(export, deleted=True)
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (default: stdout)"
    )

    serve = command(
        "serve",
        "serve the REST API and the web viewer until interrupted (needs "
        "mongo-ai-logs[server]; see docs/api.md)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; another one needs "
        "AI_LOGS_API_KEYS)",
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="TCP port (default: 8000)"
    )
    return parser


def _check(args: argparse.Namespace) -> str | None:
    """What is wrong with arguments that each parse alone; ``None`` if nothing."""
    if args.command == "delete":
        filters = any(getattr(args, name, None) for name in _FILTER_NAMES)
        if args.ids and filters:
            return "give event ids or filters, not both"
        if not args.ids and not filters:
            return (
                "give event ids or at least one filter; deleting every event "
                "at once is not possible"
            )
    return None


# -- running --------------------------------------------------------------


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"mongo-ai-logs: {record.levelname.lower()}: {super().format(record)}"

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        # Messages name files and values from the logs; a traceback added
        # after the message keeps its lines.
        return printable(super().formatMessage(record))


def _start_logging(stream: TextIO, verbosity: int) -> logging.Handler:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter("%(message)s"))
    handler.setLevel(level)
    package = logging.getLogger("mongo_ai_logs")
    package.addHandler(handler)
    package.setLevel(level)
    return handler


def _stop_logging(handler: logging.Handler) -> None:
    package = logging.getLogger("mongo_ai_logs")
    package.removeHandler(handler)
    package.setLevel(logging.NOTSET)


def _secrets() -> list[str]:
    """The password of MONGODB_URI, as written and decoded, if there is one."""
    try:
        uri = read_environment(["MONGODB_URI"]).get("MONGODB_URI", "")
    except MongoAILogsError:
        return []
    userinfo = uri.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    if not password:
        return []
    return sorted({password, urllib.parse.unquote_plus(password)}, key=len)[::-1]


def _scrub(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, "***")
    return " ".join(text.split())


def _width(stream: TextIO) -> int | None:
    try:
        if stream.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def run(
    argv: Sequence[str],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    opener: StoreOpener = open_store,
) -> int:
    """Run one command line and return its exit code.

    Args:
        argv: The arguments, without the program name.
        stdout: Where output goes. Defaults to ``sys.stdout``.
        stderr: Where messages, progress and errors go. Defaults to
            ``sys.stderr``.
        stdin: Where confirmations are read. Defaults to ``sys.stdin``.
        opener: Opens the store for a command. Defaults to the store the
            settings select; tests give one of their own.
    """
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    inp = sys.stdin if stdin is None else stdin

    parser = build_parser()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    if args.project is None:
        try:
            args.project = read_environment(["AI_LOGS_PROJECT"]).get("AI_LOGS_PROJECT")
        except MongoAILogsError as exc:
            print(f"mongo-ai-logs: error: {_scrub(str(exc))}", file=err)
            return ExitCode.STORE
    problem = _check(args)
    if problem is not None:
        print(f"mongo-ai-logs {args.command}: error: {problem}", file=err)
        return ExitCode.USAGE

    handler = _start_logging(err, args.verbose)
    ctx = Context(
        args=args,
        out=out,
        err=err,
        stdin=inp,
        opener=opener,
        width=_width(out),
        progress=_isatty(err),
    )
    try:
        return COMMANDS[args.command](ctx)
    except KeyboardInterrupt:
        ctx.note("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        if out is sys.stdout:
            # The reader went away; point stdout at /dev/null so that the
            # interpreter's final flush does not fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.REFUSED
    except StoreBusyError as exc:
        return _fail(ctx, exc, ExitCode.BUSY)
    except (ConfigurationError, StoreError) as exc:
        return _fail(ctx, exc, ExitCode.STORE)
    except InvalidInputError as exc:
        return _fail(ctx, exc, ExitCode.USAGE)
    except NotFoundError as exc:
        return _fail(ctx, exc, ExitCode.REFUSED)
    except MongoAILogsError as exc:
        return _fail(ctx, exc, ExitCode.REFUSED)
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        message = f"cannot use{where}: {exc.strerror or exc}"
        return _fail(ctx, message, ExitCode.USAGE)
    except Exception as exc:
        logger.debug("the traceback of the failure:", exc_info=True)
        message = (
            f"internal error: {type(exc).__name__}: {exc} (this is a bug in "
            "mongo-ai-logs; -vv shows the traceback)"
        )
        return _fail(ctx, message, ExitCode.SOFTWARE)
    finally:
        _stop_logging(handler)


def _fail(ctx: Context, error: BaseException | str, code: ExitCode) -> int:
    logger.debug("failed:", exc_info=isinstance(error, BaseException))
    ctx.note(f"error: {_scrub(str(error))}")
    return code
