"""Run git on a tree leakaudit does not trust, without running anything of the tree's.

A repository's own config can name programs git runs on its behalf: an fsmonitor hook
(`core.fsmonitor`, run by `describe --dirty` and `status`), filter drivers
(`filter.<x>.clean`, run on work-tree files a diff reads), diff drivers and textconv
(`diff.<x>.command`, `diff.<x>.textconv`). An extracted tarball or a pull request can
carry such a config. Every git call here turns them off (git's own hardening for
untrusted trees does the same), takes no optional locks (`describe --dirty` would
otherwise rewrite `.git/index`), reads no system config, and never prompts.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

# Settings that run nothing, whatever the repository's config says.
_FIXED = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.sshCommand=false",
    "diff.external=",
)


@lru_cache(maxsize=16)
def _drivers(cwd: Path) -> tuple[str, ...]:
    """`-c` overrides neutralizing every filter and diff driver the config defines
    (reading config runs nothing). Asked once per folder: a scan's git calls share it."""
    try:
        done = subprocess.run(
            ["git", "config", "--name-only", "--get-regexp", r"^(filter|diff)\..*\."],
            cwd=cwd,
            capture_output=True,
            env=_env(),
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    out: list[str] = []
    for name in done.stdout.decode("utf-8", "replace").split():
        kind, _, rest = name.partition(".")
        driver, _, key = rest.rpartition(".")
        if kind == "filter" and key in ("clean", "smudge", "process"):
            out += [
                "-c",
                f"filter.{driver}.{key}=" if key == "process" else f"filter.{driver}.{key}=cat",
            ]
        elif kind == "diff" and key in ("command", "textconv"):
            out += ["-c", f"diff.{driver}.{key}="]
    return tuple(out)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_OPTIONAL_LOCKS="0",
        GIT_TERMINAL_PROMPT="0",
        GIT_ATTR_NOSYSTEM="1",
    )
    return env


def run(
    args: list[str], cwd: Path, timeout: float | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`git ARGS` in cwd, hardened as above. Raises OSError when git is missing and
    subprocess.TimeoutExpired past the timeout."""
    fixed = [item for setting in _FIXED for item in ("-c", setting)]
    return subprocess.run(
        ["git", *fixed, *_drivers(cwd), *args],
        cwd=cwd,
        capture_output=True,
        env=_env(),
        timeout=timeout,
        check=False,
    )
