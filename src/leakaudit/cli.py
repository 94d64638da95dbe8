"""Command line: `leakaudit scan`, `leakaudit rules`.

Exit status: 0 no findings, 1 findings, 2 usage, configuration or I/O error. Every
error is one line on stderr naming the file (and line, where there is one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from leakaudit import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage dump
        raise UsageError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="leakaudit", description="Find Go resources that are acquired and never released."
    )
    parser.add_argument("--version", action="version", version=f"leakaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    scan = sub.add_parser("scan", help="scan Go files or directories")
    scan.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="files or directories (default: .)"
    )
    scan.add_argument(
        "--format", "-f", choices=["text", "json", "sarif", "markdown"], default="text"
    )
    scan.add_argument(
        "--output", "-o", metavar="FILE", help="write the report here instead of stdout"
    )
    scan.add_argument(
        "--rules", action="append", default=[], metavar="DIR", help="also load rule files from DIR"
    )
    scan.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="RULE[,RULE]",
        help="do not run these rules",
    )
    scan.add_argument(
        "--go-version", metavar="1.N", help="Go version to assume instead of go.mod's"
    )
    scan.add_argument("--quiet", "-q", action="store_true", help="no summary line on stderr")

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", "-f", choices=["text", "json"], default="text")
    rules.add_argument("--rules", action="append", default=[], metavar="DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        raise UsageError("leakaudit: a command is required: scan or rules (see --help)")
    from leakaudit.ruleset.loader import RuleError, load_rules

    try:
        ruleset = load_rules([Path(d) for d in args.rules])
    except RuleError as exc:
        print(f"leakaudit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.command == "rules":
        return _rules(args, ruleset)
    return _scan(args, ruleset)


def _rules(args: argparse.Namespace, ruleset) -> int:  # type: ignore[no-untyped-def]
    if args.format == "json":
        import json

        rows = [
            {"id": r.id, "family": r.family, "severity": r.severity.value, "summary": r.summary}
            for r in ruleset.rules
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_CLEAN
    width = max(len(r.id) for r in ruleset.rules)
    for r in ruleset.rules:
        sys.stdout.write(f"{r.id:<{width}}  {r.severity.value:<7}  {r.summary}\n")
    return EXIT_CLEAN


def _scan(args: argparse.Namespace, ruleset) -> int:  # type: ignore[no-untyped-def]
    from leakaudit.discovery import PathError
    from leakaudit.report import renderer
    from leakaudit.report.text import summary
    from leakaudit.scan import ScanOptions, scan

    disabled = {r.strip() for group in args.disable for r in group.split(",") if r.strip()}
    unknown = sorted(d for d in disabled if ruleset.by_id(d) is None)
    if unknown:
        raise UsageError(f"leakaudit: unknown rule id in --disable: {', '.join(unknown)}")
    if args.go_version is not None and not _is_go_version(args.go_version):
        raise UsageError(
            f"leakaudit: --go-version expects a version like 1.22, got {args.go_version!r}"
        )
    root = _root(args.paths)
    options = ScanOptions(
        paths=args.paths,
        root=root,
        ruleset=ruleset,
        go_version=args.go_version,
        disabled=frozenset(disabled),
    )
    try:
        result, problems = scan(options)
    except PathError as exc:
        print(f"leakaudit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for problem in problems:
        print(f"leakaudit: {problem}", file=sys.stderr)
    output = renderer(args.format)(result)
    if args.output:
        try:
            Path(args.output).write_text(output, encoding="utf-8")
        except OSError as exc:
            print(
                f"leakaudit: error: {args.output}: cannot write: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return EXIT_ERROR
    else:
        sys.stdout.write(output)
    if not args.quiet:
        print(summary(result), file=sys.stderr)
    if problems:
        return EXIT_ERROR
    return EXIT_FINDINGS if result.active else EXIT_CLEAN


def _root(paths: list[str]) -> Path:
    """Paths in findings are relative to this: the directory scanned, when exactly one
    directory is given; otherwise the current directory."""
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return Path(paths[0])
    return Path.cwd()


def _is_go_version(value: str) -> bool:
    import re

    return re.fullmatch(r"1\.\d+(\.\d+)?", value) is not None


if __name__ == "__main__":
    sys.exit(main())
