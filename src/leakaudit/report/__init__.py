"""Reporters: ScanResult → text. They never parse Go and never run checks."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from leakaudit.result import ScanResult

# format name -> module with `render(result, **options) -> str`; imported on first use so
# a pre-commit run of the text format never pays for the SARIF or markdown code.
FORMATS: dict[str, str] = {
    "text": "leakaudit.report.text",
    "json": "leakaudit.report.json_report",
    "sarif": "leakaudit.report.sarif",
    "markdown": "leakaudit.report.markdown",
}


def renderer(name: str) -> Callable[..., str]:
    return import_module(FORMATS[name]).render  # type: ignore[no-any-return]


__all__ = ["FORMATS", "ScanResult", "renderer"]
