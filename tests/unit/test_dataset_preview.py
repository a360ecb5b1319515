"""Dataset previews from a file's first bytes: CSV (whole or cut), JSON arrays and JSON lines."""

from __future__ import annotations

from forgeml.domain.dataset_preview import csv_sample, json_sample, kind_of


def test_kinds_by_extension() -> None:
    assert [kind_of(p) for p in ("a.CSV", "b.jsonl", "c/d.png", "e.bin")] == [
        "csv",
        "json",
        "image",
        "other",
    ]


def test_csv_whole_and_cut_in_the_middle_of_a_line() -> None:
    body = b"x,y,label\n" + b"".join(b"%d,%d,%d\n" % (i, i * 2, i % 2) for i in range(9))
    cols, rows, more = csv_sample(body, True, "t.csv")
    assert cols == ["x", "y", "label"] and rows[0] == ["0", "0", "0"] and len(rows) == 5 and more
    cols, rows, more = csv_sample(b"x,label\n1,0\n2,1\n3,", False, "t.csv")
    assert rows == [["1", "0"], ["2", "1"]] and more  # the cut line is not shown


def test_json_array_and_json_lines() -> None:
    cols, rows, more = json_sample(b'[{"a": 1, "b": "x"}, {"a": 2, "c": [1]}]', True)
    assert cols == ["a", "b", "c"] and rows == [["1", "x", ""], ["2", "", "[1]"]] and not more
    cols, rows, _ = json_sample(b'{"k": 1}\n{"k": 2}\n', True)
    assert cols == ["k"] and rows == [["1"], ["2"]]
