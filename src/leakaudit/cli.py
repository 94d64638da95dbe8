"""Command line: `leakaudit scan`, `leakaudit rules`.

Exit status: 0 nothing at or above --fail-on (default: warning), 1 findings that are,
2 usage, configuration or I/O error. Every
error is one line on stderr naming the file (and line, where there is one).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import NoReturn

from leakaudit import __version__
from leakaudit.writing import write_text

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# Notes (parse errors, timers on Go 1.23+) inform; they do not fail a run unless asked.
DEFAULT_FAIL_ON = "warning"


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

    scan = argparse.ArgumentParser(add_help=False)  # what `scan` and `fix` both take
    scan.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="files or directories (default: .)"
    )
    scan.add_argument(
        "--format", "-f", choices=["text", "json", "sarif", "markdown"], default="text"
    )
    scan.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the report here instead of stdout (`-`: stdout)",
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
    scan.add_argument(
        "--goos", metavar="GOOS", help="platform whose build constraints decide types (linux)"
    )
    scan.add_argument("--goarch", metavar="GOARCH", help="... and its architecture (amd64)")
    scan.add_argument("--quiet", "-q", action="store_true", help="no summary line on stderr")
    scan.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the text output (auto: on a terminal, unless NO_COLOR is set)",
    )
    scan.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="say on stderr which configuration, baseline and Go version applied",
    )
    _add_workflow_args(scan)
    _add_performance_args(scan)
    _add_report_args(scan)
    fixing = scan.add_argument_group("fixes")
    fixing.add_argument(
        "--fix", action="store_true", help="apply the fixes that are certainly right"
    )
    fixing.add_argument(
        "--diff", action="store_true", help="print the fixes as a unified diff; write nothing"
    )
    sub.add_parser("scan", parents=[scan], help="scan Go files or directories")
    sub.add_parser(
        "fix",
        parents=[scan],
        help="scan, apply the fixes that are certainly right, report what remains",
    )
    _add_baseline_command(sub)

    explain = sub.add_parser(
        "explain", help="print a rule's documentation (what it matches, why, how to fix)"
    )
    explain.add_argument("rule_id", metavar="RULE-ID")
    explain.add_argument("--rules", action="append", default=[], metavar="DIR")

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", "-f", choices=["text", "json", "markdown"], default="text")
    rules.add_argument("--rules", action="append", default=[], metavar="DIR")
    rules.add_argument(
        "--output-dir",
        metavar="DIR",
        help="with --format markdown: write one page per rule here (as docs/rules/)",
    )
    return parser


def _add_performance_args(parser: argparse.ArgumentParser) -> None:
    perf = parser.add_argument_group("performance (never changes the output)")
    perf.add_argument(
        "--jobs",
        "-j",
        type=_jobs,
        default=None,
        metavar="N",
        help="worker processes scanning packages in parallel (default, and 0: one per CPU)",
    )
    perf.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="cache per-package results and compiled rules here "
        "(default: $XDG_CACHE_HOME/leakaudit, ~/.cache/leakaudit)",
    )
    perf.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number of processes, got {value!r}") from None
    if jobs < 0:
        raise argparse.ArgumentTypeError(f"expects 0 (one per CPU) or more, got {jobs}")
    return jobs


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may run on
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cache_dir(args: argparse.Namespace) -> Path | None:
    if getattr(args, "no_cache", False):
        return None
    if getattr(args, "cache_dir", None):
        return Path(args.cache_dir)
    from leakaudit.cache import default_dir

    return default_dir()


def _add_report_args(parser: argparse.ArgumentParser) -> None:
    report = parser.add_argument_group("report options (sarif, markdown)")
    report.add_argument(
        "--sarif-category",
        metavar="CATEGORY",
        help="SARIF automationDetails.id: GitHub's category for the run (default: none; "
        "the upload action's `category` input decides)",
    )
    report.add_argument(
        "--sarif-include-suppressed",
        action="store_true",
        help="keep suppressed findings in SARIF, marked with `suppressions`",
    )
    report.add_argument(
        "--docs-url",
        metavar="BASE",
        help="where docs/rules/ is published (e.g. your fork's https://github.com/ORG/REPO/"
        "blob/TAG/docs/rules): SARIF helpUri and report links point there (default: no "
        "links; the docs travel inside the SARIF and the report)",
    )
    report.add_argument(
        "--link-base",
        metavar="BASE",
        help="markdown report: source links start here, e.g. https://github.com/ORG/REPO/"
        "blob/COMMIT or a relative path from where the report is saved (default: "
        "relative to the repository root)",
    )
    report.add_argument("--title", help="markdown report: service name (default: go.mod module)")
    report.add_argument(
        "--report-version",
        metavar="VERSION",
        help="markdown report: version (default: git describe)",
    )
    report.add_argument(
        "--report-date",
        metavar="YYYY-MM-DD",
        help="markdown report: date (default: $SOURCE_DATE_EPOCH, else today)",
    )


def _report_options(args: argparse.Namespace, config) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The renderer's keyword options; each renderer takes the ones it knows."""
    if args.report_date is not None:
        import datetime

        try:
            datetime.date.fromisoformat(args.report_date)
        except ValueError:
            raise UsageError(
                f"leakaudit: --report-date expects YYYY-MM-DD, got {args.report_date!r}"
            ) from None
    return {
        "sarif_category": args.sarif_category,
        "sarif_include_suppressed": args.sarif_include_suppressed,
        "docs_url": args.docs_url or config.docs_url,
        "link_base": args.link_base,
        "title": args.title,
        "report_version": args.report_version,
        "report_date": args.report_date,
    }


