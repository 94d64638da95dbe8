"""goroutine-leak: goroutines blocked forever.

Two analyses share the rule:
- `blocked`: the concurrency model (`leakaudit.model`) explores every interleaving of a
  function that makes channels or WaitGroups and the goroutines it starts, and reports
  each goroutine left waiting for good (and the function itself, when it waits on
  itself), with the interleaving as the witness;
- `selfsend`: a struct's event loop that sends on the unbuffered field channel only it
  receives from, also when the loop is started from another package;
- `orphaned`: a send into such a loop's inbox from its type's other methods, when the
  loop can return on a stop while the send does not watch that stop;
- `lockedinbox`: a send into such a loop's inbox while holding a lock the loop takes
  between its receives;
- `returned`: a function returns the unbuffered channel its goroutine sends on, and a
  caller drops the result.
"""

from __future__ import annotations

from leakaudit.checks.api import Interest, Package, Sink
from leakaudit.checks.goroutines import blocked, lockedinbox, orphaned, returned, selfsend
from leakaudit.ruleset.model import Rule


def interest(rule: Rule) -> Interest:
    """Packages that launch goroutines, or hold an event loop (a select) that another
    package may launch."""
    return Interest(nodes=frozenset({"go_statement", "select_statement"}))


def run(pkg: Package, rule: Rule, sink: Sink) -> None:
    blocked.run(pkg, rule, sink)
    selfsend.run(pkg, rule, sink)
    orphaned.run(pkg, rule, sink)
    lockedinbox.run(pkg, rule, sink)
    returned.run(pkg, rule, sink)
