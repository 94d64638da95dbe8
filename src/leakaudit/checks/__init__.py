"""Rule checks. A rule's `check:` names one of these; each takes a package and a rule
(data) and writes findings to a sink. Checks never print."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from leakaudit.checks.context import Package, Sink
from leakaudit.ruleset.model import Rule

CheckFn = Callable[[Package, Rule, Sink], None]

# check name -> module implementing `run(pkg, rule, sink)`; imported on first use.
REGISTRY: dict[str, str] = {
    "obligation": "leakaudit.checks.obligation",
    "companion": "leakaudit.checks.companion",
    "returning-call": "leakaudit.checks.returning_call",
    "call-in-looping-select": "leakaudit.checks.looping_select",
}


def get(name: str) -> CheckFn | None:
    module = REGISTRY.get(name)
    if module is None:
        return None
    return import_module(module).run  # type: ignore[no-any-return]
