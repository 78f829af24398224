"""Reading a file as a stream of JSON values, whatever its layout.

Three layouts are told apart from the first bytes:

- JSON lines: one value per line, read line by line. A broken line is
  reported by its number and the lines after it are still read.
- A JSON array: its elements are decoded one at a time from a growing
  buffer, so a large export is never held whole. Decoding stops at the first
  element that is not valid JSON, which is reported with its line.
- A JSON document, usually pretty-printed (or several, one after the other):
  each is decoded whole. A first document that is not valid JSON makes the
  file unreadable.

A value nested more than :data:`MAX_NESTING` levels deep, or holding a number
longer than the interpreter converts, is refused like a broken one, by its
location; in JSON lines the other lines are still read.

The reader counts the bytes it has taken from the file, for progress reports.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from mongo_ai_logs.codec import MAX_PAYLOAD_NESTING
from mongo_ai_logs.ingest._records import UnreadableFileError
from mongo_ai_logs.jsonl import nested_deeper_than

__all__ = ["MAX_NESTING", "JsonInput", "Value", "open_input"]

Layout = Literal["empty", "lines", "array", "documents"]

_CHUNK_BYTES = 1024 * 1024
_SNIFF_LINES = 5
_WHITESPACE = " \t\r\n"

MAX_NESTING = MAX_PAYLOAD_NESTING + 56
"""The most levels of arrays and objects a value of a file may have.

Payloads are stored up to :data:`~mongo_ai_logs.codec.MAX_PAYLOAD_NESTING`
levels; the rest leaves room for the levels a format wraps them in. Deeper
values would only be refused later, by code that recurses into them.
"""


@dataclass(frozen=True)
class Value:
    """One JSON value of a file, or why it could not be decoded.

    Attributes:
        location: ``"line 7"`` in JSON lines, ``"record 3"`` in an array or a
            run of documents, ``""`` for a file that is one document.
        data: The decoded value.
        error: Why the value could not be decoded; ``data`` is then ``None``.
    """

    location: str
    data: Any = None
    error: str | None = None


@contextmanager
def open_input(path: str | os.PathLike[str]) -> Iterator[JsonInput]:
    """Open ``path`` for reading as JSON values.

    Raises:
        UnreadableFileError: The file cannot be opened or read.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            yield JsonInput(file, name)
    except OSError as exc:
        raise UnreadableFileError(f"{name}: cannot read: {exc.strerror}") from exc


