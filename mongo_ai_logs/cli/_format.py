"""Text for people: tables, short previews of payloads, durations and money.

Logged content goes to a terminal here, and a terminal acts on some of the
characters it could hold: escape sequences that clear the screen, change
colours, set the window title or write to the clipboard, and bidirectional
overrides that show text in another order than it has. :func:`printable`
writes those characters as escapes (``\\x1b``, ``\\u202e``); every line the
CLI prints for people goes through it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mongo_ai_logs import jsonl, providers

__all__ = [
    "Column",
    "cost_of",
    "display_width",
    "event_name",
    "fit",
    "format_cost",
    "format_duration",
    "format_time",
    "format_tokens",
    "one_line",
    "plural",
    "preview",
    "printable",
    "render_table",
]

ELLIPSIS = "…"

# C0 controls but tab, DEL, C1 controls, the line and paragraph separators,
# the bidirectional marks, embeddings, overrides and isolates, and the halves
# of surrogate pairs, which cannot be written as UTF-8.
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
    "\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, tabs: bool = False) -> str:
    """``text`` with every character a terminal would act on written as an escape.

    Args:
        text: The text.
        tabs: Whether tabs stay as they are; defaults to ``False``: tabs are
            escaped too, as in a table's cells, where they would break the
            columns.
    """
    if text.isprintable():
        return text
    escaped = _UNPRINTABLE.sub(_escape, text)
    return escaped if tabs else escaped.replace("\t", "\\t")


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide East Asian characters take two."""
    if text.isascii():
        return len(text)
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def fit(text: str, width: int) -> str:
    """Cut ``text`` to at most ``width`` columns, ending with ``…`` if cut."""
    if display_width(text) <= width:
        return text
    if width <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for char in text:
        size = display_width(char)
        if used + size > width - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept) + ELLIPSIS


def _pad(text: str, width: int, align: str) -> str:
    gap = " " * max(width - display_width(text), 0)
    return gap + text if align == "right" else text + gap


@dataclass(frozen=True)
class Column:
    """A column of a table.

    Attributes:
        header: Its title.
        align: ``"left"`` or ``"right"`` (numbers).
        flex: Whether it gives up width first when the table is too wide; a
            flexible column narrower than 8 columns is left out.
        max_width: The widest its cells may be; longer ones are cut.
    """

    header: str
    align: Literal["left", "right"] = "left"
    flex: bool = False
    max_width: int | None = None


def render_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
) -> list[str]:
    """Lay ``rows`` out under ``columns``; return the lines, header first.

    Args:
        columns: The columns.
        rows: The cells of each row, as text, one per column.
        width: The terminal's width. When the table is wider, flexible
            columns are narrowed, then left out. ``None``: no limit.
    """
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [display_width(c.header) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], display_width(cell))
    for i, column in enumerate(columns):
        if column.max_width is not None:
            widths[i] = min(widths[i], max(column.max_width, len(column.header)))

    shown = list(range(len(columns)))
    if width is not None:
        for i in reversed(range(len(columns))):
            if not columns[i].flex:
                continue
            total = sum(widths[j] for j in shown) + 2 * (len(shown) - 1)
            excess = total - width
            if excess <= 0:
                break
            widths[i] -= excess
            if widths[i] < 8:
                shown.remove(i)

    def line(cells: Sequence[str]) -> str:
        parts = [
            _pad(fit(cells[i], widths[i]), widths[i], columns[i].align) for i in shown
        ]
        return "  ".join(parts).rstrip()

    return [line([c.header for c in columns]), *(line(row) for row in rows)]


