"""GitHub's `primaryLocationLineHash`, computed the way its upload action computes it.

Code scanning matches an alert across runs by this value. The upload action fills it in
when a log lacks it, but a log uploaded through the REST API keeps whatever it carries,
so we compute the identical value ourselves: alerts then keep their identity however the
log reaches GitHub.

The algorithm, as implemented in the action: a rolling polynomial hash (base 37, 64-bit
wrap-around) over the next 100 characters from the start of each line, where characters
are UTF-16 code units, spaces and tabs are skipped, and CR / CRLF count as one LF. After
the last character a 0xFFFF end marker and zero padding follow, so the lines near the
end still see 100 characters. Equal hashes are told apart by a running count:
`<hex>:<n>`.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable

_WINDOW = 100
_BASE = 37
_MASK = (1 << 64) - 1
_BASE_POW_WINDOW = pow(_BASE, _WINDOW, 1 << 64)  # weight of the unit leaving the window
_TAB, _SPACE, _LF, _CR = 0x09, 0x20, 0x0A, 0x0D
_END = 0xFFFF


def _utf16_units(text: str) -> array[int]:
    units = array("H")
    units.frombytes(text.encode("utf-16-le", "surrogatepass"))
    if sys.byteorder == "big":
        units.byteswap()
    return units


def line_hashes(text: str, lines: Iterable[int] | None = None) -> dict[int, str]:
    """1-based line number -> `hash:count` for every line of `text` (or only `lines`;
    the scan stops as soon as those are known, which is what makes a per-finding call
    cheap on big files)."""
    wanted = set(lines) if lines is not None else None
    out: dict[int, str] = {}
    if wanted is not None and not wanted:
        return out
    window = [0] * _WINDOW
    starts = [-1] * _WINDOW  # line number starting at this window slot, or -1
    counts: dict[int, int] = {}
    state = {"hash": 0, "index": 0}

    def emit() -> bool:
        """Output the hash of the line whose first unit is leaving the window. True when
        every wanted line is known."""
        value = state["hash"]
        counts[value] = counts.get(value, 0) + 1
        line = starts[state["index"]]
        starts[state["index"]] = -1
        if wanted is None or line in wanted:
            out[line] = f"{value:x}:{counts[value]}"
            if wanted is not None and len(out) == len(wanted):
                return True
        return False

    def push(unit: int) -> None:
        index = state["index"]
        leaving = window[index]
        window[index] = unit
        state["hash"] = (_BASE * state["hash"] + unit - _BASE_POW_WINDOW * leaving) & _MASK
        state["index"] = (index + 1) % _WINDOW

    line = 0
    at_line_start = True
    after_cr = False
    units = _utf16_units(text)
    for unit in (*units, _END) if len(units) < 4096 else _chain(units):
        if unit in (_SPACE, _TAB) or (after_cr and unit == _LF):
            after_cr = False
            continue
        if unit == _CR:
            unit, after_cr = _LF, True
        else:
            after_cr = False
        if starts[state["index"]] != -1 and emit():
            return out
        if at_line_start:
            at_line_start = False
            line += 1
            starts[state["index"]] = line
        if unit == _LF:
            at_line_start = True
        push(unit)
    for _ in range(_WINDOW):
        if starts[state["index"]] != -1 and emit():
            return out
        push(0)
    return out


def _chain(units: array[int]) -> Iterable[int]:
    yield from units
    yield _END


def line_hashes_of(content: bytes, lines: Iterable[int] | None = None) -> dict[int, str]:
    """The same for file bytes, decoded as the action reads files (UTF-8, invalid bytes
    replaced, a BOM kept as a character)."""
    return line_hashes(content.decode("utf-8", "replace"), lines)
