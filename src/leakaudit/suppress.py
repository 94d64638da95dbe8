"""In-source suppressions.

    //leakaudit:ignore rule-id[,rule-id] reason        the finding's line, or the line above
    //leakaudit:file-ignore rule-id[,rule-id] reason   before the package clause: whole file

A reason is required: a directive without one suppresses nothing and is itself reported, so
every silenced finding says why. Directives that suppress nothing are reported too, so they do
not outlive the code they were written for. Directives are Go comments found in the syntax tree
(text inside a string literal is never a directive); files without the marker bytes are not
searched at all, which keeps this free for the usual file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from tree_sitter import Node

from leakaudit.checks.api import location
from leakaudit.findings import Finding
from leakaudit.parsing.parser import SourceFile
from leakaudit.ruleset.model import Rule

MARKER = b"leakaudit:"
IGNORE, FILE_IGNORE = "ignore", "file-ignore"
# The engine rules that report directive problems (rules/engine.yaml).
UNUSED_RULE, INVALID_RULE = "unused-suppression", "invalid-suppression"

_DIRECTIVE = re.compile(r"//(?P<space>[ \t]*)leakaudit:(?P<verb>\S*)(?P<rest>.*)", re.DOTALL)
_IDS = re.compile(r"(?P<ids>[A-Za-z0-9_-]+(?:[ \t]*,[ \t]*[A-Za-z0-9_-]+)*)[ \t]*(?P<reason>.*)")


@dataclass
class Directive:
    source: SourceFile
    node: Node  # the comment
    verb: str
    rule_ids: tuple[str, ...]
    reason: str
    target_line: int  # the line an `ignore` covers; 0 for `file-ignore`
    problems: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    @property
    def active(self) -> bool:
        """Suppresses findings: well formed, in its place, with a reason."""
        return (
            self.verb in (IGNORE, FILE_IGNORE)
            and bool(self.rule_ids)
            and not any(kind != "unknown-rule" for kind, _ in self.problems)
        )

    def covers(self, finding: Finding) -> bool:
        if finding.rule_id not in self.rule_ids:
            return False
        return self.verb == FILE_IGNORE or finding.location.line == self.target_line


def apply(
    findings: list[Finding],
    sources: dict[str, SourceFile],
    rules: dict[str, Rule],
    enabled: set[str],
) -> list[Finding]:
    """Mark suppressed findings and add a finding for each unused or malformed directive.

    `rules` is every loaded rule (to tell a typo from a disabled rule); `enabled` the ids that
    ran: a directive naming a disabled rule is not reported as unused, since nothing could
    have matched it."""
    directives: dict[str, list[Directive]] = {}
    for path, source in sources.items():
        if MARKER in source.content:
            found = directives_in(source, rules)
            if found:
                directives[path] = found
    if not directives:
        return findings
    out: list[Finding] = []
    for finding in findings:
        directive = next(
            (
                d
                for d in directives.get(finding.location.path, ())
                if d.active and not finding.suppressed and d.covers(finding)
            ),
            None,
        )
        if directive is None:
            out.append(finding)
            continue
        directive.used.add(finding.rule_id)
        out.append(
            replace(
                finding,
                suppressed=True,
                suppression_reason=directive.reason,
                extra={**finding.extra, "suppressed_by": f"//leakaudit:{directive.verb}"},
            )
        )
    for found in directives.values():
        for directive in found:
            out.extend(_directive_findings(directive, rules, enabled))
    return out


def directives_in(source: SourceFile, rules: dict[str, Rule]) -> list[Directive]:
    package_start = next(
        (c.start_byte for c in source.root.named_children if c.type == "package_clause"), None
    )
    lines = source.content.split(b"\n")
    code_after: list[int] = []  # filled on the first ignore: most files have none
    out = []
    for node in _comments(source.root):
        raw = node.text.decode("utf-8", "replace") if node.text else ""
        match = _DIRECTIVE.match(raw)
        if match is None:
            continue
        verb = match.group("verb")
        if match.group("space"):
            # `// leakaudit:ignore` is an ordinary comment to Go tooling; say so rather than
            # silently ignore what was meant as a directive.
            if verb in (IGNORE, FILE_IGNORE):
                out.append(_problem(source, node, verb, "spaced"))
            continue
        if verb not in (IGNORE, FILE_IGNORE):
            out.append(_problem(source, node, verb, "unknown-directive"))
            continue
        ids_match = _IDS.fullmatch(match.group("rest").strip())
        if ids_match is None:
            out.append(_problem(source, node, verb, "no-rule"))
            continue
        ids = tuple(dict.fromkeys(i.strip() for i in ids_match.group("ids").split(",")))
        reason = ids_match.group("reason").strip()
        # `//leakaudit:ignore rule-id // reason` (the golangci-lint habit) reads the same.
        reason = reason.removeprefix("//").strip()
        row = node.start_point[0]
        if not code_after:
            code_after = _code_after(lines)
        directive = Directive(
            source, node, verb, ids, reason, _target(lines, row, node, code_after)
        )
        if not reason:
            directive.problems.append(("missing-reason", {}))
        if verb == FILE_IGNORE and package_start is not None and node.start_byte > package_start:
            directive.problems.append(("misplaced", {}))
        unknown = [i for i in ids if i not in rules]
        if unknown:
            directive.problems.append(("unknown-rule", {"unknown": ", ".join(unknown)}))
        out.append(directive)
    return out


def _comments(root: Node) -> list[Node]:
    out = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            out.append(node)
        else:
            stack.extend(node.children)
    out.sort(key=lambda n: n.start_byte)
    return out


def _code_after(lines: list[bytes]) -> list[int]:
    """For each 0-based row, the first row from it on that is not a `//` comment line:
    one pass from the end, so 50,000 stacked directives cost 50,000 steps, not their
    square."""
    out = [len(lines)] * (len(lines) + 1)
    for row in range(len(lines) - 1, -1, -1):
        out[row] = out[row + 1] if lines[row].lstrip().startswith(b"//") else row
    return out


def _target(lines: list[bytes], row: int, node: Node, code_after: list[int]) -> int:
    """The 1-based line an `ignore` at 0-based `row` covers: its own line when it trails
    code, else the next line that is not itself a comment (so directives can stack)."""
    if lines[row][: node.start_point[1]].strip():
        return row + 1
    return code_after[row + 1] + 1


def _problem(source: SourceFile, node: Node, verb: str, kind: str) -> Directive:
    directive = Directive(source, node, verb, (), "", 0)
    directive.problems.append((kind, {}))
    return directive


def _directive_findings(
    directive: Directive, rules: dict[str, Rule], enabled: set[str]
) -> list[Finding]:
    out = []
    invalid = rules.get(INVALID_RULE)
    values = {"verb": directive.verb, "rules": ",".join(directive.rule_ids)}
    if invalid is not None and INVALID_RULE in enabled:
        for kind, extra in directive.problems:
            out.append(_finding(invalid, kind, directive, {**values, **extra}))
    unused_rule = rules.get(UNUSED_RULE)
    if directive.active and unused_rule is not None and UNUSED_RULE in enabled:
        unused = [i for i in directive.rule_ids if i in enabled and i not in directive.used]
        if unused:
            where = (
                "in this file"
                if directive.verb == FILE_IGNORE
                else f"on line {directive.target_line}"
            )
            values = {**values, "unused": ",".join(unused), "where": where}
            out.append(_finding(unused_rule, "unused", directive, values))
    return out


def _finding(rule: Rule, kind: str, directive: Directive, values: dict[str, str]) -> Finding:
    template = rule.messages.get(kind) or next(iter(rule.messages.values()))
    try:
        message = template.format(**values)
    except (KeyError, IndexError, ValueError):
        message = template
    text = directive.node.text.decode("utf-8", "replace") if directive.node.text else ""
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        message=message,
        location=location(directive.source, directive.node, first_line_only=True),
        family=rule.family,
        snippet=" ".join(text.split())[:200],
        extra={"violation": kind},
    )
