"""What GitHub code scanning requires of a SARIF log beyond the 2.1.0 schema, as code.

A log can pass the schema and still be rejected (too many results, a ruleIndex that
points nowhere) or mangled (no region: an alert on the whole file; absolute URIs: no
code shown; no fingerprint: alerts re-open after an API upload). `problems(log)` lists
every such problem, one line each, so tests can hold our SARIF to GitHub's rules; run
it on any log with `python -m leakaudit.report.github_checks FILE.sarif`.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from typing import Any

MAX_RUNS = 20
MAX_RESULTS = 25_000
MAX_RULES = 25_000
MAX_TAGS = 20
MAX_DESCRIPTION = 1024
MAX_GZIP_BYTES = 10 * 1024 * 1024
LEVELS = ("none", "note", "warning", "error")
PRECISIONS = ("very-high", "high", "medium", "low")
PROBLEM_SEVERITIES = ("error", "warning", "recommendation")
COLUMN_KINDS = ("utf16CodeUnits", "unicodeCodePoints")
SUPPRESSION_KINDS = ("inSource", "external")
_LINE_HASH = re.compile(r"^[0-9a-f]{1,16}:[1-9][0-9]*$")
_LINK = re.compile(r"(?<!\\)\[((?:[^\]\\]|\\.)*)\]\((\d+)\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def problems_in_text(text: str) -> list[str]:
    """Problems of a serialized log, including GitHub's size limit on the upload."""
    size = len(gzip.compress(text.encode("utf-8")))
    out = []
    if size > MAX_GZIP_BYTES:
        out.append(f"size: {size} bytes gzipped, over GitHub's {MAX_GZIP_BYTES}")
    try:
        log = json.loads(text)
    except ValueError as exc:
        return [*out, f"json: not valid JSON: {exc}"]
    return out + problems(log)


def problems(log: Any) -> list[str]:
    """Every way `log` breaks GitHub's rules; [] when it meets them all."""
    out: list[str] = []
    if not isinstance(log, dict):
        return ["log: not a JSON object"]
    if log.get("version") != "2.1.0":
        out.append(f"version: must be '2.1.0', got {log.get('version')!r}")
    if not isinstance(log.get("$schema"), str) or not log["$schema"]:
        out.append("$schema: missing")
    runs = log.get("runs")
    if not isinstance(runs, list) or not runs:
        return [*out, "runs: must be a non-empty list"]
    if len(runs) > MAX_RUNS:
        out.append(f"runs: {len(runs)} runs, over GitHub's {MAX_RUNS}")
    if len(runs) != 1:
        out.append(f"runs: leakaudit writes exactly one run, got {len(runs)}")
    for r, run in enumerate(runs):
        out += _run(run, f"runs[{r}]")
    return out


