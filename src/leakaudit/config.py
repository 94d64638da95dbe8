"""Project configuration: `[tool.leakaudit]` in pyproject.toml, or `.leakaudit.yaml`, at the
scanned root. Command-line flags override it.

Every key is checked: an unknown key or a value of the wrong kind is an error naming the
file and line, because a misspelled `exclude` that silently does nothing is worse than no
configuration. Keys are the same in both formats (kebab-case).
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leakaudit.findings import Severity
from leakaudit.reading import CONFIG_BYTES, read_small
from leakaudit.ruleset.model import RuleSet

if TYPE_CHECKING:
    import yaml

# yaml and tomllib are imported where a configuration file is read: most scans have none,
# and a pre-commit run of `leakaudit scan one.go` should not pay for them.

YAML_NAME = ".leakaudit.yaml"
PYPROJECT = "pyproject.toml"
DIAGNOSTIC_TAG = "leakaudit-diagnostic"  # engine rules: kept on by an `enable` list

# key -> kind of value
KEYS: dict[str, str] = {
    "enable": "rule-list",  # only these rules run (engine diagnostics stay on)
    "extend-enable": "rule-list",  # these run too, opt-in rules included
    "disable": "rule-list",
    "severity": "severity-map",  # rule id -> error | warning | note
    "exclude": "str-list",  # globs, relative to the scanned root
    "rule-dirs": "str-list",  # extra rule folders, relative to the configuration file
    "go-version": "version",
    "goos": "platform",  # the target platform types are resolved for (build constraints)
    "goarch": "platform",
    "include-tests": "bool",
    "fail-on": "severity",  # lowest severity that makes the exit status 1
    "baseline": "str",  # baseline file, relative to the configuration file
    "docs-url": "url",  # where docs/rules/ is published: SARIF and report links
}
_SEVERITIES = tuple(s.value for s in Severity)
_VERSION = re.compile(r"1\.\d+(\.\d+)?")


class ConfigError(Exception):
    """A configuration problem, formatted as `path:line: message`."""


@dataclass
class _Entry:
    """A configuration value with the line of its key (or list item)."""

    value: Any  # scalar, list[_Entry] or dict[str, _Entry]
    line: int
    raw: str = ""  # YAML scalars: the text as written (so go-version 1.20 stays 1.20)


@dataclass
class Config:
    path: Path | None = None
    enable: tuple[str, ...] | None = None
    extend_enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    rule_dirs: tuple[Path, ...] = ()
    go_version: str | None = None
    goos: str | None = None
    goarch: str | None = None
    include_tests: bool | None = None
    fail_on: str | None = None  # a severity's name, or "never"
    baseline: Path | None = None
    docs_url: str | None = None
    # "disable", "disable:rule-id", "severity:rule-id"... -> line, for errors found later
    lines: dict[str, int] = field(default_factory=dict)

    def excludes_for(self, root: Path) -> tuple[str, ...]:
        """The exclude globs for a scan of `root`. Anchored globs (`internal/gen/**`) are
        written from the configuration's folder; a scan of a folder below it sees them
        from there (`gen/**` for a scan of `internal`), and drops those outside it."""
        if self.path is None:
            return self.exclude
        try:
            below = root.resolve().relative_to(self.path.parent.resolve()).as_posix()
        except ValueError:
            return self.exclude  # scanning outside the configured tree: as written
        if below == ".":
            return self.exclude
        out = []
        for pattern in self.exclude:
            clean = pattern.strip().removeprefix("./").strip("/")
            if "/" not in clean or clean.startswith("**"):
                out.append(pattern)
            elif clean.startswith(below + "/"):
                out.append(clean[len(below) + 1 :])
        return tuple(out)

    def check_rule_ids(self, ruleset: RuleSet) -> None:
        """Rule ids are known only once rules (including `rule-dirs`) are loaded."""
        named = [("enable", i) for i in self.enable or ()]
        named += [("extend-enable", i) for i in self.extend_enable]
        named += [("disable", i) for i in self.disable]
        named += [("severity", i) for i in self.severity]
        for key, rule_id in named:
            if ruleset.by_id(rule_id) is None:
                line = self.lines.get(f"{key}:{rule_id}", self.lines.get(key, 1))
                raise ConfigError(
                    f"{self.path}:{line}: unknown rule id {rule_id!r} in {key} "
                    "(`leakaudit rules` lists them)"
                )

    def disabled(
        self,
        ruleset: RuleSet,
        enable: list[str] | None = None,
        disable: set[str] | None = None,
        extend: list[str] | None = None,
    ) -> frozenset[str]:
        """Rules not to run. Command-line `enable` replaces the file's list and re-enables
        rules the file disables; command-line `disable` adds to the file's. Opt-in rules
        run only when an `enable` or `extend-enable` list names them."""
        off = set(self.disable) | set(disable or ())
        allow = self.enable
        more = {*self.extend_enable, *(extend or ())}
        if enable is not None:
            allow = tuple(enable)
            off -= set(enable)
            off |= set(disable or ())
        if allow is not None:
            off |= {
                r.id
                for r in ruleset.rules
                if r.id not in allow and r.id not in more and DIAGNOSTIC_TAG not in r.tags
            }
        named = {*(allow or ()), *more}
        off |= {r.id for r in ruleset.rules if r.opt_in and r.id not in named}
        return frozenset(off - (more - set(disable or ())))


def find(start: Path) -> Path | None:
    """The configuration file nearest `start`: in it or a folder above, up to the
    repository root (the folder holding `.git`), as golangci-lint looks for its own, so
    `leakaudit scan svc/orders` uses the repository's file."""
    here = start.resolve()
    for folder in (here, *here.parents):
        found = _config_in(folder)
        if found is not None:
            return found
        if (folder / ".git").exists():
            return None
    return None


