"""What every check gets: one package, its functions, and a sink for results."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from tree_sitter import Node

from leakaudit.facts import cfg
from leakaudit.facts.symbols import PackageSymbols
from leakaudit.facts.typing import FileTypes
from leakaudit.findings import Finding, Location, Related, Severity
from leakaudit.parsing.parser import SourceFile
from leakaudit.parsing.syntax import FUNC_NODES, text, walk
from leakaudit.parsing.syntax import field as child
from leakaudit.result import Acquisition, GoroutineRecord
from leakaudit.ruleset.model import Rule


@dataclass(eq=False)
class Function:
    """A function declaration, method, or function literal, with lazily built facts."""

    node: Node
    file: SourceFile
    types: FileTypes
    name: str

    @cached_property
    def cfg(self) -> cfg.CFG:
        return cfg.build(child(self.node, "body"))

    @cached_property
    def scope(self) -> dict[str, str | None]:
        return self.types.scope(self.node)

    @cached_property
    def named_results(self) -> tuple[str, ...]:
        result = child(self.node, "result")
        if result is None or result.type != "parameter_list":
            return ()
        return tuple(
            text(n) for decl in result.named_children for n in decl.children_by_field_name("name")
        )

    @property
    def is_literal(self) -> bool:
        return self.node.type == "func_literal"

    @property
    def is_main(self) -> bool:
        return (
            self.file.package == "main"
            and self.node.type == "function_declaration"
            and text(child(self.node, "name")) == "main"
        )


def location(source: SourceFile, node: Node, first_line_only: bool = False) -> Location:
    (sl, sc), (el, ec) = node.start_point, node.end_point
    if first_line_only and el != sl:
        line_end = source.content.find(b"\n", node.start_byte)
        el, ec = sl, (line_end if line_end >= 0 else len(source.content)) - (node.start_byte - sc)
    return Location(source.path, sl + 1, sc + 1, el + 1, ec + 1)


@dataclass
class Sink:
    findings: list[Finding] = field(default_factory=list)
    acquisitions: list[Acquisition] = field(default_factory=list)
    goroutines: list[GoroutineRecord] = field(default_factory=list)

    def report(
        self,
        rule: Rule,
        kind: str,
        source: SourceFile,
        node: Node,
        function: str,
        related: tuple[Related, ...] = (),
        severity: Severity | None = None,
        **values: object,
    ) -> None:
        template = rule.messages.get(kind) or next(iter(rule.messages.values()))
        try:
            message = template.format(**values)
        except (KeyError, IndexError, ValueError):
            message = template
        self.findings.append(
            Finding(
                rule_id=rule.id,
                severity=severity or rule.severity,
                message=message,
                location=location(source, node, first_line_only=True),
                related=related,
                family=rule.family,
                function=function,
                snippet=" ".join(text(node).split())[:200],
                extra={"violation": kind},
            )
        )


@dataclass
class Package:
    """One Go package (a directory's files with one package name, tests included)."""

    directory: str
    files: list[SourceFile]
    symbols: PackageSymbols
    signatures: dict[str, tuple[str, ...]]
    go_version: str | None = None
    _cache: dict[object, object] = field(default_factory=dict)

    @cached_property
    def file_types(self) -> dict[str, FileTypes]:
        return {f.path: FileTypes(f.root, self.symbols, self.signatures) for f in self.files}

    @cached_property
    def functions(self) -> list[Function]:
        out: list[Function] = []
        for source in self.files:
            types = self.file_types[source.path]
            for node in walk(source.root, into_funcs=True):
                # A function with a syntax error inside is skipped: its CFG would be
                # guesswork. The rest of the file is still analyzed.
                if (
                    node.type in FUNC_NODES
                    and child(node, "body") is not None
                    and not node.has_error
                ):
                    out.append(Function(node, source, types, function_name(node)))
        return out

    def memo(self, key: object, compute):  # type: ignore[no-untyped-def]
        """Per-package cache for facts several rules share (e.g. released fields)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def function_name(node: Node) -> str:
    if node.type == "function_declaration":
        return text(child(node, "name"))
    if node.type == "method_declaration":
        recv = child(node, "receiver")
        recv_type = ""
        if recv is not None:
            for decl in recv.named_children:
                t = child(decl, "type")
                recv_type = text(t).lstrip("*").split("[", 1)[0] if t is not None else ""
        return (
            f"{recv_type}.{text(child(node, 'name'))}" if recv_type else text(child(node, "name"))
        )
    parent = node.parent
    while parent is not None and parent.type not in FUNC_NODES:
        parent = parent.parent
    outer = function_name(parent) if parent is not None else "<package>"
    return f"func literal in {outer}"
