"""YAML documents leakaudit reads (configs, rule files), with their aliases bounded.

An alias makes a node stand in several places: walking the composed document then
visits it once per place, and nine nested aliases of nine make a billion (the "billion
laughs"). A document whose nodes, counted once per place they stand in, exceed a bound
no config or rule file comes near is refused.
"""

from __future__ import annotations

import yaml

MAX_NODES = 100_000  # the bundled rule files, all of them together: 1,927


def too_large(root: yaml.Node, limit: int = MAX_NODES) -> bool:
    """Does the document expand to more than `limit` nodes? Walked iteratively, and
    stopped as soon as it does."""
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return False
