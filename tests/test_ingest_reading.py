"""Reading files as JSON values: JSON lines, streamed arrays, documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mongo_ai_logs.ingest import UnreadableFileError, _reading
from mongo_ai_logs.ingest._reading import Value, open_input


def read(path: Path) -> tuple[str, list[Value], int, int | None]:
    with open_input(path) as source:
        values = list(source.values())
        return source.layout, values, source.bytes_read, source.size


def write(tmp_path: Path, content: str | bytes, name: str = "input") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def test_json_lines_report_broken_lines_by_number_and_read_on(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '{"a": 1}\r\n\r\n{broken\n[1, 2]\n{"b": "\n{"c": 3}')

    layout, values, _, _ = read(path)

    assert layout == "lines"
    assert [v.location for v in values] == [
        "line 1",
        "line 3",
        "line 4",
        "line 5",
        "line 6",
    ]
    assert [v.data for v in values if v.error is None] == [{"a": 1}, [1, 2], {"c": 3}]
    assert values[1].error is not None
    assert values[1].error.startswith("not valid JSON at column 2")
    assert values[3].error is not None
    assert "may be truncated" in values[3].error


def test_a_line_that_is_not_utf8_is_refused_alone(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": 1}\n{"b": "\xff\xfe"}\n{"c": 3}\n')

    _, values, _, _ = read(path)

    assert values[0].error is None
    assert values[1].error is not None
    assert "not UTF-8" in values[1].error
    assert values[2].data == {"c": 3}


def test_a_byte_order_mark_is_not_part_of_the_first_value(tmp_path: Path) -> None:
    lines = write(tmp_path, b'\xef\xbb\xbf{"a": 1}\n', "lines")
    array = write(tmp_path, b'\xef\xbb\xbf[{"a": 1}]', "array")

    assert read(lines)[1] == [Value("line 1", {"a": 1})]
    assert read(array)[1] == [Value("record 1", {"a": 1})]


def test_array_elements_are_streamed_across_small_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_reading, "_CHUNK_BYTES", 7)
    records = [{"n": 123456789, "text": "é" * 30}, 98765, {"nested": [1, [2, [3]]]}]
    path = write(tmp_path, json.dumps(records, ensure_ascii=False, indent=1))

    layout, values, read_bytes, size = read(path)

    assert layout == "array"
    assert [v.data for v in values] == records
    assert [v.location for v in values] == ["record 1", "record 2", "record 3"]
    assert read_bytes == size == path.stat().st_size


def test_a_truncated_array_keeps_the_records_before_the_cut(tmp_path: Path) -> None:
    text = json.dumps([{"a": 1}, {"b": 2}, {"c": "long text"}], indent=1)
    path = write(tmp_path, text[: text.index("long") + 3])

    _, values, _, _ = read(path)

    assert [v.data for v in values[:2]] == [{"a": 1}, {"b": 2}]
    assert values[2].location == "record 3"
    assert values[2].error is not None
    assert "line 9" in values[2].error
    assert "may be truncated" in values[2].error


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[{"a": 1} {"b": 2}]', "expected ','"),
        ('[{"a": 1},\n', "before the array is closed"),
        ('[{"a": 1}, ]', "not valid JSON"),
    ],
)
def test_a_malformed_array_is_reported_after_its_good_records(
    tmp_path: Path, text: str, problem: str
) -> None:
    _, values, _, _ = read(write(tmp_path, text))

    assert values[0].data == {"a": 1}
    assert values[1].location == "record 2"
    assert values[1].error is not None
    assert problem in values[1].error


def test_a_pretty_printed_document_is_one_value_without_a_location(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, json.dumps({"trajectory": [], "info": {}}, indent=2))

    layout, values, _, _ = read(path)

    assert layout == "documents"
    assert values == [Value("", {"trajectory": [], "info": {}})]


def test_documents_one_after_another_are_numbered(tmp_path: Path) -> None:
    text = json.dumps({"a": 1}, indent=2) + "\n" + json.dumps({"b": 2}, indent=2)

    _, values, _, _ = read(write(tmp_path, text))

    assert values == [Value("record 1", {"a": 1}), Value("record 2", {"b": 2})]


def test_a_truncated_document_makes_the_file_unreadable(tmp_path: Path) -> None:
    text = json.dumps({"trajectory": [{"action": "ls"}] * 5}, indent=2)
    path = write(tmp_path, text[:-20], "run.traj")

    with pytest.raises(UnreadableFileError, match=r"run\.traj: not valid JSON"):
        read(path)


def test_json_lines_with_a_broken_first_line_are_still_lines(tmp_path: Path) -> None:
    path = write(tmp_path, '{"request": {"model": "x"}, "resp\n{"a": 1}\n{"b": 2}\n')

    layout, values, _, _ = read(path)

    assert layout == "lines"
    assert values[0].error is not None
    assert [v.data for v in values[1:]] == [{"a": 1}, {"b": 2}]


def test_an_empty_file_has_no_values(tmp_path: Path) -> None:
    assert read(write(tmp_path, "\n \n"))[:2] == ("empty", [])


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    with (
        pytest.raises(UnreadableFileError, match=r"missing\.jsonl: cannot read"),
        open_input(tmp_path / "missing.jsonl"),
    ):
        pass


def deep(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def test_a_line_nested_too_deeply_is_refused_alone(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'{{"a": 1}}\n{"[" * 100_000}\n{{"b": {deep(_reading.MAX_NESTING)}}}\n'
        f'{{"c": {deep(_reading.MAX_NESTING - 1)}}}\n{{"d": 4}}\n',
    )

    layout, values, _, _ = read(path)

    assert layout == "lines"
    assert [v.location for v in values if v.error] == ["line 2", "line 3"]
    assert all("nested too deeply" in str(v.error) for v in values[1:3])
    assert [list(v.data) for v in values if v.error is None] == [["a"], ["c"], ["d"]]


def test_a_number_too_long_to_convert_is_refused_alone(tmp_path: Path) -> None:
    path = write(tmp_path, f'{{"a": {"9" * 5000}}}\n{{"b": 2}}\n')

    _, values, _, _ = read(path)

    assert values[0].error is not None
    assert values[0].error.startswith("a number has more than 4,300 digits")
    assert values[1].data == {"b": 2}


@pytest.mark.parametrize("levels", [_reading.MAX_NESTING, 5000])
def test_a_document_nested_too_deeply_makes_the_file_unreadable(
    tmp_path: Path, levels: int
) -> None:
    path = write(tmp_path, f'{{"type": "debug", "output": {deep(levels)}}}', "d.json")

    with pytest.raises(UnreadableFileError, match=r"d\.json: nested too deeply"):
        read(path)


def test_an_array_goes_on_after_a_record_too_deep_where_its_end_is_known(
    tmp_path: Path,
) -> None:
    records = ['{"a": 1}', deep(_reading.MAX_NESTING + 1), '{"b": 2}', deep(5000), "3"]
    path = write(tmp_path, "[" + ",\n".join(records) + "]")

    _, values, _, _ = read(path)

    assert [v.data for v in values] == [{"a": 1}, None, {"b": 2}, None]
    assert [v.location for v in values if v.error] == ["record 2", "record 4"]
    assert "nested too deeply" in str(values[1].error)
    assert str(values[3].error).endswith("the records after it were not read")


@pytest.mark.parametrize("layout", ["lines", "array", "documents"])
def test_a_file_cut_inside_a_character_may_be_truncated(
    tmp_path: Path, layout: str
) -> None:
    records = [{"text": "déjà vu"}, {"text": "ça"}]
    if layout == "lines":
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    elif layout == "array":
        text = json.dumps(records, ensure_ascii=False, indent=1)
    else:
        text = json.dumps(records[1], ensure_ascii=False, indent=1)
    data = text.encode()
    cut = write(tmp_path, data[: data.rindex("ç".encode()) + 1])

    if layout == "documents":
        with pytest.raises(UnreadableFileError, match="ends inside a UTF-8 char"):
            read(cut)
        return
    _, values, _, _ = read(cut)

    assert values[0].data == records[0]
    assert values[1].error is not None
    assert values[1].error.startswith("the text ends inside a UTF-8 character")
    assert values[1].error.endswith("it may be truncated")
