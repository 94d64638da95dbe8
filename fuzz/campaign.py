#!/usr/bin/env python3
"""A fuzz campaign against the CLI, for as long as asked: what issue 19 wants from a run
on the final code before it is called hardened.

    python fuzz/campaign.py --minutes 30 [--seed N] [--workdir DIR]

Each case is a fresh folder scanned by `leakaudit` in its own process, with a 30 s
timeout, from one of five kinds:

- go: mutated Go sources (the fixtures and generated idioms, truncated, bit-flipped,
  braces dropped, spliced, other encodings), as tests/test_fuzz.py mutates them;
- config: a mutated `.leakaudit.yaml` or `pyproject.toml` beside a small Go file;
- rules: a mutated bundled rule file passed with `--rules`;
- baseline: a mutated baseline passed with `--baseline`;
- names: Go files named with random bytes (newlines, `](`, bytes that are not UTF-8).

A case fails when the process times out (a hang), exits with anything but 0, 1 or 2,
or prints a traceback or "internal error". Failing cases are kept in the work folder;
the summary prints the counts per kind.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from test_fuzz import MUTATIONS, _generated, _seeds  # noqa: E402

TIMEOUT = 30.0
SEEDS = _seeds()
RULES = sorted((REPO / "rules").glob("*.yaml"))
SMALL_GO = b'package p\n\nimport "os"\n\nfunc F() { f, _ := os.Open("x"); _ = f }\n'
CONFIGS = [
    b'exclude: ["vendor/**", "*_gen.go"]\nfail-on: warning\nrules:\n  file-not-closed: off\n',
    b'[tool.leakaudit]\nexclude = ["a/**"]\nfail-on = "error"\n',
]
BASELINE = (
    b'{\n  "version": 1,\n  "findings": [\n    {"rule": "file-not-closed", "path": "a.go", '
    b'"line": 5, "fingerprint": "abc", "occurrence": 0}\n  ]\n}\n'
)


def _mutate(rng: random.Random, data: bytes, rounds: int = 3) -> bytes:
    for _ in range(rng.randint(1, rounds)):
        data = rng.choice(MUTATIONS)(rng, data)
    return data


def _case(rng: random.Random, folder: Path, kind: str) -> list[str]:
    """Write one case into folder; the CLI arguments that scan it."""
    args = [
        "scan",
        str(folder),
        "--no-cache",
        "--format",
        rng.choice(["text", "json", "sarif", "markdown"]),
    ]
    if kind == "go":
        for i in range(rng.randint(1, 3)):
            data = rng.choice(SEEDS) if rng.random() < 0.6 else _generated(rng)
            (folder / f"f{i}.go").write_bytes(_mutate(rng, data))
    elif kind == "config":
        (folder / "a.go").write_bytes(SMALL_GO)
        data = _mutate(rng, rng.choice(CONFIGS), 4)
        name = ".leakaudit.yaml" if data.lstrip().startswith(b"exclude") else "pyproject.toml"
        (folder / name).write_bytes(data)
        args += ["--config", str(folder / name)]
    elif kind == "rules":
        (folder / "a.go").write_bytes(SMALL_GO)
        rules = folder / "rules"
        rules.mkdir()
        source = rng.choice(RULES)
        (rules / "extra.yaml").write_bytes(
            _mutate(rng, source.read_bytes().replace(b"id: ", b"id: x-"), 4)
        )
        args += ["--rules", str(rules)]
    elif kind == "baseline":
        (folder / "a.go").write_bytes(SMALL_GO)
        (folder / "base.json").write_bytes(_mutate(rng, BASELINE, 4))
        args += ["--baseline", str(folder / "base.json")]
    else:  # names
        for _ in range(rng.randint(1, 3)):
            raw = bytes(
                rng.choice(b"ab\n\t\r]()[`*|\\ \xff\xfe\xc3\x28:")
                for _ in range(rng.randint(1, 12))
            )
            name = raw.replace(b"/", b"_").replace(b"\0", b"_") + b".go"
            try:
                with open(os.path.join(os.fsencode(folder), name), "wb") as out:
                    out.write(_mutate(rng, SMALL_GO, 1))
            except OSError:
                continue
    return args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="leakaudit-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(opts.seed)
    kinds = ["go", "config", "rules", "baseline", "names"]
    counts = {k: 0 for k in kinds}
    failures: dict[str, list[str]] = {k: [] for k in kinds}
    slowest = 0.0
    deadline = time.monotonic() + opts.minutes * 60
    n = 0
    while time.monotonic() < deadline:
        kind = kinds[n % len(kinds)]
        folder = work / f"case-{n}"
        folder.mkdir()
        args = _case(rng, folder, kind)
        start = time.monotonic()
        why = ""
        try:
            done = subprocess.run(
                [sys.executable, "-m", "leakaudit", *args],
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
                cwd=folder,
            )
            err = done.stderr.decode("utf-8", "replace")
            if done.returncode not in (0, 1, 2):
                why = f"exit {done.returncode}"
            elif "Traceback" in err or "internal error" in err:
                why = err.strip().splitlines()[-1][:200]
        except subprocess.TimeoutExpired:
            why = f"hang: over {TIMEOUT:.0f} s"
        slowest = max(slowest, time.monotonic() - start)
        counts[kind] += 1
        if why:
            failures[kind].append(f"case-{n}: {why}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
        n += 1
    print(f"seed {opts.seed}: {n} cases in {opts.minutes:g} min; slowest {slowest:.1f} s")
    for kind in kinds:
        print(f"  {kind:9} {counts[kind]:6} cases, {len(failures[kind])} failing")
        for line in failures[kind][:10]:
            print(f"    {line}")
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