def _config_in(root: Path) -> Path | None:
    """The configuration file in `root`, if any. Both kinds at once is an error: which
    one wins would be a guess."""
    yaml_path = root / YAML_NAME
    pyproject = root / PYPROJECT
    has_yaml = yaml_path.is_file()
    has_toml = pyproject.is_file() and _has_tool_table(pyproject)
    if has_yaml and has_toml:
        raise ConfigError(
            f"{root / YAML_NAME}: both {YAML_NAME} and [tool.leakaudit] in {PYPROJECT} "
            "configure leakaudit; keep one"
        )
    if has_yaml:
        return yaml_path
    return pyproject if has_toml else None


def load(path: Path) -> Config:
    try:
        text = read_small(path, CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{path}: cannot read configuration: {why}") from None
    if path.suffix == ".toml":
        entry = _from_toml(path, text)
        if entry is None:
            raise ConfigError(f"{path}:1: no [tool.leakaudit] table")
        return _build(entry, path, "[tool.leakaudit]")
    return _build(_from_yaml(path, text), path, path.name)


def _has_tool_table(path: Path) -> bool:
    try:
        text = read_small(path, CONFIG_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "leakaudit" not in text:  # cheap: most pyproject files never mention us
        return False
    return _from_toml(path, text) is not None


# --- YAML -------------------------------------------------------------------------------


def _from_yaml(path: Path, text: str) -> _Entry:
    import yaml

    from leakaudit.yamlsafe import too_large

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}:1: invalid YAML: nested too deep") from None
    if node is None:  # an empty file configures nothing
        return _Entry({}, 1)
    if too_large(node):
        raise ConfigError(f"{path}:1: the YAML expands to too many nodes (aliases of aliases?)")
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: expected a mapping of settings")
    return _yaml_entry(node, node.start_mark.line + 1, path)


def _yaml_entry(node: yaml.Node, line: int, path: Path) -> _Entry:
    import yaml

    if isinstance(node, yaml.MappingNode):
        out: dict[str, _Entry] = {}
        for key_node, value_node in node.value:
            kline = key_node.start_mark.line + 1
            key = str(key_node.value)
            if key in out:
                raise ConfigError(f"{path}:{kline}: duplicate key {key!r}")
            out[key] = _yaml_entry(value_node, kline, path)
        return _Entry(out, line)
    if isinstance(node, yaml.SequenceNode):
        return _Entry(
            [_yaml_entry(item, item.start_mark.line + 1, path) for item in node.value], line
        )
    assert isinstance(node, yaml.ScalarNode)
    tag = node.tag.rsplit(":", 1)[-1]
    value: Any = node.value
    if tag == "bool":
        value = node.value.lower() in ("true", "yes", "on")
    elif tag == "int":
        value = int(node.value) if node.value.lstrip("+-").isdigit() else node.value
    elif tag == "float":
        value = float(node.value) if _is_float(node.value) else node.value
    elif tag == "null":
        value = None
    return _Entry(value, line, raw=node.value)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- TOML -------------------------------------------------------------------------------

_TOML_PART = re.compile(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)")
_TOML_TABLE = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_TOML_KEY = re.compile(
    r"\s*((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="
)


def _from_toml(path: Path, text: str) -> _Entry | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{path}:1: invalid TOML: nested too deep") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = match.group(1) if match else "1"
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(f"{path}:{line}: invalid TOML: {problem}") from None
    tool = data.get("tool")
    if not isinstance(tool, dict) or "leakaudit" not in tool:
        return None
    table = tool["leakaudit"]
    lines = _toml_lines(text)
    base = ("tool", "leakaudit")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}:{_toml_line(lines, base)}: tool.leakaudit must be a table")
    return _toml_entry(table, base, lines)


