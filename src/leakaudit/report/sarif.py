"""SARIF 2.1.0 that GitHub code scanning accepts, as plain dicts.

Plain dicts rather than an object model: every value we set is written, including ones
equal to SARIF's defaults (an explicit `level` is what GitHub reads). What GitHub needs
beyond the schema is written down as code in `github_checks.py`, and the tests hold
this module to both.
"""

from __future__ import annotations

import gzip
import posixpath
import re
from typing import Any

from leakaudit import __version__, ruledocs
from leakaudit.findings import Finding, Location, Severity
from leakaudit.report.locations import char_span, repo_prefix, shown_path, uri_path
from leakaudit.result import ScanResult
from leakaudit.ruleset.model import Rule
from leakaudit.writing import json_text

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
# GitHub's hard limits for one upload: more results in a run, or a bigger gzipped
# file, and the whole upload is rejected.
MAX_RESULTS = 25_000
MAX_GZIP_BYTES = 10 * 1024 * 1024
MAX_TAGS = 20
MAX_DESCRIPTION = 1024
_PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}


def render(
    result: ScanResult,
    *,
    sarif_category: str | None = None,
    sarif_include_suppressed: bool = False,
    docs_url: str | None = None,
    max_results: int = MAX_RESULTS,
    max_gzip_bytes: int = MAX_GZIP_BYTES,
    **_: object,
) -> str:
    log = to_dict(
        result,
        category=sarif_category,
        include_suppressed=sarif_include_suppressed,
        docs=docs_url,
        max_results=max_results,
    )
    text = _dump(log)
    # Over the size limit: drop the least severe results until it fits, and say so.
    results = log["runs"][0]["results"]
    while len(gzip.compress(text.encode("utf-8"))) > max_gzip_bytes and results:
        size = len(gzip.compress(text.encode("utf-8")))
        keep = max(0, min(len(results) - 1, int(len(results) * max_gzip_bytes / size * 0.95)))
        log = to_dict(
            result,
            category=sarif_category,
            include_suppressed=sarif_include_suppressed,
            docs=docs_url,
            max_results=keep,
            reason=f"the log exceeded GitHub's limit of {max_gzip_bytes} bytes gzipped",
        )
        results = log["runs"][0]["results"]
        text = _dump(log)
    return text


def _dump(log: dict[str, Any]) -> str:
    return json_text(log)


def to_dict(
    result: ScanResult,
    *,
    category: str | None = None,
    include_suppressed: bool = False,
    docs: str | None = None,
    max_results: int = MAX_RESULTS,
    reason: str = "",
) -> dict[str, Any]:
    prefix = repo_prefix(result.root)
    findings = [f for f in result.findings if include_suppressed or not f.suppressed]
    omitted_suppressed = len(result.findings) - len(findings)
    kept = _most_severe(findings, max_results)
    if len(kept) < len(findings) and not reason:
        reason = f"GitHub accepts at most {max_results} results per run"

    rules = list(result.rules)
    known = {r.id for r in rules}
    extra_ids = sorted({f.rule_id for f in kept if f.rule_id not in known})
    index = {r.id: i for i, r in enumerate(rules)}
    for i, rule_id in enumerate(extra_ids, start=len(rules)):
        index[rule_id] = i

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "leakaudit",
                "semanticVersion": __version__,
                "version": __version__,
                "rules": [_rule(r, docs) for r in rules]
                + [_unknown_rule(i, docs) for i in extra_ids],
            }
        },
        "columnKind": "utf16CodeUnits",
        "results": [_result(f, index[f.rule_id], prefix, include_suppressed) for f in kept],
        "properties": {
            "resultsTotal": len(findings),
            "resultsIncluded": len(kept),
            "suppressedOmitted": omitted_suppressed,
            "truncated": len(kept) < len(findings),
        },
    }
    if category:
        # Only when asked: without it, the upload action's `category` input decides.
        run["automationDetails"] = {"id": category}
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if len(kept) < len(findings):
        dropped = len(findings) - len(kept)
        lowest = min((f.severity for f in kept), key=lambda s: s.rank, default=None)
        text = (
            f"{dropped} of {len(findings)} results were left out because {reason}; "
            f"the most severe were kept"
            + (f" (down to level {lowest.value})" if lowest else "")
            + ". Run leakaudit with --format json for all of them."
        )
        run["properties"]["truncationReason"] = text
        invocation["toolExecutionNotifications"] = [
            {
                "level": "warning",
                "message": {"text": text},
                "descriptor": {"id": "results-truncated"},
            }
        ]
    lost = [r for r in result.files if r.status in _NOT_ANALYZED]
    if lost:
        # The run exits 2: say so, and which files, rather than look complete.
        invocation["executionSuccessful"] = False
        invocation.setdefault("toolExecutionNotifications", []).extend(
            {
                "level": "error",
                "message": {
                    "text": f"{shown_path(r.path)}: not analyzed: {_NOT_ANALYZED[r.status]}"
                    + (f" ({r.detail})" if r.detail else "")
                },
                "descriptor": {"id": "file-not-analyzed"},
            }
            for r in lost
        )
    outside = sorted({f.location.path for f in kept if _outside(_uri(prefix, f.location.path))})
    if outside:
        # GitHub rejects a result whose file is outside the repository; say which.
        invocation.setdefault("toolExecutionNotifications", []).extend(
            {
                "level": "warning",
                "message": {
                    "text": f"{shown_path(path)}: outside the repository (or the scan root, "
                    "with no repository): code scanning cannot show its results; scan from a "
                    "folder that holds it"
                },
                "descriptor": {"id": "file-outside-root"},
            }
            for path in outside
        )
    run["invocations"] = [invocation]
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


