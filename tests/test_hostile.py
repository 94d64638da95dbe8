"""Hostile input (issue 19): configs, names and files written to make a scanner hang,
crash or write where it should not. Growth is shown by comparing two sizes, never by a
wall-clock limit."""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

from leakaudit.config import _Glob, excluded


def _seconds(fn, *args) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def test_an_exclude_glob_is_matched_in_linear_time() -> None:
    """`*a*a*...*b` against a long run of `a`: a backtracking translation takes
    exponential time in the stars; the state-set matcher grows with the name."""
    pattern = "*a" * 12 + "*b"
    assert excluded("a" * 200 + "/x.go", [pattern]) is False
    small = _seconds(_Glob(pattern).fullmatch, "a" * 400)
    large = _seconds(_Glob(pattern).fullmatch, "a" * 4000)
    assert large < 40 * max(small, 1e-4), (small, large)  # 10x the name: ~10x, not 100x


def _regex(pattern: str) -> re.Pattern[str]:
    """The former translation, as the reference for what a glob means."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def test_the_linear_matcher_means_what_the_regex_meant() -> None:
    rng = random.Random(7)
    pieces = ["a", "b", "/", "*", "**", "**/", "?", ".", "[ab]", "[!a]", "x"]
    for _ in range(5000):
        pattern = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        name = "".join(rng.choice("ab/.x") for _ in range(rng.randint(0, 8)))
        expected = _regex(pattern).fullmatch(name) is not None
        assert _Glob(pattern).fullmatch(name) is expected, (pattern, name)


def test_a_class_the_regex_engine_rejects_is_literal() -> None:
    assert _Glob("[z-a].go").fullmatch("z.go")
    assert not _Glob("[z-a].go").fullmatch("b.go")


def test_a_file_1500_folders_deep_is_scanned(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The go.mod lookup walks up one folder at a time in a loop: a deep path used to
    raise RecursionError and lose the whole scan."""
    from conftest import scan_paths

    (tmp_path / "go.mod").write_text("module example.com/deep\n\ngo 1.22\n")
    deep = str(tmp_path)
    for _ in range(1500):  # pathlib's mkdir(parents=True) and os.makedirs recurse
        deep = os.path.join(deep, "d")
        os.mkdir(deep)
    Path(deep, "leak.go").write_text(
        'package d\n\nimport "os"\n\nfunc Open() {\n\tf, _ := os.Open("x")\n\t_ = f.Name()\n}\n'
    )
    try:
        result, problems = scan_paths([str(tmp_path)], tmp_path)
        assert [f.rule_id for f in result.findings] == ["file-not-closed"], problems
    finally:  # shutil.rmtree, which pytest cleans up with, recurses too
        os.remove(os.path.join(deep, "leak.go"))
        while deep != str(tmp_path):
            os.rmdir(deep)
            deep = os.path.dirname(deep)
