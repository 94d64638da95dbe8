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
from itertools import accumulate

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
    """1-based line number -> `hash:count` for every line of `text` (or only `lines`,
    which costs little more than finding where the lines start)."""
    wanted = set(lines) if lines is not None else None
    out: dict[int, str] = {}
    if wanted is not None and not wanted:
        return out
    # The unit stream the action hashes: spaces and tabs dropped, CR LF and CR as LF, then
    # the end marker and the zero padding. String operations do that in C.
    stream = text.replace("\r\n", "\n").replace("\r", "\n").replace(" ", "").replace("\t", "")
    units = _utf16_units(stream)
    count = len(units)
    units.append(_END)
    units.extend([0] * _WINDOW)
    raw = units.tobytes()
    # Lines start at the first unit and after every LF (a final LF starts a line at the
    # end marker). A line's hash is that of its window: the 100 units from its start.
    starts = [0]
    lf = array("H", [_LF]).tobytes()
    at = raw.find(lf)
    while 0 <= at < 2 * count:
        if at % 2 == 0:
            starts.append(at // 2 + 1)
        at = raw.find(lf, at + 1)
    if wanted is None:
        # Every line: prefix hashes, prefix[k] = hash of units[:k], so that
        # window(s) = prefix[s + 100] - 37**100 * prefix[s].
        prefix = [0]
        prefix.extend(accumulate(units, lambda h, u: (h * _BASE + u) & _MASK))
        counts: dict[int, int] = {}
        for line, start in enumerate(starts, 1):
            value = (prefix[start + _WINDOW] - _BASE_POW_WINDOW * prefix[start]) & _MASK
            counts[value] = counts.get(value, 0) + 1
            out[line] = f"{value:x}:{counts[value]}"
        return out
    # Some lines: the running count of equal hashes is a count of equal windows (equal
    # windows hash equally; distinct 100-unit windows colliding in 64 bits is not a
    # practical concern), so only the wanted lines' windows are hashed.
    seen: dict[bytes, int] = {}
    last = min(max(wanted), len(starts))
    for line, start in enumerate(starts[:last], 1):
        window = raw[2 * start : 2 * (start + _WINDOW)]
        seen[window] = seen.get(window, 0) + 1
        if line in wanted:
            value = 0
            for unit in units[start : start + _WINDOW]:
                value = (value * _BASE + unit) & _MASK
            out[line] = f"{value:x}:{seen[window]}"
    return out


def line_hashes_of(content: bytes, lines: Iterable[int] | None = None) -> dict[int, str]:
    """The same for file bytes, decoded as the action reads files (UTF-8, invalid bytes
    replaced, a BOM kept as a character)."""
    return line_hashes(content.decode("utf-8", "replace"), lines)