def _text(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    text = value.get("text") if isinstance(value, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def _run(run: Any, where: str) -> list[str]:
    out: list[str] = []
    if not isinstance(run, dict):
        return [f"{where}: not an object"]
    driver = run.get("tool", {}).get("driver") if isinstance(run.get("tool"), dict) else None
    if not isinstance(driver, dict):
        return [f"{where}.tool.driver: missing"]
    for key in ("name", "semanticVersion"):
        if not isinstance(driver.get(key), str) or not driver[key]:
            out.append(f"{where}.tool.driver.{key}: missing")
    rules = driver.get("rules", [])
    if not isinstance(rules, list):
        rules = []
        out.append(f"{where}.tool.driver.rules: must be a list")
    if len(rules) > MAX_RULES:
        out.append(f"{where}.tool.driver.rules: {len(rules)} rules, over GitHub's {MAX_RULES}")
    ids: list[str | None] = []
    for i, rule in enumerate(rules):
        out += _rule(rule, f"{where}.tool.driver.rules[{i}]")
        ids.append(rule.get("id") if isinstance(rule, dict) else None)
    seen = [i for i in ids if i is not None]
    if len(seen) != len(set(seen)):
        out.append(f"{where}.tool.driver.rules: duplicate rule ids")
    details = run.get("automationDetails")  # optional: the upload action can set the category
    if details is not None and (
        not isinstance(details, dict) or not isinstance(details.get("id"), str) or not details["id"]
    ):
        out.append(f"{where}.automationDetails.id: must be a non-empty string when present")
    if run.get("columnKind") not in COLUMN_KINDS:
        out.append(f"{where}.columnKind: must be declared as one of {', '.join(COLUMN_KINDS)}")
    results = run.get("results")
    if not isinstance(results, list):
        return [*out, f"{where}.results: must be a list"]
    if len(results) > MAX_RESULTS:
        out.append(f"{where}.results: {len(results)} results, over GitHub's {MAX_RESULTS}")
    for i, result in enumerate(results):
        out += _result(result, f"{where}.results[{i}]", ids)
    return out


def _rule(rule: Any, where: str) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{where}: not an object"]
    out = []
    for key in ("id", "name"):
        if not isinstance(rule.get(key), str) or not rule[key]:
            out.append(f"{where}.{key}: missing")
    for key in ("shortDescription", "fullDescription"):
        text = _text(rule, key)
        if text is None:
            out.append(f"{where}.{key}.text: missing or empty")
        elif len(text) > MAX_DESCRIPTION:
            out.append(f"{where}.{key}.text: {len(text)} characters, over {MAX_DESCRIPTION}")
    help_ = rule.get("help")
    for key in ("text", "markdown"):
        if not isinstance(help_, dict) or not isinstance(help_.get(key), str) or not help_[key]:
            out.append(f"{where}.help.{key}: missing")
    level = (rule.get("defaultConfiguration") or {}).get("level")
    if level not in LEVELS:
        out.append(f"{where}.defaultConfiguration.level: must be one of {', '.join(LEVELS)}")
    props = rule.get("properties")
    if not isinstance(props, dict):
        return [*out, f"{where}.properties: missing (tags, precision, problem.severity)"]
    tags = props.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        out.append(f"{where}.properties.tags: must be a list of strings")
    elif len(tags) > MAX_TAGS:
        out.append(f"{where}.properties.tags: {len(tags)} tags, over GitHub's {MAX_TAGS}")
    if props.get("precision") not in PRECISIONS:
        out.append(f"{where}.properties.precision: must be one of {', '.join(PRECISIONS)}")
    if props.get("problem.severity") not in PROBLEM_SEVERITIES:
        out.append(
            f"{where}.properties.problem.severity: must be one of {', '.join(PROBLEM_SEVERITIES)}"
        )
    if "security-severity" in props:
        try:
            score = float(props["security-severity"])
        except (TypeError, ValueError):
            score = -1.0
        if not 0.0 <= score <= 10.0:
            out.append(f"{where}.properties.security-severity: must be a number from 0 to 10")
    return out


def _location(loc: Any, where: str) -> list[str]:
    physical = loc.get("physicalLocation") if isinstance(loc, dict) else None
    if not isinstance(physical, dict):
        return [f"{where}.physicalLocation: missing"]
    out = []
    artifact = physical.get("artifactLocation") or {}
    uri = artifact.get("uri")
    if not isinstance(uri, str) or not uri:
        out.append(f"{where}.artifactLocation.uri: missing")
    elif _SCHEME.match(uri) or uri.startswith("/") or "\\" in uri:
        out.append(f"{where}.artifactLocation.uri: {uri!r} is not a repo-relative path")
    elif any(part in (".", "..") for part in uri.split("/")):
        out.append(f"{where}.artifactLocation.uri: {uri!r} has . or .. segments")
    if artifact.get("uriBaseId") != "%SRCROOT%":
        out.append(f"{where}.artifactLocation.uriBaseId: must be %SRCROOT%")
    region = physical.get("region")
    if not isinstance(region, dict):
        return [*out, f"{where}.region: missing"]
    keys = ("startLine", "startColumn", "endLine", "endColumn")
    missing = [k for k in keys if not isinstance(region.get(k), int) or region[k] < 1]
    if missing:
        return [*out, f"{where}.region: needs positive {', '.join(missing)}"]
    start = (region["startLine"], region["startColumn"])
    end = (region["endLine"], region["endColumn"])
    if end < start:
        out.append(f"{where}.region: ends before it starts")
    return out


def _result(result: Any, where: str, rule_ids: list[str | None]) -> list[str]:
    if not isinstance(result, dict):
        return [f"{where}: not an object"]
    out = []
    rule_id = result.get("ruleId")
    if not isinstance(rule_id, str) or rule_id not in rule_ids:
        out.append(f"{where}.ruleId: {rule_id!r} has no entry in tool.driver.rules")
    index = result.get("ruleIndex")
    if not isinstance(index, int) or not 0 <= index < len(rule_ids):
        out.append(f"{where}.ruleIndex: missing or out of range")
    elif rule_ids[index] != rule_id:
        out.append(f"{where}.ruleIndex: points at {rule_ids[index]!r}, not {rule_id!r}")
    if result.get("level") not in LEVELS:
        out.append(f"{where}.level: must be set explicitly to one of {', '.join(LEVELS)}")
    message = _text(result, "message")
    if message is None:
        out.append(f"{where}.message.text: missing or empty")
    locations = result.get("locations")
    if not isinstance(locations, list) or len(locations) != 1:
        out.append(f"{where}.locations: must hold exactly one location")
    else:
        out += _location(locations[0], f"{where}.locations[0]")
    related = result.get("relatedLocations", [])
    related_ids = []
    for i, loc in enumerate(related if isinstance(related, list) else []):
        if not isinstance(loc, dict) or not isinstance(loc.get("id"), int):
            out.append(f"{where}.relatedLocations[{i}].id: missing")
        else:
            related_ids.append(loc["id"])
        out += _location(loc, f"{where}.relatedLocations[{i}]")
    if len(related_ids) != len(set(related_ids)):
        out.append(f"{where}.relatedLocations: duplicate ids")
    linked = {int(m.group(2)) for m in _LINK.finditer(message or "")}
    for dangling in sorted(linked - set(related_ids)):
        out.append(f"{where}.message: links to relatedLocations id {dangling}, which is absent")
    for unlinked in sorted(set(related_ids) - linked):
        out.append(f"{where}.relatedLocations: id {unlinked} is not referenced from the message")
    fingerprint = (result.get("partialFingerprints") or {}).get("primaryLocationLineHash")
    if not isinstance(fingerprint, str) or not _LINE_HASH.match(fingerprint):
        out.append(f"{where}.partialFingerprints.primaryLocationLineHash: missing or malformed")
    for i, suppression in enumerate(result.get("suppressions") or []):
        if not isinstance(suppression, dict) or suppression.get("kind") not in SUPPRESSION_KINDS:
            out.append(f"{where}.suppressions[{i}].kind: must be inSource or external")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    status = 0
    for name in args:
        with open(name, encoding="utf-8") as fh:
            found = problems_in_text(fh.read())
        for problem in found:
            print(f"{name}: {problem}")
        status = status or (1 if found else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
