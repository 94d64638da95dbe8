"""Rule sets compiled once: the loaded, validated RuleSet kept in the cache.

Parsing and validating the YAML of every rule file costs more than scanning one Go
file, and `leakaudit scan one.go` runs on every commit. The entry is keyed by the
rule files' names and bytes and by leakaudit's code, so editing a rule (or leakaudit)
recompiles; a hit does not even import the YAML library.
"""

from __future__ import annotations

from pathlib import Path

from leakaudit.cache import Cache, code_version, hasher
from leakaudit.reading import RULES_BYTES, read_small
from leakaudit.ruleset.model import RuleSet


class RuleError(Exception):
    """A rule file problem, already formatted as `path:line: message`."""


def bundled_rules_dir() -> Path:
    """The rules shipped with leakaudit: inside the installed package (wheel), or the
    repo's top-level rules/ when running from a checkout."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "rules"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "rules"


def _key(dirs: list[Path]) -> str | None:
    digest = hasher()
    digest.update(code_version().encode())
    for directory in dirs:
        if not directory.is_dir():
            return None  # the loader reports it
        digest.update(b"\0dir\0" + str(directory.resolve()).encode())
        for path in sorted(directory.glob("*.y*ml")):
            if path.suffix not in (".yaml", ".yml"):
                continue
            try:
                content = read_small(path, RULES_BYTES)
            except OSError:
                return None
            digest.update(f"\0{path.name}\0{len(content)}\0".encode())
            digest.update(content)
    return digest.hexdigest()


def load(extra_dirs: list[Path] | None = None, cache: Cache | None = None) -> RuleSet:
    """The bundled rules plus `extra_dirs`, from the cache when the files are unchanged.
    Raises the loader's RuleError for a bad rule file (never cached)."""
    extra = list(extra_dirs or [])
    key = _key([bundled_rules_dir(), *extra]) if cache is not None else None
    if cache is not None and key is not None:
        found = cache.get("rules", key, RuleSet)
        if found is not None:
            return found
    from leakaudit.ruleset.loader import load_rules

    ruleset = load_rules(extra)
    if cache is not None and key is not None:
        cache.put("rules", key, ruleset, RuleSet)
        cache.flush()
    return ruleset
