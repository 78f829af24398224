"""``stats --prices``: estimated cost, kept apart from the recorded cost."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo.collection import Collection

from mongo_ai_logs.cli import ExitCode
from mongo_ai_logs.cli._prices import Price, PriceTable, PriceTableError
from tests.cli_support import FIXTURES, InProcessCli

Document = dict[str, object]


@pytest.fixture
def cli(collection: Collection[Document]) -> InProcessCli:
    cli = InProcessCli(collection)
    result = cli(
        "ingest",
        str(FIXTURES / "events.jsonl"),
        str(FIXTURES / "exchange_no_cost.jsonl"),
    )
    assert result.code == ExitCode.OK, result.out
    return cli


def test_estimates_cost_where_none_was_recorded(cli: InProcessCli) -> None:
    result = cli("stats", "--prices", str(FIXTURES / "prices.toml"), "--json")

    rows = {r["group"]: r for r in result.json_lines()}
    # 1,000 uncached input at 0.15, 1,000 cached at 0.075, 500 output at 0.60.
    mini = rows["gpt-4o-mini-2024-07-18"]
    assert mini["cost"] == 0
    assert mini["estimated_cost"] == pytest.approx(0.000525)
    assert mini["estimated_events"] == 1
    # 900 input at 3.00 and 30 output at 15.00.
    claude = rows["claude-sonnet-4-20250514"]
    assert claude["estimated_cost"] == pytest.approx(0.00315)


def test_recorded_cost_is_never_replaced_by_an_estimate(cli: InProcessCli) -> None:
    result = cli("stats", "--prices", str(FIXTURES / "prices.toml"), "--json")

    recorded = next(r for r in result.json_lines() if r["group"] == "gpt-4o-mini")
    assert recorded["cost"] == pytest.approx(0.000204)
    assert recorded["estimated_cost"] == 0
    assert recorded["estimated_events"] == 0


def test_models_without_a_price_are_counted(cli: InProcessCli) -> None:
    result = cli("stats", "--prices", str(FIXTURES / "prices.json"), "--json")

    rows = {r["group"]: r for r in result.json_lines()}
    assert rows["gpt-4o-mini-2024-07-18"]["estimated_cost"] == pytest.approx(0.000525)
    assert rows["claude-sonnet-4-20250514"]["unpriced_events"] == 1
    assert rows["claude-sonnet-4-20250514"]["estimated_cost"] == 0


def test_the_table_labels_the_estimate(cli: InProcessCli) -> None:
    result = cli("stats", "--prices", str(FIXTURES / "prices.json"))

    lines = result.out.splitlines()
    assert lines[0].split()[-3:] == ["COST", "EST.", "COST*"]
    assert lines[-1].startswith("* estimated from ")
    assert "for 1 event that recorded no cost" in lines[-1]
    assert "COST is only what the logs recorded" in lines[-1]
    assert "1 event with tokens has no price" in lines[-1]


def test_estimates_follow_the_grouping_and_filters(cli: InProcessCli) -> None:
    prices = str(FIXTURES / "prices.toml")

    by_day = cli("stats", "--by", "day", "--prices", prices, "--json")
    alice = cli(
        "stats", "--by", "user", "--user", "alice", "--prices", prices, "--json"
    )

    days = {r["group"]: r["estimated_cost"] for r in by_day.json_lines()}
    assert days["2025-06-02"] == pytest.approx(0.00315)
    assert days["2025-06-01"] == pytest.approx(0.000525)
    assert [r["estimated_cost"] for r in alice.json_lines()] == [pytest.approx(0.00315)]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"m": {"input": 1}}', ".json", "output is missing"),
        ('{"m": {"input": 1, "output": -2}}', ".json", "must be a number >= 0"),
        ('{"m": {"input": 1, "output": 2, "cache": 1}}', ".json", "unknown key"),
        ('{"m": 3}', ".json", "expected a table"),
        ("[1, 2]", ".json", "must map model names to prices"),
        ("not [valid", ".toml", "not TOML"),
        ("neither", ".prices", "not JSON"),
    ],
)
def test_a_bad_price_table_is_a_usage_error(
    cli: InProcessCli, tmp_path: Path, content: str, suffix: str, message: str
) -> None:
    table = tmp_path / f"prices{suffix}"
    table.write_text(content, encoding="utf-8")

    result = cli("stats", "--prices", str(table))

    assert result.code == ExitCode.USAGE
    assert message in result.err
    assert str(table) in result.err


def test_a_missing_price_table_is_a_usage_error(cli: InProcessCli) -> None:
    result = cli("stats", "--prices", "nowhere.toml")

    assert result.code == ExitCode.USAGE
    assert "cannot read" in result.err


def test_exact_names_win_over_patterns_and_patterns_go_in_order() -> None:
    table = PriceTable(
        [
            ("gpt-4o*", Price(1, 1)),
            ("gpt-4o-mini*", Price(2, 2)),
            ("gpt-4o-mini", Price(3, 3)),
        ]
    )

    assert table.price_for("GPT-4o-mini") == Price(3, 3)
    assert table.price_for("gpt-4o-mini-2024-07-18") == Price(1, 1)
    assert table.price_for("o1") is None
    assert table.price_for(None) is None


def test_price_of_usage_counts_cached_input_apart() -> None:
    price = Price(input=2.0, output=8.0, cached_input=0.5)

    cost = price.cost(
        {"input_tokens": 1000, "output_tokens": 100, "cache_read_input_tokens": 400}
    )

    assert cost == pytest.approx((600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6)
    assert Price(1, 1).cost({"total_tokens": 5}) is None


def test_load_reads_toml_and_json(tmp_path: Path) -> None:
    toml = PriceTable.load(FIXTURES / "prices.toml")
    json = PriceTable.load(FIXTURES / "prices.json")

    assert toml.price_for("claude-sonnet-4-5") == Price(3.0, 15.0)
    assert json.price_for("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6, 0.075)
    with pytest.raises(PriceTableError):
        PriceTable.load(tmp_path / "missing.json")
