"""The module layer: which package imports which (graph), and what each package tells
the packages importing it (summary). Facts flow along import edges, as go/analysis
facts do: a package is analyzed after the packages it imports."""
