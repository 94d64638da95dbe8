"""Load rule files: safe YAML, validated against `schema.SCHEMAS`, errors with lines.

YAML is composed to nodes (not loaded to Python objects) so every value keeps its
line; anchors and aliases work as in any YAML, which is how two rules share one
acquire list.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from leakaudit.findings import Severity
from leakaudit.reading import RULES_BYTES, read_small
from leakaudit.ruleset.compiled import RuleError, bundled_rules_dir
from leakaudit.ruleset.model import (
    VIOLATIONS,
    AcquireSpec,
    CompanionSpec,
    ReleaseSpec,
    Rule,
    RuleSet,
    Signature,
)
from leakaudit.ruleset.schema import SCHEMAS, Field, list_item_pattern
from leakaudit.yamlsafe import too_large

# libyaml's loader when PyYAML has it: fifteen times faster, same nodes and marks.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _bad_field(template: str) -> str | None:
    """Why a message template is refused, or None: it may only name fields (`{var}`),
    not format them (`{var:>1500000000}` builds a string of that width) nor reach into
    them (`{var.__class__}`, `{var[0]}`)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"invalid template: {exc}"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            return f"{{{name}}}: a field is a plain name"
        if spec or conversion:
            return f"{{{name}}}: fields take no format or conversion"
    return None