class JsonInput:
    """A file read as JSON values; see the module docstring.

    Args:
        file: The file, opened in binary mode.
        name: Its name, for messages.
    """

    def __init__(self, file: BinaryIO, name: str) -> None:
        self.name = name
        self.bytes_read = 0
        self.size = _regular_size(file)
        self._file = file
        self._pending: list[bytes] = []
        self.layout = self._sniff()
        self._values = self._decode()
        self._peeked: list[Value] = []

    def first_value(self, limit: int = 50) -> Value | None:
        """The first value that decodes, looking at most ``limit`` values ahead.

        The values looked at are still given by :meth:`values`. Returns
        ``None`` when none of them decodes, or when the file holds none.

        Raises:
            UnreadableFileError: The file is one document that is not JSON.
        """
        for value in self._peeked:
            if value.error is None:
                return value
        while len(self._peeked) < limit:
            following = next(self._values, None)
            if following is None:
                break
            self._peeked.append(following)
            if following.error is None:
                return following
        return None

    def first_error(self) -> str | None:
        """The error of the first value looked at by :meth:`first_value`."""
        for value in self._peeked:
            if value.error is not None:
                return f"{value.location}: {value.error}"
        return None

    def values(self) -> Iterator[Value]:
        """Every value of the file, in order, each once."""
        while self._peeked:
            yield self._peeked.pop(0)
        yield from self._values

    # -- finding the layout --------------------------------------------------

    def _readline(self) -> bytes:
        if self._pending:
            return self._pending.pop(0)
        line = self._file.readline()
        self.bytes_read += len(line)
        return line

    def _read(self, size: int) -> bytes:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            return data
        data = self._file.read(size)
        self.bytes_read += len(data)
        return data

    def _sniff(self) -> Layout:
        lines: list[bytes] = []
        first = b""
        while not first:
            line = self._file.readline()
            self.bytes_read += len(line)
            if not line:
                self._pending = lines
                return "empty"
            lines.append(line)
            first = line.strip().removeprefix(codecs.BOM_UTF8).strip()
        layout: Layout = "lines"
        if first.startswith(b"["):
            layout = "array"
        elif first.startswith(b"{") and not _decodes(first):
            layout = "documents"
            for _ in range(_SNIFF_LINES):
                line = self._file.readline()
                self.bytes_read += len(line)
                if not line:
                    break
                lines.append(line)
                if line.strip().startswith(b"{") and _decodes(line):
                    layout = "lines"
                    break
        self._pending = lines
        return layout

    def _decode(self) -> Iterator[Value]:
        if self.layout == "lines":
            return self._lines()
        if self.layout in ("array", "documents"):
            return _StreamDecoder(self, array=self.layout == "array").values()
        return iter(())

    # -- JSON lines ----------------------------------------------------------

    def _lines(self) -> Iterator[Value]:
        number = 0
        while line := self._readline():
            number += 1
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
            text = line.strip()
            if not text:
                continue
            location = f"line {number}"
            try:
                yield Value(location, _loads(text.decode("utf-8")))
            except UnicodeDecodeError as exc:
                yield Value(location, error=_not_utf8(exc))
            except json.JSONDecodeError as exc:
                yield Value(location, error=_json_error(exc, line=None))
            except _LimitError as exc:
                yield Value(location, error=str(exc))


class _LimitError(Exception):
    """A value too deep or with a number too long to read; the message says which."""


def _too_deep() -> _LimitError:
    return _LimitError(
        f"nested too deeply: more than {MAX_NESTING} levels of arrays and objects"
    )


def _too_long() -> _LimitError:
    # Python refuses to convert longer digit strings, as a guard against slow
    # conversions; the limit can be changed, so it is read, not assumed.
    get_limit = getattr(sys, "get_int_max_str_digits", None)
    limit = f"{get_limit():,}" if get_limit is not None else "4,300"
    return _LimitError(f"a number has more than {limit} digits, more than can be read")


def _loads(text: str) -> Any:
    """``json.loads`` within the reader's limits.

    Raises:
        json.JSONDecodeError: The text is not JSON.
        _LimitError: The value is too deep or holds a number too long.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        raise _too_long() from None
    if _could_nest(text, 0, len(text)) and nested_deeper_than(value, MAX_NESTING):
        raise _too_deep()
    return value


def _could_nest(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` has enough brackets to pass the nesting limit."""
    brackets = text.count("[", start, end) + text.count("{", start, end)
    return brackets > MAX_NESTING


class _BrokenTextError(Exception):
    """The bytes of the file are not UTF-8 text."""


