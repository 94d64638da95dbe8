"""Generated Go files, told from their bytes (without the parser: a warm scan decides
what to read before it loads tree-sitter)."""

from __future__ import annotations

import re

# `// Code generated ... DO NOT EDIT.` before the package clause marks generated code
# (https://go.dev/s/generatedcode).
_GENERATED = re.compile(rb"^// Code generated .* DO NOT EDIT\.$", re.MULTILINE)
_PACKAGE = re.compile(rb"^package\s", re.MULTILINE)


def is_generated(content: bytes) -> bool:
    """True when a generated-code marker appears before the package clause."""
    head_end = _PACKAGE.search(content)
    head = content[: head_end.start()] if head_end else content[:4096]
    return _GENERATED.search(head) is not None