def _compose(raw: str) -> yaml.Node | None:
    try:
        return yaml.compose(raw, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        # libyaml's messages are terser ("found undefined alias", without its name):
        # a broken file is worth the pure-Python loader's words.
        return yaml.compose(raw, Loader=yaml.SafeLoader)


@dataclass
class _Value:
    value: Any
    line: int


def known_checks() -> frozenset[str]:
    """Check names a rule may use: the registered checks, plus `diagnostic` for the
    engine's own rules, which nothing runs."""
    from leakaudit.checks import REGISTRY

    return frozenset(REGISTRY) | {"diagnostic"}


def load_rules(extra_dirs: list[Path] | None = None) -> RuleSet:
    dirs = [bundled_rules_dir(), *(extra_dirs or [])]
    ruleset = RuleSet(rules=[])
    seen: dict[str, str] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise RuleError(f"{directory}: rules folder not found")
        for path in sorted(directory.glob("*.y*ml")):
            if path.suffix not in (".yaml", ".yml"):
                continue
            loaded = load_file(path)
            for rule in loaded.rules:
                if rule.id in seen:
                    raise RuleError(
                        f"{path}:{rule.line}: duplicate rule id {rule.id!r} "
                        f"(first defined in {seen[rule.id]})"
                    )
                seen[rule.id] = f"{path.name}:{rule.line}"
                ruleset.rules.append(rule)
            ruleset.signatures.update(loaded.signatures)
    return ruleset


def load_file(path: Path) -> RuleSet:
    try:
        raw = read_small(path, RULES_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise RuleError(f"{path}: cannot read rule file: {why}") from None
    try:
        node = _compose(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleError(f"{path}:{line}: invalid YAML: {problem}") from None
    except RecursionError:
        raise RuleError(f"{path}:1: invalid YAML: nested too deep") from None
    if node is None:
        raise RuleError(f"{path}:1: empty rule file")
    if too_large(node):
        raise RuleError(f"{path}:1: the YAML expands to too many nodes (aliases of aliases?)")
    doc = _validate(node, "file", path)
    return _build(doc, path)


def _validate(node: yaml.Node, schema_name: str, path: Path) -> dict[str, _Value]:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise RuleError(f"{path}:{line}: expected a mapping for {schema_name}")
    schema = SCHEMAS[schema_name]
    out: dict[str, _Value] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        kline = key_node.start_mark.line + 1
        spec = schema.get(key)
        if spec is None:
            allowed = ", ".join(sorted(schema))
            raise RuleError(
                f"{path}:{kline}: unknown key {key!r} in {schema_name} (allowed: {allowed})"
            )
        if key in out:
            raise RuleError(f"{path}:{kline}: duplicate key {key!r}")
        out[key] = _Value(_convert(value_node, spec, schema_name, key, path), kline)
    for key, spec in schema.items():
        if spec.required and key not in out:
            raise RuleError(f"{path}:{line}: {schema_name} is missing required key {key!r}")
    return out


def _scalar(node: yaml.Node, kind: str, where: str, path: Path) -> Any:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode):
        raise RuleError(f"{path}:{line}: {where} must be a {kind}")
    tag = node.tag.rsplit(":", 1)[-1]
    if kind == "str":
        if tag not in ("str",):
            raise RuleError(f"{path}:{line}: {where} must be a string, got {node.value!r}")
        return node.value
    if kind == "int":
        if tag != "int":
            raise RuleError(f"{path}:{line}: {where} must be an integer, got {node.value!r}")
        return int(node.value)
    if kind == "bool":
        if tag != "bool":
            raise RuleError(f"{path}:{line}: {where} must be true or false, got {node.value!r}")
        return node.value.lower() in ("true", "yes", "on")
    raise AssertionError(kind)


def _convert(node: yaml.Node, spec: Field, schema: str, key: str, path: Path) -> Any:
    where = f"{schema}.{key}"
    line = node.start_mark.line + 1
    if spec.kind in ("str", "int", "bool"):
        value = _scalar(node, spec.kind, where, path)
        if spec.pattern and not re.match(spec.pattern, value):
            raise RuleError(f"{path}:{line}: {where} {value!r} does not match {spec.pattern}")
        if spec.choices and value not in spec.choices:
            raise RuleError(f"{path}:{line}: {where} must be one of {', '.join(spec.choices)}")
        return value
    if spec.kind == "list[str]":
        if not isinstance(node, yaml.SequenceNode):
            raise RuleError(f"{path}:{line}: {where} must be a list of strings")
        items = [_scalar(item, "str", where, path) for item in node.value]
        pattern = list_item_pattern(schema, key)
        for item, item_node in zip(items, node.value, strict=True):
            if pattern is not None and not pattern.match(item):
                raise RuleError(
                    f"{path}:{item_node.start_mark.line + 1}: {where} item {item!r} "
                    f"does not match {pattern.pattern}"
                )
        return items
    if spec.kind == "list[int]":
        if not isinstance(node, yaml.SequenceNode):
            raise RuleError(f"{path}:{line}: {where} must be a list of numbers")
        return [_scalar(item, "int", where, path) for item in node.value]
    if spec.kind in ("map[str,str]", "map[str,list[str]]"):
        if not isinstance(node, yaml.MappingNode):
            raise RuleError(f"{path}:{line}: {where} must be a mapping")
        out: dict[str, Any] = {}
        item_kind = "list[str]" if spec.kind.endswith("list[str]]") else "str"
        for k, v in node.value:
            name = _scalar(k, "str", where, path)
            out[name] = _convert(v, Field(item_kind), schema, key, path)
        return out
    if spec.kind == "object":
        return _validate(node, spec.schema, path)
    if spec.kind == "list[object]":
        if not isinstance(node, yaml.SequenceNode):
            raise RuleError(f"{path}:{line}: {where} must be a list")
        return [
            _Value(_validate(item, spec.schema, path), item.start_mark.line + 1)
            for item in node.value
        ]
    raise AssertionError(spec.kind)


def _plain(values: dict[str, _Value]) -> dict[str, Any]:
    return {k: v.value for k, v in values.items()}


def _build(doc: dict[str, _Value], path: Path) -> RuleSet:
    family = doc["family"].value
    signatures = {
        name: Signature(tuple(results))
        for name, results in (doc["signatures"].value if "signatures" in doc else {}).items()
    }
    rules = [_build_rule(item.value, item.line, family, path) for item in doc["rules"].value]
    title = doc["title"].value.strip()
    described = doc["description"].value.strip() if "description" in doc else ""
    rules = [replace(r, family_title=title, family_description=described) for r in rules]
    return RuleSet(rules=rules, signatures=signatures)


def _build_rule(raw: dict[str, _Value], line: int, family: str, path: Path) -> Rule:
    values = _plain(raw)
    rule_id = values["id"]
    reports = tuple(values.get("reports", ()))
    for kind in reports:
        if kind not in VIOLATIONS:
            raise RuleError(
                f"{path}:{raw['reports'].line}: unknown violation {kind!r} "
                f"(known: {', '.join(VIOLATIONS)})"
            )
    messages: dict[str, str] = values["messages"]
    for kind, template in messages.items():
        bad = _bad_field(template)
        if bad is not None:
            raise RuleError(
                f"{path}:{raw['messages'].line}: rule {rule_id} message {kind!r}: {bad}"
            )
    for kind in reports:
        if kind not in messages:
            raise RuleError(
                f"{path}:{raw['messages'].line}: rule {rule_id} reports {kind!r} "
                "but has no message for it"
            )
    acquire = []
    for item in values.get("acquire", []):
        spec = _plain(item.value)
        if not spec.get("calls") and not spec.get("returns"):
            raise RuleError(f"{path}:{item.line}: an acquire entry needs `calls` or `returns`")
        if spec.get("calls") and not spec.get("package"):
            raise RuleError(f"{path}:{item.line}: an acquire entry with `calls` needs `package`")
        acquire.append(
            AcquireSpec(
                package=spec.get("package", ""),
                types=tuple(spec.get("types", ())),
                calls=tuple(spec.get("calls", ())),
                returns=spec.get("returns", ""),
                resource=spec.get("resource", 0),
                error=spec.get("error"),
                results=spec.get("results"),
                unknown_receivers=spec.get("unknown-receivers", True),
                receiver=spec.get("receiver", False),
                local=spec.get("local", False),
                launched=spec.get("launched", False),
                argument=spec.get("argument"),
                partner=spec.get("partner"),
                release=tuple(spec.get("release", ())),
                release_args=tuple(spec.get("release-args", ())),
            )
        )
    if values["check"] not in known_checks():
        raise RuleError(
            f"{path}:{raw['check'].line}: rule {rule_id} names unknown check "
            f"{values['check']!r} (known: {', '.join(sorted(known_checks()))})"
        )
    options = _plain(values["options"]) if "options" in values else {}
    owners_only = bool(options.get("owners"))
    if values["check"] == "obligation" and not acquire and not owners_only:
        # (A rule whose owner types are found by `options.owners` follows only those.)
        raise RuleError(f"{path}:{line}: obligation rule {rule_id} needs an `acquire` list")
    rel = _plain(values["release"]) if "release" in values else {}
    release = ReleaseSpec(
        methods=tuple(rel.get("methods", ())),
        call=rel.get("call", False),
        via=rel.get("via", ""),
        borrowers=tuple(rel.get("borrowers", ())),
        wrappers=tuple(rel.get("wrappers", ())),
        functions=tuple(rel.get("functions", ())),
        resets=tuple(rel.get("resets", ())),
        receives=tuple(rel.get("receives", ())),
        exhausts=tuple(rel.get("exhausts", ())),
        endless=tuple(rel.get("endless", ())),
        through=tuple(rel.get("through", ())),
    )
    if values["check"] == "obligation" and not (
        release.methods or release.call or release.functions or owners_only
    ):
        raise RuleError(
            f"{path}:{line}: obligation rule {rule_id} needs release.methods, release.call"
            " or release.functions"
        )
    comp = _plain(values["companion"]) if "companion" in values else None
    return Rule(
        id=rule_id,
        name=values["name"],
        family=family,
        severity=Severity(values["severity"]),
        summary=values["summary"].strip(),
        help=values["help"].strip(),
        messages=messages,
        check=values["check"],
        acquire=tuple(acquire),
        release=release,
        companion=CompanionSpec(tuple(comp["after"]), tuple(comp["require"])) if comp else None,
        reports=reports,
        tags=tuple(values.get("tags", ())),
        precision=values.get("precision", "high"),
        opt_in=values.get("opt-in", False),
        fix=values.get("fix", ""),
        fix_on_exit=values.get("fix-on-exit", ""),
        options=options,
        source=path.name,
        line=line,
    )