# File statuses that make a scan incomplete (exit 2), and how a notification says them.
_NOT_ANALYZED = {"unreadable": "cannot be read", "too-large": "too large"}


def _most_severe(findings: list[Finding], limit: int) -> list[Finding]:
    """At most `limit` findings, the most severe first chosen, in their original order."""
    if len(findings) <= limit:
        return findings
    ranked = sorted(range(len(findings)), key=lambda i: -findings[i].severity.rank)
    chosen = sorted(ranked[: max(0, limit)])
    return [findings[i] for i in chosen]


def _truncate(text: str, limit: int = MAX_DESCRIPTION) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _rule(rule: Rule, docs: str | None) -> dict[str, Any]:
    full = ruledocs.plain(ruledocs.why(rule))
    url = ruledocs.docs_url(rule.id, docs)
    help_markdown = rule.help.strip() + (f"\n\n[Rule documentation]({url})" if url else "")
    properties: dict[str, Any] = {
        "tags": list(dict.fromkeys(_tag(t) for t in rule.tags))[:MAX_TAGS],
        "precision": rule.precision,
        "problem.severity": _PROBLEM_SEVERITY[rule.severity.value],
        "family": rule.family,
    }
    out: dict[str, Any] = {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": _truncate(rule.summary)},
        "fullDescription": {"text": _truncate(full or rule.summary)},
        "help": {"text": ruledocs.plain(rule.help.strip()), "markdown": help_markdown},
        "defaultConfiguration": {"level": rule.severity.value},
        "properties": properties,
    }
    if url:
        out["helpUri"] = url
    return out


def _tag(tag: str) -> str:
    """GitHub's form for a CWE (`external/cwe/cwe-772`), which code scanning links and
    filters on; other tags as written."""
    if tag.upper().startswith("CWE-") and tag[4:].isdigit():
        return f"external/cwe/cwe-{tag[4:]}"
    return tag


def _unknown_rule(rule_id: str, docs: str | None) -> dict[str, Any]:
    """A finding whose rule is not in the run's rule list (a disabled diagnostic that was
    still produced): describe it minimally rather than emit a dangling ruleId."""
    text = f"leakaudit rule {rule_id}"
    out: dict[str, Any] = {
        "id": rule_id,
        "name": "".join(p.capitalize() for p in rule_id.split("-")),
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": text, "markdown": text},
        "defaultConfiguration": {"level": Severity.WARNING.value},
        "properties": {"tags": [], "precision": "medium", "problem.severity": "warning"},
    }
    url = ruledocs.docs_url(rule_id, docs)
    if url:
        out["helpUri"] = url
    return out


def _escape(text: str) -> str:
    """SARIF message text with embedded links: literal brackets must be escaped."""
    return re.sub(r"([\[\]])", r"\\\1", text)


