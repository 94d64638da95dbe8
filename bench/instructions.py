#!/usr/bin/env python3
"""Instructions, not seconds: a cold `leakaudit scan --jobs 1` of a corpus under valgrind's
callgrind, and how many of its instructions tree-sitter's parser executed.

    python bench/instructions.py CORPUS_DIR

On a shared machine wall time drifts by tens of percent from one minute to the next, so
bench/run.py cannot tell a 2% change from noise. An instruction count can: the same scan
gives the same count to within a fraction of a percent. The ratio printed here (all
instructions / the parser's) is not the wall-time ratio bench/run.py holds to its
target: the parser's C retires more instructions per cycle than Python does. Use it to
compare two versions of leakaudit on the same corpus. Needs valgrind on PATH; takes
about 40 times as long as the scan itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The parser's entry points, whichever a tree-sitter version's binding calls.
_PARSE = frozenset(
    {
        "ts_parser_parse",
        "ts_parser_parse_string",
        "ts_parser_parse_string_encoding",
        "ts_parser_parse_with_options",
    }
)


def parse_instructions(profile: Path) -> tuple[int, int]:
    """(all instructions, instructions inside calls into the parser) from a callgrind
    output file: the inclusive cost of every call that enters one of `_PARSE` from
    outside it."""
    names: dict[str, str] = {}
    total = inside = 0
    caller = callee = ""
    take_next = False

    def name_of(spec: str) -> str:
        # Compressed names: "(12) name" the first time, "(12)" after.
        if spec.startswith("("):
            ident, _, name = spec.partition(")")
            name = name.strip()
            if name:
                names[ident] = name
            return names.get(ident, "")
        return spec

    with profile.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if take_next:
                take_next = False
                fields = line.split()
                if len(fields) >= 2 and callee in _PARSE and caller not in _PARSE:
                    inside += int(fields[1])
            elif line.startswith("fn="):
                caller = name_of(line[3:].strip())
            elif line.startswith("cfn="):
                callee = name_of(line[4:].strip())
            elif line.startswith("calls="):
                take_next = True
            elif line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total, inside


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("bench: valgrind is not installed", file=sys.stderr)
        return 2
    corpus = args.corpus.resolve()
    if not corpus.is_dir():
        print(f"bench: {corpus}: not a directory", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="leakaudit-instructions-") as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        scan = [sys.executable, "-m", "leakaudit", "scan", str(corpus), "-q"]
        scan += ["-o", os.devnull, "--jobs", "1", "--no-cache"]
        subprocess.run(scan, env=env, capture_output=True)  # compiles the bytecode first
        profile = tmp / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}"]
        done = subprocess.run([*valgrind, *scan], env=env, capture_output=True, text=True)
        if done.returncode not in (0, 1) or not profile.exists():
            print(f"bench: the scan under valgrind failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 2
        total, parse = parse_instructions(profile)
    if not parse:
        print("bench: no instructions inside the parser: is tree-sitter stripped?", file=sys.stderr)
        return 2
    print(f"corpus {corpus}")
    print(f"instructions, scan --jobs 1 (cold) {total / 1e9:10.3f} G")
    print(f"  of which tree-sitter parsing      {parse / 1e9:10.3f} G")
    print(f"  beyond parsing                    {(total - parse) / 1e9:10.3f} G")
    print(f"scan / parse                        {total / parse:10.4f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
