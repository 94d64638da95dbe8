"""Fixes: edits a check attaches to a finding when the fix is certainly right, and the
pass that applies them only after checking the result (it parses, the finding is gone,
nothing new is reported).

A check computes the edits from the syntax tree it already holds (`defer.py`), so a
finding carries its fix as plain data through the cache, the workers and SARIF;
`apply.py` never analyzes Go itself, it re-runs the scan on the edited bytes.
"""
