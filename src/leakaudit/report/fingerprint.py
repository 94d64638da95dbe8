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

import re
import sys
from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate

_WINDOW = 100
_BASE = 37
_MASK = (1 << 64) - 1
_BASE_POW_WINDOW = pow(_BASE, _WINDOW, 1 << 64)  # weight of the unit leaving the window
_TAB, _SPACE, _LF, _CR = 0x09, 0x20, 0x0A, 0x0D
_END = 0xFFFF
_NEWLINE = re.compile("\n")


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
    padding = chr(_END) + "\0" * _WINDOW
    units: Sequence[int]
    if not stream or max(stream) <= "\uffff":
        # Every character is one UTF-16 unit: work on the string itself.
        seq: Sequence[object] = stream + padding
        units = [ord(c) for c in seq] if wanted is None else _Ords(seq)
        starts = [0, *(m.end() for m in _NEWLINE.finditer(stream))]
    else:
        utf16 = _utf16_units(stream)
        count = len(utf16)
        utf16.extend(ord(c) for c in padding)
        seq = units = utf16
        starts = [0, *(i + 1 for i in range(count) if utf16[i] == _LF)]
    # A line starts at the first unit and after every LF (a final LF starts a line at
    # the end marker); its hash is that of its window, the 100 units from its start.
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
    seen: dict[object, int] = {}
    last = min(max(wanted), len(starts))
    for line, start in enumerate(starts[:last], 1):
        window = seq[start : start + _WINDOW]
        key = window if isinstance(window, str) else bytes(window)  # type: ignore[arg-type]
        seen[key] = seen.get(key, 0) + 1
        if line in wanted:
            value = 0
            for unit in units[start : start + _WINDOW]:
                value = (value * _BASE + unit) & _MASK
            out[line] = f"{value:x}:{seen[key]}"
    return out


class _Ords:
    """Code points of a string, sliced on demand (only wanted windows are hashed)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __getitem__(self, span: slice) -> list[int]:
        return [ord(c) for c in self.text[span]]


def line_hashes_of(content: bytes, lines: Iterable[int] | None = None) -> dict[int, str]:
    """The same for file bytes, decoded as the action reads files (UTF-8, invalid bytes
    replaced, a BOM kept as a character)."""
    return line_hashes(content.decode("utf-8", "replace"), lines)
