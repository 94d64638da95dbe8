#!/usr/bin/env python3
"""Benchmark leakaudit on a Go corpus, in one run on the same files.

    python bench/run.py CORPUS_DIR [--one-file FILE] [--format text] [--skip-semgrep]

Measures, in --repeat rounds run back to back (the page cache is warmed first, so every
row reads files from memory; the scans run as an installed tool does, with compiled
bytecode):

- parse-only: tree-sitter-go parsing every file leakaudit would parse (the floor for
  any tree-sitter tool), in this process; and the same split evenly over 2 forked
  processes, the host's own ceiling for what --jobs 2 can gain;
- `leakaudit scan` cold with --jobs 1 and with --jobs 2, each with a fresh cache folder
  (rules compiled from YAML included), writing the report in --format (default text);
- a warm re-scan of the unchanged corpus (the --jobs 2 cache);
- `leakaudit scan ONE.go` wall time, interpreter start included (median of 5);
- peak RSS of the largest leakaudit process (main or worker) of each scan;
- semgrep with bench/semgrep-rules.yaml, when a `semgrep` executable is found (on PATH,
  or $SEMGREP). semgrep is never a dependency of leakaudit.

Each round measures parse-only (just before and just after the cold --jobs 1 scan,
averaged), both cold scans (--jobs 2 first in every other round) and the warm re-scan
one after the other; the ratios the targets name are taken within a round, then the
median over rounds: on a shared machine the speed drifts by tens of percent within a
minute, and a ratio of two bests taken minutes apart measures the drift. Times are
shown as the median and the best.

It also checks that the cold --jobs 1, cold --jobs 2 and warm scans produce identical
reports, and that everything a scan produces (findings, acquisitions, goroutines, files,
as JSON) is identical cold with --jobs 1, cold with --jobs 2 and warm; then prints every
number with its ratio against the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _measured(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB of the largest process in the tree, exit status),
    run through a small wrapper so the RSS is this command's alone."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "rc = subprocess.run(sys.argv[1:]).returncode\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(wall, rss, rc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=_ENV,
    )
    last = out.stdout.strip().splitlines()[-1]
    wall, rss, rc = last.split()
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return float(wall), int(rss) / scale, int(rc)


# Children run as an installed tool does: with compiled bytecode (pip compiles it at
# install time), kept in a folder of the benchmark's own rather than in the source tree.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _leakaudit(*args: str) -> list[str]:
    return [sys.executable, "-m", "leakaudit", *args]


def _scan(corpus: Path, fmt: str, out: Path, jobs: int, cache: Path) -> list[str]:
    return _leakaudit(
        "scan", str(corpus), "-q", "-f", fmt, "-o", str(out), "--jobs", str(jobs),
        "--cache-dir", str(cache),
    )  # fmt: skip


def parse_only(corpus: Path, processes: int = 1) -> tuple[float, int, int]:
    """Seconds to parse the files leakaudit parses, in this process or split over
    `processes` forked ones (the host's own ceiling for a parallel speed-up); (seconds,
    files, bytes)."""
    from leakaudit.discovery import discover
    from leakaudit.parsing.parser import is_generated

    contents = []
    for target in discover([str(corpus)], corpus):
        try:
            data = Path(target.path).read_bytes()
        except OSError:
            continue
        if data.strip() and not is_generated(data):
            contents.append(data)
    files, size = len(contents), sum(map(len, contents))
    if processes == 1:
        start = time.perf_counter()
        _parse_all(contents)
        return time.perf_counter() - start, files, size
    import multiprocessing

    shares: list[list[bytes]] = [[] for _ in range(processes)]
    loads = [0] * processes
    for data in sorted(contents, key=len, reverse=True):  # biggest first, to the lightest
        least = loads.index(min(loads))
        shares[least].append(data)
        loads[least] += len(data)
    context = multiprocessing.get_context("fork")
    start = time.perf_counter()
    workers = [context.Process(target=_parse_all, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start, files, size


def _parse_all(contents: list[bytes]) -> None:
    from leakaudit.parsing.parser import parser

    ts_parser = parser()
    for data in contents:
        ts_parser.parse(data)


def _one_file(corpus: Path) -> Path:
    """A typical file: the median-sized non-test file of the corpus."""
    files = sorted(
        (p for p in corpus.rglob("*.go") if not p.name.endswith("_test.go") and p.is_file()),
        key=lambda p: p.stat().st_size,
    )
    return files[len(files) // 2]


def _semgrep() -> str | None:
    return os.environ.get("SEMGREP") or shutil.which("semgrep")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--one-file", type=Path, help="file for the one-file row")
    ap.add_argument("--skip-semgrep", action="store_true")
    ap.add_argument(
        "--format", default="text", help="report format of the timed scans (default: text)"
    )
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument(
        "--repeat",
        type=int,
        default=4,
        help="rounds of parse-only, cold and warm scans; ratios are the median over "
        "rounds (default: 4, half with --jobs 2 first; shared machines are noisy)",
    )
    args = ap.parse_args(argv)
    args.repeat = max(1, args.repeat)
    corpus = args.corpus.resolve()
    if not corpus.is_dir():
        print(f"bench: {corpus}: not a directory", file=sys.stderr)
        return 2

    rows: dict[str, float | str] = {"corpus": str(corpus), "cpus": os.cpu_count() or 0}
    print(f"corpus {corpus}  ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")

    with tempfile.TemporaryDirectory(prefix="leakaudit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        _ENV["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        one = (args.one_file or _one_file(corpus)).resolve()
        subprocess.run(  # compiles leakaudit's bytecode, like an install would
            _leakaudit("scan", str(one), "-q", "--cache-dir", str(tmp / "cache-warmup")),
            env=_ENV,
            capture_output=True,
        )
        # Rounds: parse-only, cold --jobs 1, cold --jobs 2 and warm, back to back, so
        # each round's ratios compare runs made under the same load (a shared machine
        # drifts by tens of percent within a minute). Ratios are per-round medians.
        _, files, size = parse_only(corpus)  # warms the page cache
        rows.update(files=files, mb=size / 1e6)
        rounds: list[dict[str, float]] = []
        outputs: dict[str, Path] = {}
        rss: dict[str, float] = {"cold_j1": 0.0, "cold_j2": 0.0, "warm": 0.0}
        parallel = hasattr(os, "fork")  # parse-only on 2 processes needs fork
        for attempt in range(args.repeat):
            measured: dict[str, float] = {}
            # Odd rounds run --jobs 2 first: a drift in the machine's speed then favours
            # neither side of the speed-up, over the rounds.
            for jobs in (1, 2) if attempt % 2 == 0 else (2, 1):
                if jobs == 1:
                    before = parse_only(corpus)[0]
                elif parallel:
                    measured["parse_j2"] = parse_only(corpus, 2)[0]
                out = tmp / f"cold-j{jobs}.{args.format}"
                wall, peak, rc = _measured(
                    _scan(corpus, args.format, out, jobs, tmp / f"cache-j{jobs}-{attempt}")
                )
                if rc not in (0, 1):
                    print(f"bench: leakaudit scan --jobs {jobs} failed", file=sys.stderr)
                measured[f"cold_j{jobs}"] = wall
                rss[f"cold_j{jobs}"] = max(rss[f"cold_j{jobs}"], peak)
                outputs.setdefault(f"cold-j{jobs}", out)
                if jobs == 1:  # the floor, taken on both sides of the scan it is compared to
                    measured["parse"] = (before + parse_only(corpus)[0]) / 2
            out = tmp / f"warm.{args.format}"
            warm = [
                _measured(_scan(corpus, args.format, out, 2, tmp / f"cache-j2-{attempt}"))
                for _ in range(3)
            ]
            measured["warm"] = statistics.median(w for w, _, _ in warm)
            rss["warm"] = max(rss["warm"], *(r for _, r, _ in warm))
            outputs.setdefault("warm", out)
            rounds.append(measured)
            print(
                f"round {attempt + 1}: parse-only {measured['parse']:.2f} s, cold --jobs 1"
                f" {measured['cold_j1']:.2f} s ({measured['cold_j1'] / measured['parse']:.2f}x),"
                f" --jobs 2 {measured['cold_j2']:.2f} s"
                f" ({measured['cold_j1'] / measured['cold_j2']:.2f}x faster),"
                f" warm {measured['warm']:.2f} s"
                + (
                    f"; parse-only on 2 processes {measured['parse'] / measured['parse_j2']:.2f}x"
                    " faster"
                    if parallel
                    else ""
                )
            )
        for name in ("parse", "cold_j1", "cold_j2", "warm"):
            rows[f"{name}_s"] = statistics.median(r[name] for r in rounds)
            rows[f"{name}_best_s"] = min(r[name] for r in rounds)
        for name, peak in rss.items():
            rows[f"{name}_rss_mb"] = peak
        rows["ratio_cold_j1_parse"] = statistics.median(r["cold_j1"] / r["parse"] for r in rounds)
        rows["ratio_j2_speedup"] = statistics.median(r["cold_j1"] / r["cold_j2"] for r in rounds)
        rows["ratio_warm_cold"] = statistics.median(r["warm"] / r["cold_j2"] for r in rounds)
        if parallel:
            rows["parse_j2_s"] = statistics.median(r["parse_j2"] for r in rounds)
            rows["ratio_parse_j2_speedup"] = statistics.median(
                r["parse"] / r["parse_j2"] for r in rounds
            )
        print(
            f"parse-only           {rows['parse_s']:8.2f} s   {files} files, {size / 1e6:.1f} MB"
            f"   (median of {args.repeat}; best {rows['parse_best_s']:.2f} s)"
        )
        for name, label in (("cold_j1", "cold --jobs 1"), ("cold_j2", "cold --jobs 2")):
            wall, peak, best = rows[name + "_s"], rows[name + "_rss_mb"], rows[name + "_best_s"]
            print(
                f"{label:20s} {wall:8.2f} s   peak RSS {peak:6.0f} MB"
                f"   (median of {args.repeat}; best {best:.2f} s)"
            )
        print(
            f"warm re-scan         {rows['warm_s']:8.2f} s   peak RSS {rows['warm_rss_mb']:6.0f} MB"
            f"   (median of {args.repeat} rounds of 3)"
        )

        times = []
        for _ in range(5):
            wall, rss, _ = _measured(
                _leakaudit("scan", str(one), "-q", "--cache-dir", str(tmp / "cache-j1")),
                cwd=one.parent,
            )
            times.append(wall)
        rows["one_file_s"], rows["one_file"] = statistics.median(times), str(one)
        print(f"one-file scan        {rows['one_file_s']:8.2f} s   ({one.name}, median of 5)")

        semgrep = None if args.skip_semgrep else _semgrep()
        if semgrep:
            cmd = [
                semgrep,
                "scan",
                "--config",
                str(HERE / "semgrep-rules.yaml"),
                "--metrics=off",
                "--quiet",
                "--json",
                "--output",
                str(tmp / "semgrep.json"),
                "--no-git-ignore",
                str(corpus),
            ]
            wall, rss, rc = _measured(cmd)
            rows["semgrep_s"], rows["semgrep_rss_mb"] = wall, rss
            print(f"semgrep (4 rules)    {wall:8.2f} s   peak RSS {rss:6.0f} MB   (exit {rc})")
        else:
            print("semgrep              not installed (set $SEMGREP or put it on PATH)")

        # Identical output: the timed runs' reports, and everything a scan produces as
        # JSON, cold with each --jobs and warm. (The JSON runs get caches of their own:
        # the timed runs' caches hold text-run results, without the goroutine records.)
        texts = {path.read_bytes() for path in outputs.values()}
        docs = []
        for jobs, cache in ((1, "json-j1"), (2, "json-j2"), (2, "json-j2")):
            out = tmp / f"all-{cache}.json"
            subprocess.run(
                _scan(corpus, "json", out, jobs, tmp / cache),
                env=_ENV,
                capture_output=True,
                check=False,
            )
            docs.append(json.loads(out.read_text()))
        same = len(texts) == 1 and docs[0] == docs[1] == docs[2]
        rows["identical_output"] = "yes" if same else "NO"
        rows["findings"] = len(docs[0]["findings"])

    peak = max(float(rows[k]) for k in ("cold_j1_rss_mb", "cold_j2_rss_mb", "warm_rss_mb"))
    ratio1, speedup, warm = (
        float(rows[k]) for k in ("ratio_cold_j1_parse", "ratio_j2_speedup", "ratio_warm_cold")
    )
    # (measure, value, shown as, target text, met)
    table = [
        ("cold --jobs 1 / parse-only", ratio1, "x", "<= 2.0x", ratio1 <= 2.0),
        ("speed-up of --jobs 2", speedup, "x", ">= 1.7x", speedup >= 1.7),
        ("warm / cold --jobs 2", warm, "%", "<= 10%", warm <= 0.10),
        ("peak RSS per process", peak, "MB", "<= 300 MB", peak <= 300),
        (
            "one-file scan",
            float(rows["one_file_s"]),
            "s",
            "<= 0.3 s",
            float(rows["one_file_s"]) <= 0.3,
        ),
    ]
    if "semgrep_s" in rows:
        ratio = float(rows["semgrep_s"]) / float(rows["cold_j2_s"])
        table.append(("semgrep / leakaudit --jobs 2", ratio, "x", ">= 10x", ratio >= 10))
    rows["ratios"] = {name: round(value, 3) for name, value, *_ in table}
    print()
    print(f"{'measure':30s} {'value':>9s}  {'target':10s} met")
    for name, value, unit, target, met in table:
        # Ratios to the digit that decides them: 1.696x is not 1.7x, nor is 10.2% 10%.
        if unit == "%":
            shown = f"{value:.1%}"
        elif unit == "x":
            shown = f"{value:.3f}x"
        else:
            shown = f"{value:.2f} {unit}"
        print(f"{name:30s} {shown:>9s}  {target:10s} {'yes' if met else 'NO'}")
    print(
        f"identical output (cold -j1, cold -j2, warm): {rows['identical_output']}"
        f" ({rows['findings']} findings)"
    )
    if "ratio_parse_j2_speedup" in rows:
        # Context for the speed-up target: what two processes gain on this host when the
        # work is parsing alone, split evenly, with no start-up and nothing to merge.
        print(
            f"the host's ceiling: parse-only split over 2 processes runs"
            f" {float(rows['ratio_parse_j2_speedup']):.2f}x faster (median of the rounds)"
        )
    if args.json:
        args.json.write_text(json.dumps({**rows, "rounds": rounds}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
