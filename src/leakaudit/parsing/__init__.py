"""Parsing: Go source bytes to tree-sitter trees, plus small helpers over nodes."""
