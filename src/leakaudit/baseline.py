"""Baselines: accept today's findings so CI reports only new ones.

An entry is keyed by rule id, path and a fingerprint of the acquiring code (the finding's
snippet and enclosing function), never by line number, so an entry survives edits elsewhere
in the file. Identical acquisitions in one function are told apart by an occurrence index.
Paths are stored relative to the baseline file, so the same baseline works however the scan
is invoked (`leakaudit scan .`, `leakaudit scan svc`, or pre-commit passing file names).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from leakaudit import __version__
from leakaudit.findings import Finding
from leakaudit.reading import BASELINE_BYTES, read_small
from leakaudit.writing import json_text, write_text

FILENAME = ".leakaudit-baseline.json"
FORMAT_VERSION = 1

Key = tuple[str, str, str, int]  # rule id, path (relative to the baseline), fingerprint, index


class BaselineError(Exception):
    """A baseline that cannot be read, formatted as `path: problem`."""


def fingerprint(finding: Finding) -> str:
    """Line-independent identity of a finding: the function it is in plus the acquiring
    code, whitespace-normalized. Findings without a snippet (engine diagnostics) fall back
    to the message with numbers removed, since messages may quote line numbers."""
    code = " ".join(finding.snippet.split())
    if not code:
        code = re.sub(r"\d+", "#", finding.message)
    digest = hashlib.sha256(f"{finding.rule_id}\0{finding.function}\0{code}".encode())
    return digest.hexdigest()[:20]


def keyed(findings: Iterable[Finding], root: Path, base_dir: Path) -> list[tuple[Key, Finding]]:
    """Keys of the active (not suppressed) findings, in report order."""
    base = base_dir.resolve()
    root_abs = root.resolve()
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    active = sorted((f for f in findings if not f.suppressed), key=Finding.sort_key)
    for finding in active:
        path = _relative(root_abs / finding.location.path, base)
        stem = (finding.rule_id, path, fingerprint(finding))
        index = seen.get(stem, 0)
        seen[stem] = index + 1
        out.append(((*stem, index), finding))
    return out


def _relative(path: Path, base: Path) -> str:
    try:
        rel = os.path.relpath(os.path.normpath(path), base)
    except ValueError:  # another drive on Windows
        rel = str(path)
    return rel.replace(os.sep, "/")


def write(findings: Iterable[Finding], root: Path, out: Path) -> int:
    """Write the baseline for `findings` (paths relative to `root`) to `out`; returns the
    number of entries. Line and message are stored for people reading the file only."""
    entries = [
        {
            "rule": key[0],
            "path": key[1],
            "fingerprint": key[2],
            "occurrence": key[3],
            "function": f.function,
            "line": f.location.line,
            "message": f.message,
        }
        for key, f in keyed(findings, root, out.parent)
    ]
    entries.sort(key=lambda e: (e["path"], e["rule"], e["line"], e["occurrence"]))
    doc = {
        "version": FORMAT_VERSION,
        "tool": f"leakaudit {__version__}",
        "findings": entries,
    }
    write_text(out, json_text(doc))
    return len(entries)


@dataclass(frozen=True)
class Baseline:
    path: Path
    keys: frozenset[Key]

    def apply(self, findings: list[Finding], root: Path) -> list[Finding]:
        """Mark findings the baseline already holds as suppressed: reports leave them out,
        the summary counts them, JSON lists them with the reason."""
        known = {id(f): key for key, f in keyed(findings, root, self.path.parent)}
        reason = f"in baseline {self.path.name}"
        out = []
        for finding in findings:
            key = known.get(id(finding))
            if key is not None and key in self.keys:
                finding = replace(
                    finding,
                    suppressed=True,
                    suppression_reason=reason,
                    extra={**finding.extra, "suppressed_by": "baseline"},
                )
            out.append(finding)
        return out


def load(path: Path) -> Baseline:
    try:
        raw = read_small(path, BASELINE_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise BaselineError(
            f"{path}: baseline not found (create it with `leakaudit baseline write`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise BaselineError(f"{path}: cannot read baseline: {why}") from None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise BaselineError(f"{path}:1: invalid JSON: nested too deep") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise BaselineError(f"{path}: not a leakaudit baseline (no findings list)")
    if doc.get("version") != FORMAT_VERSION:
        raise BaselineError(
            f"{path}: baseline format version {doc.get('version')!r} is not supported "
            f"(expected {FORMAT_VERSION}); write it again with `leakaudit baseline write`"
        )
    keys = set()
    for n, entry in enumerate(doc["findings"]):
        try:
            key = (
                str(entry["rule"]),
                str(entry["path"]),
                str(entry["fingerprint"]),
                int(entry.get("occurrence", 0)),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            raise BaselineError(
                f"{path}: findings[{n}] needs rule, path and fingerprint, and a whole "
                "number as occurrence"
            ) from None
        keys.add(key)
    return Baseline(path, frozenset(keys))
