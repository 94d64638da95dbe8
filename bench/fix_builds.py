#!/usr/bin/env python3
"""Do `leakaudit fix`'s fixes build? Measured on Go packages the rules were never tuned
on, which build offline.

    python bench/fix_builds.py GOPATH_SRC IMPORT_PATH [IMPORT_PATH ...]

GOPATH_SRC is a GOPATH's `src` folder holding the packages and everything they import,
for example /usr/share/gocode/src after `apt-get install golang-github-lib-pq-dev`
(Debian ships Go libraries as source, with their dependencies). Go itself is needed
here, never by leakaudit.

For each import path: copy the package tree into a scratch GOPATH, check that it
builds and vets (tests included) as shipped, scan it, run `leakaudit fix`, scan it
again, then build and vet it once more. Prints, per package and in total: findings
with a fix before, left after, fixes applied, and whether the fixed code still builds
and vets with no new complaint. Nothing is written outside the scratch folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gopath_src", type=Path)
    parser.add_argument("packages", nargs="+", metavar="IMPORT_PATH")
    args = parser.parse_args()
    if shutil.which("go") is None:
        print("fix_builds: needs a Go toolchain (apt-get install golang-go)", file=sys.stderr)
        return 2
    totals = {"fixable": 0, "left": 0, "fixed": 0, "broken": 0}
    with tempfile.TemporaryDirectory(prefix="leakaudit-fix-builds-") as tmp:
        scratch = Path(tmp)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "GOCACHE": str(scratch / "gocache"),
            "GO111MODULE": "off",
            "GOFLAGS": "",
            "GOPATH": f"{scratch / 'gopath'}:{args.gopath_src.parent}",
        }
        print(f"{'package':40} {'fixable':>7} {'fixed':>5} {'left':>4}  build, vet")
        for pkg in args.packages:
            row = _one(pkg, args.gopath_src, scratch, env)
            if row is None:
                continue
            for key in totals:
                totals[key] += row[key]
            print(
                f"{pkg:40} {row['fixable']:>7} {row['fixed']:>5} {row['left']:>4}  {row['verdict']}"
            )
    dropped = 1 - totals["left"] / totals["fixable"] if totals["fixable"] else 0.0
    print(
        f"total: {totals['fixable']} fixable findings, {totals['fixed']} fixed, "
        f"{totals['left']} left ({dropped:.0%} fewer); "
        f"{totals['broken']} package(s) that no longer build or vet clean"
    )
    return 1 if totals["broken"] else 0


def _one(pkg: str, src: Path, scratch: Path, env: dict[str, str]) -> dict | None:
    work = scratch / "gopath" / "src" / pkg
    shutil.copytree(src / pkg, work, symlinks=False)
    before = _go(work, env)
    if before is None:
        print(f"{pkg:40} skipped: does not build as shipped", file=sys.stderr)
        return None
    found = _fixable(work)
    subprocess.run(
        [sys.executable, "-m", "leakaudit", "fix", str(work), "--no-cache", "--quiet"],
        capture_output=True,
    )
    left = _fixable(work)
    after = _go(work, env)
    broken = after is None or bool(after - before)
    verdict = "BROKEN" if after is None else ("new vet complaints" if broken else "ok")
    return {
        "fixable": len(found),
        "fixed": len(found) - len(left),
        "left": len(left),
        "broken": int(broken),
        "verdict": verdict,
    }


def _fixable(path: Path) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "leakaudit", "scan", str(path), "--no-cache", "-f", "json", "-q"],
        capture_output=True,
        text=True,
    )
    return [f for f in json.loads(out.stdout)["findings"] if f.get("fix")]


def _go(work: Path, env: dict[str, str]) -> set[str] | None:
    """None when `go build` or `go vet`'s compile fails; else vet's complaints, each
    without its line number (fixes move lines)."""
    build = subprocess.run(
        ["go", "build", "./..."], cwd=work, env=env, capture_output=True, text=True
    )
    if build.returncode != 0:
        return None
    vet = subprocess.run(["go", "vet", "./..."], cwd=work, env=env, capture_output=True, text=True)
    complaints = set()
    for line in vet.stderr.splitlines():
        if line.startswith("#"):
            continue
        if "cannot" in line or "undefined" in line or "declared and not used" in line:
            return None  # a compile error in a test file
        parts = line.split(":")
        complaints.add(":".join([parts[0], *parts[3:]]) if len(parts) > 3 else line)
    return complaints


if __name__ == "__main__":
    sys.exit(main())