class _StreamDecoder:
    """Decodes the elements of an array, or documents one after another."""

    def __init__(self, source: JsonInput, *, array: bool) -> None:
        self.source = source
        self.array = array
        self.decoder = json.JSONDecoder()
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = 0
        self.lines_before = 0
        self.started = False
        self.eof = False

    def more(self) -> bool:
        """Read more of the file into the buffer; ``False`` at its end."""
        if self.eof:
            return False
        self.lines_before += self.text.count("\n", 0, self.pos)
        self.text = self.text[self.pos :]
        self.pos = 0
        data = self.source._read(max(_CHUNK_BYTES, len(self.text)))
        try:
            decoded = self.utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            line = self.lines_before + self.text.count("\n") + 1
            raise _BrokenTextError(_not_utf8(exc, f" near line {line}")) from None
        if not self.started:
            decoded = decoded.removeprefix("\ufeff")
            self.started = True
        self.text += decoded
        if not data:
            self.eof = True
        return bool(data)

    def skip_space(self) -> str:
        """Skip whitespace; return the next character, ``""`` at the end."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def values(self) -> Iterator[Value]:
        index = 0
        try:
            if self.array:
                self.skip_space()
                self.pos += 1  # the opening bracket, seen when sniffing
            while True:
                problem = self.next_value(index)
                if problem is not None:
                    if problem:
                        yield Value(f"record {index + 1}", error=problem)
                    return
                index += 1
                decoded = self.decode_one()
                if isinstance(decoded, str):
                    if index == 1 and not self.array:
                        reason = decoded.removesuffix(_STOPPED)
                        raise UnreadableFileError(f"{self.source.name}: {reason}")
                    yield Value(f"record {index}", error=decoded)
                    return
                value, refusal = decoded
                if not self.array and index == 1 and not self.skip_space():
                    if refusal is not None:
                        raise UnreadableFileError(f"{self.source.name}: {refusal}")
                    yield Value("", value)
                    return
                yield Value(f"record {index}", value, refusal)
        except _BrokenTextError as exc:
            if index <= 1 and not self.array:
                raise UnreadableFileError(f"{self.source.name}: {exc}") from None
            yield Value(f"record {max(index, 1)}", error=str(exc))

    def next_value(self, index: int) -> str | None:
        """Move to the next value: ``None`` if there is one, else why not.

        The reason is ``""`` at a proper end (after ``]``, or after the last
        document) and a message when the array is broken or cut short.
        """
        char = self.skip_space()
        if self.array:
            if char == "]":
                return ""
            if index:
                if char != ",":
                    return (
                        _cut_short if not char else f"expected ',' but found {char!r}"
                    )
                self.pos += 1
                char = self.skip_space()
        if not char:
            return _cut_short if self.array else ""
        return None

    def decode_one(self) -> tuple[Any, str | None] | str:
        """Decode the value at the position.

        Returns ``(value, None)``; ``(None, reason)`` for a value that was
        read but is nested too deeply, so reading can go on after it; or a
        message when reading cannot go on.
        """
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                line = self.lines_before + exc.lineno  # before more() moves the text
                if self.more():
                    continue
                return _json_error(exc, line=line)
            except RecursionError:
                return f"{_too_deep()}{_STOPPED}"
            except ValueError:
                return f"{_too_long()}{_STOPPED}"
            # A number at the end of the buffer may go on in the next chunk.
            if end == len(self.text) and self.more():
                continue
            start, self.pos = self.pos, end
            if _could_nest(self.text, start, end) and nested_deeper_than(
                value, MAX_NESTING
            ):
                return None, str(_too_deep())
            return value, None


_cut_short = "the file ends before the array is closed; it may be truncated"
# Where such a value ends is not known, so the records after it cannot be found.
_STOPPED = "; the records after it were not read"


def _decodes(line: bytes) -> bool:
    try:
        _loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, _LimitError):
        return False
    return True


def _not_utf8(exc: UnicodeDecodeError, where: str = "") -> str:
    if exc.reason == "unexpected end of data":
        return f"the text ends inside a UTF-8 character{where}; it may be truncated"
    return f"not UTF-8 text ({exc.reason}){where}"


def _json_error(exc: json.JSONDecodeError, *, line: int | None) -> str:
    where = f"column {exc.colno}" if line is None else f"line {line}"
    message = exc.msg.removesuffix(" starting at")
    hint = ""
    if message.startswith("Unterminated") or exc.pos >= len(exc.doc.rstrip()) - 1:
        hint = "; the text ends too early, it may be truncated"
    return f"not valid JSON at {where}: {message}{hint}"


def _regular_size(file: BinaryIO) -> int | None:
    try:
        info = os.fstat(file.fileno())
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
