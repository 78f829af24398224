"""Price tables: estimated cost for events whose source recorded none.

A price table maps model names, or ``fnmatch`` patterns of them, to USD per
million tokens. JSON::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.60, "cached_input": 0.075},
     "claude-sonnet-4*": {"input": 3.0, "output": 15.0, "cached_input": 0.30}}

or TOML::

    ["gpt-4o-mini"]
    input = 0.15
    output = 0.60
    cached_input = 0.075

A model takes the price of its exact name if there is one, else of the first
pattern it matches, in the order of the file; names compare without regard to
case. Input tokens read from the provider's cache cost ``cached_input``
(``input`` when not given); every other input token, cache writes included,
costs ``input``; output tokens, reasoning included, cost ``output``.
"""

from __future__ import annotations

import fnmatch
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mongo_ai_logs.errors import InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Price", "PriceTable", "PriceTableError"]

_KEYS = {"input", "output", "cached_input"}


class PriceTableError(InvalidInputError):
    """A price table file cannot be read or has a bad entry."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens of one model."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, usage: Mapping[str, Any]) -> float | None:
        """The cost of ``usage`` at this price; ``None`` if it counts no tokens."""
        given = [usage.get("input_tokens"), usage.get("output_tokens")]
        if all(not isinstance(v, int) for v in given):
            return None
        input_tokens, output_tokens = (v if isinstance(v, int) else 0 for v in given)
        cached = usage.get("cache_read_input_tokens")
        cached = min(cached, input_tokens) if isinstance(cached, int) else 0
        cached_price = self.input if self.cached_input is None else self.cached_input
        return (
            (input_tokens - cached) * self.input
            + cached * cached_price
            + output_tokens * self.output
        ) / 1_000_000


class PriceTable:
    """Prices by model name or pattern; see the module docstring.

    Args:
        entries: ``(name or pattern, price)`` pairs, in order of precedence.
        source: Where the table came from, for messages.
    """

    def __init__(self, entries: list[tuple[str, Price]], source: str = "") -> None:
        self.source = source
        self._exact = {name.lower(): price for name, price in entries}
        self._patterns = [
            (name.lower(), price)
            for name, price in entries
            if any(c in name for c in "*?[")
        ]

    def __len__(self) -> int:
        return len(self._exact)

    def price_for(self, model: str | None) -> Price | None:
        """The price of ``model``, or ``None`` when the table has none."""
        if not model:
            return None
        name = model.lower()
        if name in self._exact:
            return self._exact[name]
        for pattern, price in self._patterns:
            if fnmatch.fnmatchcase(name, pattern):
                return price
        return None

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """Read a price table from a ``.json`` or ``.toml`` file.

        Raises:
            PriceTableError: The file cannot be read, is neither JSON nor TOML,
                or an entry is not a valid price.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise PriceTableError(
                f"price table {str(path)!r}: cannot read: {reason}"
            ) from exc
        data = _parse(text, path)
        if not isinstance(data, Mapping) or not data:
            raise PriceTableError(
                f"price table {str(path)!r} must map model names to prices"
            )
        entries = [
            (str(name), _price(str(name), value, path)) for name, value in data.items()
        ]
        return cls(entries, source=str(path))


def _parse(text: str, path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        readers = ["toml"]
    elif suffix == ".json":
        readers = ["json"]
    else:
        readers = ["json", "toml"]
    problems = []
    for reader in readers:
        try:
            return json.loads(text) if reader == "json" else tomllib.loads(text)
        except ValueError as exc:  # TOMLDecodeError is a ValueError
            problems.append(f"not {reader.upper()} ({exc})")
    raise PriceTableError(f"price table {str(path)!r}: {'; '.join(problems)}")


def _price(name: str, value: Any, path: Path) -> Price:
    where = f"price table {str(path)!r}, model {name!r}"
    if not isinstance(value, Mapping):
        raise PriceTableError(
            f"{where}: expected a table of input, output and cached_input prices"
        )
    unknown = set(value) - _KEYS
    if unknown:
        raise PriceTableError(
            f"{where}: unknown key {sorted(unknown)[0]!r}; "
            "known: input, output, cached_input (USD per million tokens)"
        )
    numbers: dict[str, float] = {}
    for key in sorted(_KEYS):
        raw = value.get(key)
        if raw is None:
            if key != "cached_input":
                raise PriceTableError(f"{where}: {key} is missing")
            continue
        if (
            isinstance(raw, bool)
            or not isinstance(raw, (int, float))
            or not math.isfinite(raw)
            or raw < 0
        ):
            raise PriceTableError(
                f"{where}: {key} must be a number >= 0 (USD per million tokens), "
                f"got {raw!r}"
            )
        numbers[key] = float(raw)
    return Price(numbers["input"], numbers["output"], numbers.get("cached_input"))