def _uri(prefix: str, path: str) -> str:
    """The path from the repository root, `..` segments resolved: a file named as
    `../other/a.go` from a scan root in the repository is `other/a.go` to GitHub."""
    return posixpath.normpath(prefix + path)


def _outside(uri: str) -> bool:
    return uri == ".." or uri.startswith("../") or uri.startswith("/")


def _physical(finding: Finding, loc: Location, prefix: str) -> dict[str, Any]:
    start_col, end_col = char_span(finding, loc)
    return {
        "artifactLocation": {"uri": uri_path(_uri(prefix, loc.path)), "uriBaseId": SRCROOT},
        "region": {
            "startLine": loc.line,
            "startColumn": start_col,
            "endLine": loc.end_line,
            "endColumn": end_col,
        },
    }


def _fix(finding: Finding, prefix: str) -> dict[str, Any]:
    """The finding's fix as SARIF replacements. Its edits insert whole lines at a line's
    start, so column 1 is the same in every column unit."""
    uri = uri_path(_uri(prefix, finding.location.path))
    replacements = [
        {
            "deletedRegion": {
                "startLine": edit.line,
                "startColumn": edit.col,
                "endLine": edit.end_line,
                "endColumn": edit.end_col,
            },
            "insertedContent": {"text": edit.text},
        }
        for edit in finding.fix
    ]
    return {
        "description": {"text": finding.fix_title or "apply the fix"},
        "artifactChanges": [
            {
                "artifactLocation": {"uri": uri, "uriBaseId": SRCROOT},
                "replacements": replacements,
            }
        ],
    }


def _result(
    finding: Finding, rule_index: int, prefix: str, include_suppressed: bool
) -> dict[str, Any]:
    message = finding.message
    related = []
    if finding.related:
        links = []
        for i, rel in enumerate(finding.related, start=1):
            related.append(
                {
                    "id": i,
                    "physicalLocation": _physical(finding, rel.location, prefix),
                    "message": {"text": rel.message},
                }
            )
            label = _escape(rel.message or f"line {rel.location.line}")
            links.append(f"[{label}]({i})")
        message = f"{_escape(message)} ({'; '.join(links)})"
    out: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": finding.severity.value,
        "message": {"text": message},
        "locations": [{"physicalLocation": _physical(finding, finding.location, prefix)}],
    }
    if related:
        out["relatedLocations"] = related
    if finding.flow:
        out["codeFlows"] = [_code_flow(finding, prefix)]
    if finding.line_hash:
        out["partialFingerprints"] = {"primaryLocationLineHash": finding.line_hash}
    if finding.fix:
        out["fixes"] = [_fix(finding, prefix)]
    if include_suppressed:
        out["suppressions"] = (
            [
                {
                    "kind": _suppression_kind(finding),
                    "status": "accepted",
                    "justification": finding.suppression_reason or "suppressed",
                }
            ]
            if finding.suppressed
            else []
        )
    properties: dict[str, Any] = {}
    if finding.function:
        properties["function"] = finding.function
    if finding.family:
        properties["family"] = finding.family
    if properties:
        out["properties"] = properties
    return out


def _code_flow(finding: Finding, prefix: str) -> dict[str, Any]:
    """The witness of a goroutine finding: one thread flow per goroutine, each step
    numbered by `executionOrder` across all of them, so a viewer can replay the
    interleaving."""
    threads: dict[str, list[dict[str, Any]]] = {}
    for order, step in enumerate(finding.flow, start=1):
        threads.setdefault(step.thread, []).append(
            {
                "location": {
                    "physicalLocation": _physical(finding, step.location, prefix),
                    "message": {"text": f"{step.thread}: {step.message}"},
                },
                "executionOrder": order,
            }
        )
    return {
        "message": {"text": "An interleaving that gets stuck"},
        "threadFlows": [
            {"id": thread, "message": {"text": thread}, "locations": locations}
            for thread, locations in threads.items()
        ],
    }


def _suppression_kind(finding: Finding) -> str:
    """`inSource` for a directive comment in the code (`suppressed_by` is the directive,
    e.g. `//leakaudit:ignore`), `external` for a baseline or configuration entry."""
    by = str(finding.extra.get("suppressed_by", ""))
    return "inSource" if by.startswith("//") else "external"
