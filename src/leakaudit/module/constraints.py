"""Build constraints, for one target platform (GOOS/GOARCH; linux/amd64 unless told).

A file's declarations count for typing only as the Go tool would build it: a
`conn_windows.go` stub that redeclares a struct without its fields must not hide the
real one. Files for other platforms are still checked for leaks; their declarations
just lose to the target's, as the files are collected in an order that puts them
first. Custom tags (`integration`) are unknown, neither true nor false: a file is set
aside only when its name or its `//go:build` line rules the target out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "wasip1",
        "windows",
        "zos",
    ]
)
KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "ppc64",
        "ppc64le",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ]
)
UNIX = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "linux",
        "netbsd",
        "openbsd",
        "solaris",
    ]
)
# GOOS values that also satisfy another's tag (and file name suffix).
_IMPLIES = {"android": "linux", "illumos": "solaris", "ios": "darwin"}

_BUILD_LINE = re.compile(rb"^//go:build[ \t]+([^\r\n]+)", re.MULTILINE)
_PACKAGE = re.compile(rb"^package[ \t]", re.MULTILINE)
_TOKEN = re.compile(r"\s*(\(|\)|!|&&|\|\||[\w.]+)")


@dataclass(frozen=True)
class Platform:
    goos: str = "linux"
    goarch: str = "amd64"

    def tag(self, name: str) -> bool | None:
        """A build tag's value for this platform: None for a tag it cannot know."""
        if name in (self.goos, self.goarch, _IMPLIES.get(self.goos)):
            return True
        if name == "unix":
            return self.goos in UNIX
        if name in KNOWN_OS or name in KNOWN_ARCH:
            return False
        if name in ("gc", "cgo") or name.startswith("go1."):
            return True
        return None

    def excludes(self, name: str, content: bytes) -> bool:
        """Would the Go tool leave this file out when building for this platform?"""
        return self._name_excludes(name) or self._line_excludes(content)

    def _name_excludes(self, name: str) -> bool:
        stem = name.rsplit("/", 1)[-1].removesuffix(".go").removesuffix("_test")
        parts = stem.split("_")[1:]  # the first element is never a constraint
        if len(parts) >= 2 and parts[-2] in KNOWN_OS and parts[-1] in KNOWN_ARCH:
            return self.tag(parts[-2]) is False or self.tag(parts[-1]) is False
        if parts and (parts[-1] in KNOWN_OS or parts[-1] in KNOWN_ARCH):
            return self.tag(parts[-1]) is False
        return False

    def _line_excludes(self, content: bytes) -> bool:
        package = _PACKAGE.search(content)
        head = content[: package.start()] if package else content[:4096]
        found = _BUILD_LINE.search(head)
        if found is None:
            return False
        try:
            return _Expression(found.group(1).decode("utf-8", "replace"), self).value() is False
        except ValueError:
            return False  # a line we cannot read rules nothing out


class _Expression:
    """`//go:build` expressions in three-valued logic: unknown tags stay unknown."""

    def __init__(self, text: str, platform: Platform) -> None:
        self.tokens = _TOKEN.findall(text.split("//", 1)[0])
        self.platform = platform
        self.at = 0

    def value(self) -> bool | None:
        result = self._or()
        if self.at != len(self.tokens):
            raise ValueError("trailing tokens")
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _or(self) -> bool | None:
        left = self._and()
        while self._peek() == "||":
            self.at += 1
            right = self._and()
            left = _either(left, right)
        return left

    def _and(self) -> bool | None:
        left = self._not()
        while self._peek() == "&&":
            self.at += 1
            right = self._not()
            left = _both(left, right)
        return left

    def _not(self) -> bool | None:
        token = self._peek()
        if token == "!":
            self.at += 1
            inner = self._not()
            return None if inner is None else not inner
        if token == "(":
            self.at += 1
            inner = self._or()
            if self._peek() != ")":
                raise ValueError("unbalanced")
            self.at += 1
            return inner
        if token is None or token in (")", "&&", "||"):
            raise ValueError("expected a tag")
        self.at += 1
        return self.platform.tag(token)


def _either(left: bool | None, right: bool | None) -> bool | None:
    if left is True or right is True:
        return True
    return None if None in (left, right) else False


def _both(left: bool | None, right: bool | None) -> bool | None:
    if left is False or right is False:
        return False
    return None if None in (left, right) else True
