#!/usr/bin/env python3
"""Instructions, not seconds: a cold `leakaudit scan --jobs 1` of a corpus under valgrind's
callgrind, and how many of its instructions tree-sitter's parser executed.

    python bench/instructions.py CORPUS_DIR [--jobs N]

On a shared machine wall time drifts by tens of percent from one minute to the next, so
bench/run.py cannot tell a 2% change from noise. An instruction count can: the same scan
gives the same count to within a fraction of a percent. The ratio printed here (all
instructions / the parser's) is not the wall-time ratio bench/run.py holds to its
target: the parser's C retires more instructions per cycle than Python does. Use it to
compare two versions of leakaudit on the same corpus. Needs valgrind on PATH; takes
about 40 times as long as the scan itself.

With `--jobs N` (N > 1) a cold `--jobs N` scan runs beside it, its process pool counted
process by process: the main process before it starts the first worker (the part no
worker can share), each worker, and the main process after. That tells what the parallel
path costs in work, whatever the host's two CPUs do to each other's speed, and the
speed-up it would reach if every instruction took as long as in the `--jobs 1` scan.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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


def identity(profile: Path) -> tuple[int, int]:
    """(pid, part) from a callgrind output file's header. A dump before each fork splits
    the main process's profile into parts; a worker's profile starts at its fork."""
    pid = part = 0
    with profile.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("pid:"):
                pid = int(line.split()[1])
            elif line.startswith("part:"):
                part = int(line.split()[1])
            elif line.startswith("events:"):
                break
    return pid, part


@dataclass
class Pool:
    """A `--jobs N` scan's instructions, process by process."""

    before: int  # the main process until it forks the first worker: no worker shares it
    after: int  # the main process from then on (results, report, exit)
    workers: list[int]
    parse: int  # inside the parser, in every process

    @property
    def total(self) -> int:
        return self.before + self.after + sum(self.workers)


def pool_split(profiles: list[Path], main_pid: int) -> Pool:
    main: list[tuple[int, int]] = []
    workers: dict[int, int] = {}
    parse = 0
    for profile in profiles:
        pid, part = identity(profile)
        total, inside = parse_instructions(profile)
        parse += inside
        if pid == main_pid:
            main.append((part, total))
        else:
            workers[pid] = workers.get(pid, 0) + total
    main.sort()
    before = main[0][1] if main else 0
    return Pool(before, sum(t for _, t in main[1:]), list(workers.values()), parse)


def ideal_speedup(serial: int, pool: Pool, jobs: int) -> float:
    """How much faster than a scan of `serial` instructions, if every instruction took
    as long in both: the main process alone until its first fork, then the pool's work
    spread evenly over `jobs` CPUs. Evenly, because the pool hands out tasks as workers
    free up (small ones last): how the work fell between the workers here says which
    one valgrind happened to run faster, not how the tasks were cut."""
    return serial / (pool.before + (sum(pool.workers) + pool.after) / jobs)


def _start(scan: list[str], out: Path, env: dict[str, str], forks: bool) -> subprocess.Popen[str]:
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    if forks:  # dump (and zero) the counts before each fork: workers start from zero
        valgrind.append("--dump-before=PyOS_BeforeFork")
    return subprocess.Popen(
        [*valgrind, *scan], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _finished(run: subprocess.Popen[str]) -> bool:
    _, err = run.communicate()
    if run.returncode in (0, 1):
        return True
    print(f"bench: the scan under valgrind failed:\n{err[-2000:]}", file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="also count a cold scan with this many workers, process by process",
    )
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
        scan = [sys.executable, "-m", "leakaudit", "scan", str(corpus), "-q", "-o", os.devnull]
        scan.append("--no-cache")
        pooled = [*scan, "--jobs", str(args.jobs)] if args.jobs > 1 else None
        scan += ["--jobs", "1"]
        for command in (scan, pooled):  # compiles the bytecode first (the pool's modules too)
            if command is not None:
                subprocess.run(command, env=env, capture_output=True)
        profile = tmp / "callgrind.out"
        runs = [_start(scan, profile, env, forks=False)]
        if pooled is not None:
            (tmp / "pool").mkdir()
            runs.append(_start(pooled, tmp / "pool" / "callgrind.out.%p", env, forks=True))
        if not all([_finished(run) for run in runs]) or not profile.exists():
            return 2
        total, parse = parse_instructions(profile)
        pool = pool_split(sorted((tmp / "pool").iterdir()), runs[1].pid) if pooled else None
    if not parse:
        print("bench: no instructions inside the parser: is tree-sitter stripped?", file=sys.stderr)
        return 2
    print(f"corpus {corpus}")
    print(f"instructions, scan --jobs 1 (cold) {total / 1e9:10.3f} G")
    print(f"  of which tree-sitter parsing      {parse / 1e9:10.3f} G")
    print(f"  beyond parsing                    {(total - parse) / 1e9:10.3f} G")
    print(f"scan / parse                        {total / parse:10.4f}x")
    if pool is not None:
        head = f"instructions, scan --jobs {args.jobs} (cold)"
        print(f"{head:35}{pool.total / 1e9:10.3f} G   ({pool.total / total - 1:+.1%})")
        print(f"  main process, before the pool     {pool.before / 1e9:10.3f} G")
        for n, work in enumerate(pool.workers, 1):
            print(f"  worker {n:<27}{work / 1e9:10.3f} G")
        print(f"  main process, from the first fork {pool.after / 1e9:10.3f} G")
        print(f"  of which tree-sitter parsing      {pool.parse / 1e9:10.3f} G")
        bound = ideal_speedup(total, pool, args.jobs)
        print(f"speed-up at the same cost per instruction {bound:.2f}x (bench/run.py times it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