def one_line(value: Any, limit: int | None = None) -> str:
    """A value on one line: text as it is, anything else as compact JSON.

    Runs of whitespace become one space. ``limit`` cuts the result to that
    many columns.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(
            jsonl.to_jsonable({"v": value})["v"],
            ensure_ascii=False,
            separators=(",", ":"),
        )
    text = printable(" ".join(text.split()))
    return text if limit is None else fit(text, limit)


def event_name(event: Mapping[str, Any]) -> str:
    """What names an event: its model, tool, agent, role or score, by its type."""
    model = _part(event, "model").get("name")
    tool = _part(event, "tool").get("name")
    agent = _part(event, "agent").get("name")
    kind = event.get("type")
    if kind == "llm_call":
        order = [model, agent]
    elif kind == "tool_call":
        order = [tool, agent]
    elif kind == "message":
        order = [event.get("role"), agent]
    elif kind == "evaluation":
        order = [event.get("name"), _part(event, "output").get("name"), agent]
    else:
        order = [event.get("name"), agent, model, tool, event.get("role")]
    for name in order:
        if name:
            return str(name)
    return ""


def preview(event: Mapping[str, Any], limit: int) -> str:
    """One line on what an event said, returned or found, cut to ``limit``."""
    kind = event.get("type")
    error = _part(event, "error")
    if error:
        text = ": ".join(str(v) for v in (error.get("type"), error.get("message")) if v)
        return one_line(f"error: {text}", limit)
    if kind == "message" and event.get("content") is not None:
        return one_line(event["content"], limit)
    if kind == "llm_call" and isinstance(event.get("output"), Mapping):
        answer = _answer(event["output"])
        if answer is not None:
            return fit(answer, limit)
    if kind == "tool_call":
        tool = _part(event, "tool")
        for name in ("result", "arguments"):
            if tool.get(name) is not None:
                return one_line(tool[name], limit)
    if kind == "evaluation" and isinstance(event.get("output"), Mapping):
        output = event["output"]
        if "value" in output:
            comment = output.get("comment")
            text = one_line(output["value"]) + (f": {comment}" if comment else "")
            return one_line(text, limit)
    given, returned = event.get("input"), event.get("output")
    if kind == "agent_step" and given is not None and returned is not None:
        return fit(f"{one_line(given, limit // 3)} → {one_line(returned)}", limit)
    for value in (returned, event.get("content"), given):
        if value is not None:
            return one_line(value, limit)
    return ""


def _answer(output: Mapping[str, Any]) -> str | None:
    """The text or tool calls of a provider response, if it is one."""
    if providers.detect_api(output) is None:
        return None
    try:
        response = providers.describe_response(output)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    parts = []
    if isinstance(response.output, str) and response.output.strip():
        parts.append(one_line(response.output))
    elif isinstance(response.output, list):
        parts.extend(_item_texts(response.output))
    for call in response.tool_calls:
        arguments = one_line(call.get("arguments"), 80)
        parts.append(f"calls {call.get('name')}({arguments})")
    return "; ".join(parts) if parts else None


def _item_texts(items: list[Any]) -> list[str]:
    """The text of the message items or content blocks of a response; other
    items (reasoning, tool runs) by their type."""
    texts, others = [], []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        blocks = item.get("content") if kind == "message" else [item]
        found = False
        for block in blocks if isinstance(blocks, list) else []:
            text = block.get("text") if isinstance(block, Mapping) else None
            if isinstance(text, str) and text.strip():
                texts.append(one_line(text))
                found = True
        if not found and kind not in ("function_call", "tool_use") and kind:
            others.append(str(kind))
    if texts:
        return texts
    return [f"[{', '.join(others)}]"] if others else []


def cost_of(event: Mapping[str, Any]) -> float | None:
    """The recorded cost of an event in USD, if it has one."""
    total = _part(event, "cost").get("total")
    return float(total) if isinstance(total, (int, float)) else None


def _part(event: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = event.get(name)
    return value if isinstance(value, Mapping) else {}


def format_time(value: Any) -> str:
    """A datetime as ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    if not isinstance(value, dt.datetime):
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return str(value.strftime("%Y-%m-%d %H:%M:%S"))


def format_duration(milliseconds: Any) -> str:
    """``850 ms``, ``1.3 s``, ``2 min 5 s``."""
    if not isinstance(milliseconds, (int, float)) or isinstance(milliseconds, bool):
        return ""
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def format_tokens(usage: Any) -> str:
    """Input and output tokens as ``in/out``, empty when there are none."""
    if not isinstance(usage, Mapping):
        return ""
    given = [usage.get("input_tokens"), usage.get("output_tokens")]
    if all(v is None for v in given):
        total = usage.get("total_tokens")
        return "" if total is None else f"{total:,}"
    return "/".join("-" if v is None else f"{v:,}" for v in given)


def format_cost(value: float | None) -> str:
    """USD with as many decimals as small amounts need."""
    if value is None:
        return ""
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.6f}"
    return f"${value:,.4f}"


def plural(count: int, noun: str) -> str:
    """``1 event``, ``2 events``, ``1,000 events``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def format_count(value: Any) -> str:
    """A whole number with thousands separators; empty for none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    return f"{value:,.0f}"