class _Terminated(Exception):
    """SIGTERM or SIGHUP (CI cancelling a job, `timeout`): end as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    import signal

    previous: dict[str, object] = {}
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            try:
                previous[name] = signal.signal(getattr(signal, name), _terminated)
            except ValueError:  # not the main thread: signals stay as they are
                break
    if sys.stdout is None or sys.stderr is None:
        # Started with stdout or stderr closed (`leakaudit scan >&-`): nowhere to
        # report to. Say so where possible, and fail.
        if sys.stderr is not None:
            print("leakaudit: error: standard output is closed", file=sys.stderr)
        return EXIT_ERROR
    try:
        return _main(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except _Terminated as exc:
        return 128 + exc.signum
    except BrokenPipeError:  # `leakaudit scan | head`
        return EXIT_ERROR
    except OSError as exc:
        # An I/O failure no step reported with its path: most likely the report going
        # to stdout (a full disk behind `> out.txt`).
        where = exc.filename if exc.filename else "standard output"
        with contextlib.suppress(OSError):
            print(f"leakaudit: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, and never mistaken for "findings"
        print(f"leakaudit: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        raise UsageError(
            "leakaudit: a command is required: scan, fix, explain or rules (see --help)"
        )
    from leakaudit.config import Config, ConfigError
    from leakaudit.ruleset.compiled import RuleError, load

    try:
        # The configuration comes first: it can name extra rule folders.
        config = _config(args) if args.command in ("scan", "fix", "baseline") else Config()
        cache_dir = _cache_dir(args)
        if cache_dir is not None:
            from leakaudit.cache import Cache

            cache = Cache(cache_dir)
        else:
            cache = None
        ruleset = load([*config.rule_dirs, *(Path(d) for d in args.rules)], cache)
        config.check_rule_ids(ruleset)
    except (RuleError, ConfigError) as exc:
        print(f"leakaudit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.command == "rules":
        return _rules(args, ruleset)
    if args.command == "explain":
        return _explain(args, ruleset)
    if args.command == "baseline":
        return _baseline(args, ruleset, config)
    return _scan(args, ruleset, config)


def _explain(args: argparse.Namespace, ruleset) -> int:  # type: ignore[no-untyped-def]
    """`leakaudit explain RULE-ID`: the rule's page, as docs/rules/ has it (ruff's
    `ruff rule`, staticcheck's `-explain`)."""
    from leakaudit import ruledocs

    rule = ruleset.by_id(args.rule_id)
    if rule is None:
        import difflib

        close = difflib.get_close_matches(args.rule_id, [r.id for r in ruleset.rules], n=1)
        hint = f"; did you mean {close[0]}?" if close else " (`leakaudit rules` lists them)"
        raise UsageError(f"leakaudit: unknown rule id {args.rule_id!r}{hint}")
    page = ruledocs.render_rule(rule)
    sys.stdout.write(page.removeprefix(ruledocs.GENERATED + "\n").lstrip("\n"))
    return EXIT_CLEAN


