"""Rule checks. A rule's `check:` names one of these; each takes a package and a rule
(data) and writes findings to a sink. Checks never print."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from leakaudit.checks.api import Interest, Package, Sink
from leakaudit.ruleset.model import Rule

CheckFn = Callable[[Package, Rule, Sink], None]

# check name -> module implementing `run(pkg, rule, sink)`; imported on first use.
REGISTRY: dict[str, str] = {
    "obligation": "leakaudit.checks.obligation",
    "companion": "leakaudit.checks.companion",
    "release-error": "leakaudit.checks.release_error",
    "goroutine-blocked": "leakaudit.checks.goroutines.leak",
    "goroutine-endless": "leakaudit.checks.goroutines.unstoppable",
    "goroutine-ticker": "leakaudit.checks.goroutines.ticker",
    "channel-one-sided": "leakaudit.checks.goroutines.onesided",
    "waitgroup-add": "leakaudit.checks.goroutines.waitgroup",
    "returning-call": "leakaudit.checks.returning_call",
    "call-in-looping-select": "leakaudit.checks.looping_select",
    "double-lock": "leakaudit.checks.locks.double",
    "lock-order": "leakaudit.checks.locks.order",
}


def get(name: str) -> CheckFn | None:
    module = REGISTRY.get(name)
    if module is None:
        return None
    return import_module(module).run  # type: ignore[no-any-return]


def interest(rule: Rule) -> Interest | None:
    """What a function must contain for the rule's check to look at it, from the check
    module's optional `interest(rule)`; None when the check wants every function."""
    module = REGISTRY.get(rule.check)
    wanted = getattr(import_module(module), "interest", None) if module else None
    return wanted(rule) if wanted is not None else None
