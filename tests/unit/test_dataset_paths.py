"""The dataset path rules, table-driven: what a user-supplied file path may and may not be."""

from __future__ import annotations

import pytest

from forgeml.domain.datasets import (
    ManifestEntry,
    canonical_manifest,
    check_path,
    manifest_digest,
    path_problem,
    path_problems,
)
from forgeml.domain.errors import InvalidInput
from forgeml.domain.object_keys import file_key

GOOD = [
    "a.csv",
    "data/train/part-0001.parquet",
    "dir with spaces/file name.txt",
    "unicode/données-日本.csv",
    "100%.csv",  # a lone percent sign is not an escape
    "a%20b.txt",  # decodes to a harmless space
    ".hidden",
    "..foo/bar..",
    "x" * 255,
    "/".join(["d" * 200] * 5),  # 1004 bytes
]

BAD = [
    ("", "empty"),
    ("../etc/passwd", "'..' segment"),
    ("a/../../b", "'..' segment"),
    ("..", "'..' segment"),
    ("./a", "'.' segment"),
    ("a/./b", "'.' segment"),
    ("/etc/passwd", "absolute"),
    ("a\\b", "backslash"),
    ("..\\..\\windows", "backslash"),
    ("a\x00b", "NUL"),
    ("a\nb", "control character"),
    ("a\x7fb", "control character"),
    ("a\x9bb", "control character"),
    ("a//b", "empty path segment"),
    ("a/", "empty path segment"),
    ("x" * 256, "segment longer than 255"),
    ("é" * 128, "segment longer than 255"),  # 256 bytes in UTF-8
    ("/".join(["d" * 250] * 5), "longer than 1024"),
    ("%2e%2e/secret", "percent-encoded"),
    ("a/%2E%2E/b", "percent-encoded"),
    ("a%2fb", "percent-encoded"),
    ("a%2F..%2Fb", "percent-encoded"),
    ("%252e%252e/x", "percent-encoded"),  # double-encoded
    ("a%00b", "percent-encoded"),
    ("   ", "whitespace"),
    ("a/ \t/b", "control character"),
    ("a/  /b", "whitespace"),
]


@pytest.mark.parametrize("path", GOOD)
def test_good_paths_pass(path: str) -> None:
    assert path_problem(path) is None
    assert check_path(path) == path


@pytest.mark.parametrize(("path", "why"), BAD)
def test_bad_paths_are_refused_with_a_reason(path: str, why: str) -> None:
    problem = path_problem(path)
    assert problem is not None and why in problem, (path, problem)
    with pytest.raises(InvalidInput):
        check_path(path)


def test_a_batch_lists_every_problem_and_duplicates_case_insensitively() -> None:
    problems = path_problems(["ok.csv", "../x", "A.csv", "a.csv", "ok.csv", "b\\c"])
    locs = [p["loc"] for p in problems]
    assert locs == ["files.1.path", "files.3.path", "files.4.path", "files.5.path"]
    assert "duplicate" in problems[1]["msg"] and "duplicate" in problems[2]["msg"]


def test_existing_paths_count_as_duplicates() -> None:
    assert path_problems(["Data.csv"], existing=["data.csv"])


def test_keys_are_built_from_ids_only() -> None:
    assert file_key("tnt_1", "dst_2", 3, "dsf_4") == "tenants/tnt_1/datasets/dst_2/v3/files/dsf_4"
    assert file_key(None, "dst_2", 1, "dsf_4") == "platform/datasets/dst_2/v1/files/dsf_4"


def test_manifest_is_canonical_and_order_independent() -> None:
    a = ManifestEntry("b.csv", 1, "0" * 64, "text/csv", "k1")
    b = ManifestEntry("a.csv", 2, "1" * 64, "text/csv", "k2")
    assert canonical_manifest([a, b]) == canonical_manifest([b, a])
    assert b'"k1"' not in canonical_manifest([a])  # keys never leak into the manifest
    assert manifest_digest([a, b]) != manifest_digest([a])