def _rules(args: argparse.Namespace, ruleset) -> int:  # type: ignore[no-untyped-def]
    if args.output_dir and args.format != "markdown":
        raise UsageError("leakaudit: --output-dir needs --format markdown")
    if args.format == "markdown":
        from leakaudit import ruledocs

        if not args.output_dir:
            sys.stdout.write(ruledocs.render_all(ruleset.rules))
            return EXIT_CLEAN
        try:
            changed = ruledocs.write(ruleset.rules, Path(args.output_dir))
        except OSError as exc:
            print(f"leakaudit: error: {args.output_dir}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        print(
            f"leakaudit: {len(changed)} page(s) written or removed in {args.output_dir}",
            file=sys.stderr,
        )
        return EXIT_CLEAN
    if args.format == "json":
        import json

        rows = [
            {
                "id": r.id,
                "family": r.family,
                "severity": r.severity.value,
                "summary": r.summary,
                "opt_in": r.opt_in,
            }
            for r in ruleset.rules
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_CLEAN
    width = max(len(r.id) for r in ruleset.rules)
    for r in ruleset.rules:
        opt_in = "(opt-in) " if r.opt_in else ""
        sys.stdout.write(f"{r.id:<{width}}  {r.severity.value:<7}  {opt_in}{r.summary}\n")
    return EXIT_CLEAN


def _scan(args: argparse.Namespace, ruleset, config) -> int:  # type: ignore[no-untyped-def]
    from leakaudit.discovery import PathError
    from leakaudit.report import renderer
    from leakaudit.report.text import summary
    from leakaudit.scan import scan

    progress = _Progress() if not args.quiet and _is_tty(sys.stderr) else None
    try:
        options, fail_on = _options(args, ruleset, config)
        options.progress = progress
        result, problems = scan(options)
    except (_WorkflowError, PathError) as exc:
        print(f"leakaudit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if progress is not None:
            progress.clear()
    for problem in problems:
        print(f"leakaudit: {problem}", file=sys.stderr)
    if args.verbose:
        _explain_setup(args, config, options, result)
    if args.command == "fix" or args.fix or args.diff:
        if problems:
            print("leakaudit: error: no fixes applied: the scan was incomplete", file=sys.stderr)
            return EXIT_ERROR
        fixed = _fix(args, options, result)
        if fixed is None:
            return EXIT_ERROR
        if args.diff:
            return EXIT_FINDINGS if _failing(result, fail_on) else EXIT_CLEAN
        result = _without(result, fixed)
    options_out = _report_options(args, config)
    if args.format == "text":
        options_out["color"] = _color(args)
    output = renderer(args.format)(result, **options_out)
    if _to_file(args):
        try:
            write_text(Path(args.output), output)
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
    return EXIT_FINDINGS if _failing(result, fail_on) else EXIT_CLEAN


def _failing(result, fail_on: str) -> bool:  # type: ignore[no-untyped-def]
    """Does a finding at or above the --fail-on level remain?"""
    if fail_on == "never":
        return False
    from leakaudit.findings import Severity

    rank = Severity(fail_on).rank
    return any(f.severity.rank >= rank for f in result.active)


def _is_tty(stream) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _color(args: argparse.Namespace) -> bool:
    """Colour for `--color always`; for auto, on a terminal unless NO_COLOR is set
    (https://no-color.org) or the report goes to a file."""
    if args.color != "auto":
        return args.color == "always"
    return not os.environ.get("NO_COLOR") and not _to_file(args) and _is_tty(sys.stdout)


def _to_file(args: argparse.Namespace) -> bool:
    """Does the report go to a file? `-o -` is standard output, as it is for most tools
    (it once wrote a file named `-` into the working directory)."""
    return bool(args.output) and args.output != "-"


class _Progress:
    """`leakaudit: 37/120 packages` on one stderr line, rewritten in place, shown only
    once a scan has taken 2 s (a quick one stays quiet), and wiped at the end."""

    DELAY = 2.0

    def __init__(self) -> None:
        import time

        self._clock = time.monotonic
        self._start = self._clock()
        self._shown = False
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if now - self._start < self.DELAY or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"\rleakaudit: {done}/{total} packages\x1b[K")
            sys.stderr.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write("\r\x1b[K")
                sys.stderr.flush()


def _explain_setup(args: argparse.Namespace, config, options, result) -> None:  # type: ignore[no-untyped-def]
    """--verbose: what decided this scan, for "why did (not) it report that?"."""
    where = f"{config.path}" if config.path is not None else "none (defaults)"
    baseline = options.baseline
    base = f"{baseline.path} ({len(baseline.keys)} entries)" if baseline is not None else "none"
    if args.go_version:
        go = f"{args.go_version} (--go-version)"
    elif config.go_version:
        go = f"{config.go_version} (configuration)"
    elif result.go_version:
        go = f"{result.go_version} (go.mod)"
    else:
        go = "unknown: no go.mod (the newest rules apply)"
    for line in (
        f"configuration: {where}",
        f"baseline: {base}",
        f"Go version: {go}",
        f"root: {options.root} ({len(result.files)} files)",
    ):
        print(f"leakaudit: {line}", file=sys.stderr)


def _fix(args: argparse.Namespace, options, result):  # type: ignore[no-untyped-def]
    """Check and apply (or, with --diff, print) the fixes; the findings fixed, or None
    when a file could not be written."""
    from leakaudit.fix import apply
    from leakaudit.report.text import counted

    plan = apply.plan(result, options)
    for finding, why in plan.skipped:
        loc = finding.location
        print(
            f"leakaudit: {loc.path}:{loc.line}: {finding.rule_id}: not fixed: {why}",
            file=sys.stderr,
        )
    if args.diff:
        sys.stdout.write("".join(apply.unified_diff(f) for f in plan.files))
        if not args.quiet:
            fixes = counted(len(plan.fixed), "fix", "fixes")
            print(f"leakaudit: {fixes} to apply (nothing written)", file=sys.stderr)
        return plan.fixed
    failed = apply.write(plan, options)
    for path, why in failed:
        print(f"leakaudit: error: {path}: not fixed: {why}", file=sys.stderr)
    written = {f.rel for f in plan.files} - {path for path, _ in failed}
    fixed = [f for ff in plan.files if ff.rel in written for f in ff.fixed]
    if not args.quiet:
        found, files = counted(len(fixed), "finding"), counted(len(written), "file")
        print(f"leakaudit: fixed {found} in {files}", file=sys.stderr)
    return None if failed else fixed


def _without(result, fixed):  # type: ignore[no-untyped-def]
    """The result less the findings fixed (what remains to report)."""
    from dataclasses import replace

    gone = {id(f) for f in fixed}
    return replace(result, findings=[f for f in result.findings if id(f) not in gone])


def _root(paths: list[str]) -> Path:
    """Paths in findings are relative to this: the directory scanned, when exactly one
    directory is given; otherwise the current directory."""
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return Path(paths[0])
    return Path.cwd()


def _is_go_version(value: str) -> bool:
    import re

    return re.fullmatch(r"1\.\d+(\.\d+)?", value) is not None


# --- workflow: configuration, baseline, --new-from-rev ------------------------------------


class _WorkflowError(Exception):
    """A baseline or git problem, already one line."""


def _add_workflow_args(parser: argparse.ArgumentParser, *, baseline_write: bool = False) -> None:
    """Options shared by `scan` and `baseline write`; they override the configuration file."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: .leakaudit.yaml or [tool.leakaudit] in "
        "pyproject.toml, in the scanned folder or the nearest folder above it, up to .git)",
    )
    parser.add_argument(
        "--enable",
        "--select",
        action="append",
        default=None,
        metavar="RULE[,RULE]",
        help="run only these rules (replaces the configuration's enable list)",
    )
    parser.add_argument(
        "--extend-enable",
        action="append",
        default=None,
        metavar="RULE[,RULE]",
        help="run these rules as well, opt-in rules included",
    )
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="skip matching files"
    )
    parser.add_argument(
        "--include-tests",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="analyze _test.go files (default: yes)",
    )
    if baseline_write:
        return
    parser.add_argument(
        "--fail-on",
        choices=["error", "warning", "note", "never"],
        default=None,
        help="lowest severity that makes the exit status 1 (default: warning; notes, "
        "parse errors among them, never fail a run unless asked)",
    )
    parser.add_argument(
        "--baseline", metavar="FILE", help="report only findings not in this baseline file"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="ignore the configured baseline: report every finding (an audit's full view)",
    )
    parser.add_argument(
        "--new-from-rev",
        metavar="REV",
        help="report only findings in functions changed since the git revision REV",
    )


def _add_baseline_command(sub) -> None:  # type: ignore[no-untyped-def]
    baseline = sub.add_parser("baseline", help="accept the current findings (baseline file)")
    actions = baseline.add_subparsers(dest="baseline_command", metavar="ACTION")
    write = actions.add_parser("write", help="write the baseline file for the current findings")
    write.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="files or directories (default: .)"
    )
    write.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="where to write it (default: the configured baseline, else "
        ".leakaudit-baseline.json in the scanned root)",
    )
    write.add_argument("--rules", action="append", default=[], metavar="DIR")
    write.add_argument("--disable", action="append", default=[], metavar="RULE[,RULE]")
    write.add_argument("--go-version", metavar="1.N")
    _add_workflow_args(write, baseline_write=True)
    _add_performance_args(write)


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from leakaudit import config as config_mod

    if args.command == "baseline" and args.baseline_command is None:
        raise UsageError("leakaudit baseline: an action is required: write (see --help)")
    path = Path(args.config) if args.config else config_mod.find(_root(args.paths))
    return config_mod.load(path) if path is not None else config_mod.Config()


def _ids(groups: list[str] | None, ruleset, flag: str) -> set[str] | None:  # type: ignore[no-untyped-def]
    if groups is None:
        return None
    ids = {r.strip() for group in groups for r in group.split(",") if r.strip()}
    unknown = sorted(i for i in ids if ruleset.by_id(i) is None)
    if unknown:
        raise UsageError(f"leakaudit: unknown rule id in {flag}: {', '.join(unknown)}")
    return ids


def _options(args: argparse.Namespace, ruleset, config):  # type: ignore[no-untyped-def]
    """ScanOptions and the fail level from the command line over the configuration."""
    from leakaudit.scan import ScanOptions

    disable = _ids(args.disable, ruleset, "--disable") or set()
    enable = _ids(args.enable, ruleset, "--enable")
    extend = _ids(getattr(args, "extend_enable", None), ruleset, "--extend-enable")
    go_version = args.go_version or config.go_version
    if args.go_version is not None and not _is_go_version(args.go_version):
        raise UsageError(
            f"leakaudit: --go-version expects a version like 1.22, got {args.go_version!r}"
        )
    root = _root(args.paths)
    from leakaudit.module.constraints import KNOWN_ARCH, KNOWN_OS, Platform

    for flag, value, known in (
        ("--goos", getattr(args, "goos", None), KNOWN_OS),
        ("--goarch", getattr(args, "goarch", None), KNOWN_ARCH),
    ):
        if value is not None and value not in known:
            raise UsageError(f"leakaudit: {flag} expects one of {', '.join(sorted(known))}")
    platform = Platform(
        getattr(args, "goos", None) or config.goos or "linux",
        getattr(args, "goarch", None) or config.goarch or "amd64",
    )
    include_tests = args.include_tests if args.include_tests is not None else config.include_tests
    options = ScanOptions(
        paths=args.paths,
        root=root,
        ruleset=ruleset,
        go_version=go_version,
        platform=platform,
        include_tests=include_tests if include_tests is not None else True,
        disabled=config.disabled(
            ruleset,
            sorted(enable) if enable is not None else None,
            disable,
            sorted(extend) if extend is not None else None,
        ),
        severity=dict(config.severity),
        exclude=(*config.excludes_for(root), *args.exclude),
        jobs=args.jobs or _cpus(),
        cache_dir=_cache_dir(args),
        inventory=getattr(args, "format", None) in ("json", "markdown"),
    )
    fail_on = getattr(args, "fail_on", None) or config.fail_on or DEFAULT_FAIL_ON
    if args.command == "baseline":
        return options, fail_on
    baseline_path = Path(args.baseline) if args.baseline else config.baseline
    if args.no_baseline:
        if args.baseline:
            raise UsageError("leakaudit: --baseline and --no-baseline contradict each other")
        baseline_path = None
    if baseline_path is not None:
        from leakaudit.baseline import BaselineError, load

        try:
            options.baseline = load(baseline_path)
        except BaselineError as exc:
            raise _WorkflowError(str(exc)) from None
    if args.new_from_rev:
        from leakaudit.gitdiff import GitError, changed_files

        notes: list[str] = []
        try:
            options.changed = changed_files(root, args.new_from_rev, notes)
            for note in notes:
                print(f"leakaudit: {note}", file=sys.stderr)
        except GitError as exc:
            raise _WorkflowError(f"--new-from-rev {args.new_from_rev}: {exc}") from None
    return options, fail_on


def _baseline(args: argparse.Namespace, ruleset, config) -> int:  # type: ignore[no-untyped-def]
    """`baseline write`: scan like `scan` (same configuration) and record what it finds."""
    from leakaudit.baseline import FILENAME, write
    from leakaudit.discovery import PathError
    from leakaudit.scan import scan

    options, _ = _options(args, ruleset, config)
    try:
        result, problems = scan(options)
    except PathError as exc:
        print(f"leakaudit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for problem in problems:
        print(f"leakaudit: {problem}", file=sys.stderr)
    if problems:
        print(
            "leakaudit: error: baseline not written: some files could not be read", file=sys.stderr
        )
        return EXIT_ERROR
    out = Path(args.output) if args.output else (config.baseline or options.root / FILENAME)
    try:
        count = write(result.findings, options.root, out)
    except OSError as exc:
        print(f"leakaudit: error: {out}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"leakaudit: wrote {count} finding{'s' if count != 1 else ''} to {out}", file=sys.stderr)
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