def _toml_entry(value: Any, key_path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> _Entry:
    line = _toml_line(lines, key_path)
    if isinstance(value, dict):
        return _Entry({k: _toml_entry(v, (*key_path, k), lines) for k, v in value.items()}, line)
    if isinstance(value, list):
        return _Entry([_toml_entry(v, key_path, lines) for v in value], line)
    return _Entry(value, line)


def _toml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Dotted key path -> line of its first definition, by a plain text scan (tomllib
    keeps no positions). Good for the keys people write; a key it cannot place gets its
    table's line."""
    out: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _TOML_TABLE.match(line)
        if header:
            table = _toml_parts(header.group(1))
            out.setdefault(table, number)
            continue
        key = _TOML_KEY.match(line)
        if key:
            out.setdefault((*table, *_toml_parts(key.group(1))), number)
    return out


def _toml_parts(dotted: str) -> tuple[str, ...]:
    return tuple(next(g for g in m.groups() if g is not None) for m in _TOML_PART.finditer(dotted))


def _toml_line(lines: dict[tuple[str, ...], int], key_path: tuple[str, ...]) -> int:
    while key_path:
        if key_path in lines:
            return lines[key_path]
        key_path = key_path[:-1]
    return 1


# --- validation -------------------------------------------------------------------------


def _build(root: _Entry, path: Path, where: str) -> Config:
    config = Config(path=path)
    base = path.parent
    for key, entry in root.value.items():
        kind = KEYS.get(key)
        if kind is None:
            raise ConfigError(
                f"{path}:{entry.line}: unknown key {key!r} in {where} (allowed: {', '.join(KEYS)})"
            )
        config.lines[key] = entry.line
        if kind in ("rule-list", "str-list"):
            items = _strings(entry, key, path)
            for item in entry.value:
                config.lines.setdefault(f"{key}:{item.value}", item.line)
            if key == "enable":
                config.enable = tuple(items)
            elif key == "extend-enable":
                config.extend_enable = tuple(items)
            elif key == "disable":
                config.disable = tuple(items)
            elif key == "exclude":
                config.exclude = tuple(items)
            else:
                config.rule_dirs = tuple(base / d for d in items)
        elif kind == "severity-map":
            if not isinstance(entry.value, dict):
                raise ConfigError(f"{path}:{entry.line}: {key} must map rule ids to a severity")
            for rule_id, level in entry.value.items():
                config.lines[f"{key}:{rule_id}"] = level.line
                config.severity[rule_id] = _severity(level, f"{key}.{rule_id}", path)
        elif kind == "severity":
            if entry.value == "never":
                config.fail_on = "never"
            else:
                config.fail_on = _severity(entry, key, path).value
        elif kind == "bool":
            if not isinstance(entry.value, bool):
                raise ConfigError(f"{path}:{entry.line}: {key} must be true or false")
            config.include_tests = entry.value
        elif kind == "platform":
            from leakaudit.module.constraints import KNOWN_ARCH, KNOWN_OS

            known = KNOWN_OS if key == "goos" else KNOWN_ARCH
            if not isinstance(entry.value, str) or entry.value not in known:
                raise ConfigError(
                    f"{path}:{entry.line}: {key} must be one of {', '.join(sorted(known))}"
                )
            setattr(config, key, entry.value)
        elif kind == "version":
            version = entry.raw if entry.raw else entry.value
            if not isinstance(version, str) or not _VERSION.fullmatch(version):
                raise ConfigError(
                    f'{path}:{entry.line}: {key} must be a Go version string like "1.22"'
                )
            config.go_version = version
        elif kind == "url":
            if not isinstance(entry.value, str) or not re.match(r"https?://\S+$", entry.value):
                raise ConfigError(f"{path}:{entry.line}: {key} must be an http(s) address")
            config.docs_url = entry.value
        else:  # "str"
            if not isinstance(entry.value, str) or not entry.value:
                raise ConfigError(f"{path}:{entry.line}: {key} must be a path string")
            config.baseline = base / entry.value
    return config


def _strings(entry: _Entry, key: str, path: Path) -> list[str]:
    if not isinstance(entry.value, list) or not all(
        isinstance(i.value, str) and i.value for i in entry.value
    ):
        raise ConfigError(f"{path}:{entry.line}: {key} must be a list of strings")
    return [i.value for i in entry.value]


def _severity(entry: _Entry, key: str, path: Path) -> Severity:
    if entry.value not in _SEVERITIES:
        names = (*_SEVERITIES, "never") if key == "fail-on" else _SEVERITIES
        raise ConfigError(f"{path}:{entry.line}: {key} must be one of {', '.join(names)}")
    return Severity(entry.value)


# --- exclude globs ----------------------------------------------------------------------


def excluded(rel: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """gitignore-like: a pattern without a slash matches any path component (`*_mock.go`,
    `generated`); one with a slash is anchored at the scanned root (`internal/gen/**`). A
    pattern matching a directory excludes everything under it."""
    parts = rel.split("/")
    for pattern in patterns:
        clean = pattern.strip().removeprefix("./").strip("/")
        if not clean:
            continue
        regex = _glob(clean)
        if "/" in clean:
            candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        else:
            candidates = parts
        if any(regex.fullmatch(c) for c in candidates):
            return True
    return False


class _Glob:
    """A glob matched in time linear in the pattern times the path: the states the
    pattern can be in are followed together, one character at a time, instead of
    backtracking (a regex translation of `*a*a*a*a*a*a*a*a*b` took minutes on a long
    name). Tokens: a literal character, `?` (one character but `/`), a class `[...]`,
    `*` (any run without `/`), `**` (any run), `**/` (nothing, or any run ending in `/`)."""

    def __init__(self, pattern: str) -> None:
        self.tokens: list[tuple[str, object]] = []
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                self.tokens.append(("dirs", None))
                i += 3
            elif pattern.startswith("**", i):
                self.tokens.append(("any", None))
                i += 2
            elif pattern[i] == "*":
                self.tokens.append(("star", None))
                i += 1
            elif pattern[i] == "?":
                self.tokens.append(("one", None))
                i += 1
            elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
                end = pattern.index("]", i + 1)
                self.tokens.append(("class", _char_class(pattern[i + 1 : end])))
                i = end + 1
            else:
                self.tokens.append(("char", pattern[i]))
                i += 1

    def _closure(self, states: set[tuple[int, bool]]) -> set[tuple[int, bool]]:
        """The states reachable without reading: past `*`, `**`, and a `**/` not
        entered."""
        out, work = set(states), list(states)
        while work:
            index, inside = work.pop()
            if inside or index >= len(self.tokens):
                continue
            if self.tokens[index][0] in ("star", "any", "dirs") and (index + 1, False) not in out:
                out.add((index + 1, False))
                work.append((index + 1, False))
        return out

    def fullmatch(self, text: str) -> bool:
        tokens = self.tokens
        states = self._closure({(0, False)})
        for c in text:
            moved: set[tuple[int, bool]] = set()
            for index, _inside in states:
                if index >= len(tokens):
                    continue
                kind, value = tokens[index]
                if kind == "dirs":
                    moved.add((index, True))  # inside `**/`: any run, then a `/`
                    if c == "/":
                        moved.add((index + 1, False))
                elif kind == "any":
                    moved.add((index, False))
                elif kind == "star":
                    if c != "/":
                        moved.add((index, False))
                elif kind == "one":
                    if c != "/":
                        moved.add((index + 1, False))
                elif kind == "class":
                    if value(c):  # type: ignore[operator]
                        moved.add((index + 1, False))
                elif c == value:
                    moved.add((index + 1, False))
            states = self._closure(moved)
            if not states:
                return False
        return (len(tokens), False) in states


def _char_class(body: str) -> Any:
    """The test of one character for a glob class body (`a-z`, `!0-9`); a body the
    regex engine rejects (`z-a`) matches its characters literally."""
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    try:
        with warnings.catch_warnings():
            # `[[x]`: a set inside a set, one day; to a glob, a `[` among the others.
            warnings.simplefilter("ignore", FutureWarning)
            one = re.compile("[" + body.replace("\\", "\\\\") + "]")
    except re.error:
        chars = set(body)
        return (lambda c: c not in chars) if negate else (lambda c: c in chars)
    return (
        (lambda c: one.fullmatch(c) is None) if negate else (lambda c: one.fullmatch(c) is not None)
    )


@lru_cache(maxsize=256)
def _glob(pattern: str) -> _Glob:
    return _Glob(pattern)
