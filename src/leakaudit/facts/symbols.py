"""Package-level symbol table, built from every file of one Go package.

Types are named as "import/path.Name" for imported types and ".Name" for types of
the package itself; pointers are stripped (a method set question, not a leak one).
This is far from a type checker, on purpose: it knows declared types, which is
what resolving `r.db.QueryContext` to `(*sql.DB).QueryContext` needs.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

from tree_sitter import Node

from leakaudit.parsing.parser import SourceFile
from leakaudit.parsing.syntax import field as child
from leakaudit.parsing.syntax import text

_VERSION_SUFFIX = re.compile(r"^v\d+$")
BUILTIN_TYPES = frozenset(
    [
        "bool",
        "byte",
        "complex64",
        "complex128",
        "error",
        "float32",
        "float64",
        "int",
        "int8",
        "int16",
        "int32",
        "int64",
        "rune",
        "string",
        "uint",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "uintptr",
        "any",
        "comparable",
    ]
)


K = TypeVar("K", bound=Hashable)


@lru_cache(maxsize=4096)
def default_import_name(path: str) -> str:
    """The package name an import path most likely declares (no go.mod reading here):
    `github.com/jackc/pgx/v5` → pgx, `gopkg.in/yaml.v3` → yaml, `go-redis/redis/v8` → redis."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return path
    last = parts[-1]
    if _VERSION_SUFFIX.match(last) and len(parts) > 1:
        last = parts[-2]
    last = re.sub(r"\.v\d+$", "", last)
    for prefix in ("go-",):
        if last.startswith(prefix) and len(last) > len(prefix):
            last = last[len(prefix) :]
    for suffix in ("-go", ".go"):
        if last.endswith(suffix) and len(last) > len(suffix):
            last = last[: -len(suffix)]
    return last.replace("-", "_").replace(".", "_")


_AFTER_IMPORTS = frozenset(
    {
        "function_declaration",
        "method_declaration",
        "type_declaration",
        "var_declaration",
        "const_declaration",
    }
)


def file_imports(root: Node) -> dict[str, str]:
    """Import name → import path for one file (blank and dot imports are left out)."""
    out: dict[str, str] = {}
    cursor = root.walk()
    more = cursor.goto_first_child()
    while more:
        decl = cursor.node
        more = cursor.goto_next_sibling()
        if decl is None:
            continue
        if decl.type in _AFTER_IMPORTS:
            break  # imports precede every declaration: no need to list them all
        if decl.type != "import_declaration":
            continue
        for spec in _import_specs(decl):
            path_node = child(spec, "path")
            if path_node is None:
                continue
            path = text(path_node).strip('"`')
            name_node = child(spec, "name")
            name = text(name_node) if name_node is not None else default_import_name(path)
            if name in ("_", "."):
                continue
            out[name] = path
    return out


def _import_specs(decl: Node) -> list[Node]:
    specs: list[Node] = []
    for c in decl.named_children:
        if c.type == "import_spec":
            specs.append(c)
        elif c.type == "import_spec_list":
            specs.extend(s for s in c.named_children if s.type == "import_spec")
    return specs


def type_name(node: Node | None, imports: dict[str, str]) -> str | None:
    """Qualified name of a type expression: "database/sql.DB", ".Repo", "error", "func",
    "chan"; None for composite types we do not follow (slices, maps, structs)."""
    while node is not None and node.type in ("pointer_type", "parenthesized_type"):
        node = node.named_children[-1] if node.named_children else None
    if node is None:
        return None
    kind = node.type
    if kind == "type_identifier":
        name = text(node)
        return name if name in BUILTIN_TYPES else "." + name
    if kind == "qualified_type":
        pkg = text(child(node, "package"))
        return f"{imports.get(pkg, pkg)}.{text(child(node, 'name'))}"
    if kind == "generic_type":
        return type_name(child(node, "type"), imports)
    if kind == "function_type":
        return "func"
    if kind == "channel_type":
        return "chan"
    return None


def result_types(sig_owner: Node, imports: dict[str, str]) -> list[str | None]:
    """Declared result types of a function, method, func literal or interface method."""
    result = child(sig_owner, "result")
    if result is None:
        return []
    if result.type != "parameter_list":
        return [type_name(result, imports)]
    out: list[str | None] = []
    for decl in result.named_children:
        if decl.type not in ("parameter_declaration", "variadic_parameter_declaration"):
            continue
        names = [c for c in decl.children_by_field_name("name")]
        tname = type_name(child(decl, "type"), imports)
        out.extend([tname] * max(1, len(names)))
    return out


class DeclaredResults(Mapping[K, list[str | None]]):
    """Function (or method) -> its declared result types, typed when first asked: most
    functions' results are never looked at, and typing them all cost a tenth of
    parsing. `returning` answers "which return one of these types" reading only the
    results that spell one of their names."""

    def __init__(self) -> None:
        self._decls: dict[K, tuple[Node, dict[str, str]]] = {}
        self._typed: dict[K, list[str | None]] = {}

    def declare(self, key: K, node: Node, imports: dict[str, str]) -> None:
        self._decls[key] = (node, imports)  # a later declaration wins, as in a dict
        self._typed.pop(key, None)

    def __getitem__(self, key: K) -> list[str | None]:
        if key not in self._typed:
            node, imports = self._decls[key]
            self._typed[key] = result_types(node, imports)
        return self._typed[key]

    def __contains__(self, key: object) -> bool:
        return key in self._decls

    def __iter__(self) -> Iterator[K]:
        return iter(self._decls)

    def __len__(self) -> int:
        return len(self._decls)

    def returning(self, types: frozenset[str]) -> Iterator[tuple[K, list[str | None]]]:
        """(key, results) of the declarations whose results may name one of `types`
        (qualified names; a result names one only if its text holds the last part)."""
        if not types:
            return
        spells = _last_names(types).search
        for key, (node, _) in self._decls.items():
            result = child(node, "result")
            if result is not None and spells(result.text or b""):
                yield key, self[key]


@lru_cache(maxsize=64)
def _last_names(types: frozenset[str]) -> re.Pattern[bytes]:
    """The types' last names, any of them: one search per result, not one per name."""
    names = sorted({t.rsplit(".", 1)[-1] for t in types})
    return re.compile("|".join(re.escape(n) for n in names).encode())


@dataclass
class TypeDecl:
    name: str
    kind: str  # "struct" | "interface" | "named"
    # interface methods: name -> results
    methods: dict[str, list[str | None]] = field(default_factory=dict)
    underlying: str | None = None  # for `type X Y`
    # A struct's field list, read on first use (most structs of a package are never
    # asked about, and typing every field of every struct cost as much as a check).
    body: Node | None = field(default=None, repr=False)
    imports: dict[str, str] = field(default_factory=dict, repr=False)
    _fields: dict[str, str | None] | None = field(default=None, repr=False)
    _embedded: list[str] = field(default_factory=list, repr=False)

    @property
    def fields(self) -> dict[str, str | None]:
        """Field name -> type name (an embedded type's field is named after it)."""
        return self._read_fields()

    @property
    def embedded(self) -> list[str]:
        """Qualified names of the embedded types (struct fields or interface elements)."""
        self._read_fields()
        return self._embedded

    def _read_fields(self) -> dict[str, str | None]:
        if self._fields is not None:
            return self._fields
        self._fields = {}
        for fdecl in self.body.named_children if self.body is not None else []:
            if fdecl.type != "field_declaration":
                continue
            ftype = type_name(child(fdecl, "type"), self.imports)
            names = fdecl.children_by_field_name("name")
            if names:
                for n in names:
                    self._fields[text(n)] = ftype
            elif ftype is not None:  # embedded: the field is named after the type
                self._embedded.append(ftype)
                self._fields[ftype.rsplit(".", 1)[-1]] = ftype
        return self._fields


@dataclass
class PackageSymbols:
    """What the package declares, merged over its files."""

    name: str
    types: dict[str, TypeDecl] = field(default_factory=dict)
    funcs: DeclaredResults[str] = field(default_factory=DeclaredResults)
    methods: DeclaredResults[tuple[str, str]] = field(default_factory=DeclaredResults)
    vars: dict[str, str | None] = field(default_factory=dict)
    imported: set[str] = field(default_factory=set)  # every import path of every file
    # file_imports of each file, by root node id (valid while the trees live, as the
    # package does): typing asks for them again.
    imports_by_root: dict[int, dict[str, str]] = field(default_factory=dict, repr=False)

    def field_type(self, type_qname: str, name: str, depth: int = 0) -> str | None:
        """Type of field `name` on a local struct, following embedded structs."""
        decl = self.local(type_qname)
        if decl is None or depth > 5:
            return None
        if name in decl.fields:
            return decl.fields[name]
        for emb in decl.embedded:
            found = self.field_type(emb, name, depth + 1)
            if found is not None:
                return found
        return None

    def field_owner(self, type_qname: str | None, name: str, depth: int = 0) -> str | None:
        """The local struct that declares field `name` as seen on `type_qname`
        (following embedding), so `p.stop` and `l.stop` meet on one owner; a type of a
        package with a path ("example.com/loops.Options", "net/http.Server") itself:
        its fields are used in that package."""
        if depth == 0 and type_qname is not None:
            named = type_qname.lstrip("*")
            if not named.startswith(".") and "." in named and "/" in named.rsplit(".", 1)[0]:
                return named
        decl = self.local(type_qname)
        if decl is None or depth > 5 or type_qname is None:
            return None
        if name in decl.fields and decl.fields[name] not in decl.embedded:
            return type_qname
        for emb in decl.embedded:
            found = self.field_owner(emb, name, depth + 1)
            if found is not None:
                return found
        return type_qname if name in decl.fields else None

    def method_owner(self, type_qname: str, name: str, depth: int = 0) -> str | None:
        """The type that really provides method `name` on `type_qname`: itself, an
        embedded type (possibly imported), or None when nothing known provides it."""
        if depth > 5:
            return None
        decl = self.local(type_qname)
        if decl is None:
            return type_qname if not type_qname.startswith(".") else None
        if (decl.name, name) in self.methods or name in decl.methods:
            return type_qname
        for emb in decl.embedded:
            owner = self.method_owner(emb, name, depth + 1)
            if owner is not None:
                return owner
        if decl.underlying is not None and decl.kind == "named":
            return self.method_owner(decl.underlying, name, depth + 1)
        return None

    def local(self, type_qname: str | None) -> TypeDecl | None:
        if type_qname is None or not type_qname.startswith("."):
            return None
        return self.types.get(type_qname[1:])


def collect(files: list[SourceFile]) -> PackageSymbols:
    symbols = PackageSymbols(name=files[0].package if files else "")
    for source in files:
        imports = file_imports(source.root)
        symbols.imports_by_root[source.root.id] = imports
        symbols.imported.update(imports.values())
        for decl in source.root.named_children:
            kind = decl.type
            if kind == "function_declaration":
                symbols.funcs.declare(text(child(decl, "name")), decl, imports)
            elif kind == "method_declaration":
                recv = _receiver_type(decl, imports)
                if recv:
                    name = text(child(decl, "name"))
                    symbols.methods.declare((recv.lstrip("."), name), decl, imports)
            elif kind == "type_declaration":
                for spec in decl.named_children:
                    if spec.type in ("type_spec", "type_alias"):
                        _type_spec(spec, imports, symbols)
            elif kind == "var_declaration":
                for spec in _var_specs(decl):
                    tname = type_name(child(spec, "type"), imports)
                    for name in spec.children_by_field_name("name"):
                        symbols.vars[text(name)] = tname
    return symbols


def _var_specs(decl: Node) -> list[Node]:
    out: list[Node] = []
    for c in decl.named_children:
        if c.type == "var_spec":
            out.append(c)
        elif c.type == "var_spec_list":
            out.extend(s for s in c.named_children if s.type == "var_spec")
    return out


def _receiver_type(method: Node, imports: dict[str, str]) -> str | None:
    params = child(method, "receiver")
    if params is None:
        return None
    for decl in params.named_children:
        if decl.type == "parameter_declaration":
            return type_name(child(decl, "type"), imports)
    return None


def _type_spec(spec: Node, imports: dict[str, str], symbols: PackageSymbols) -> None:
    name = text(child(spec, "name"))
    body = child(spec, "type")
    if body is None:
        return
    if body.type == "struct_type":
        fields = next((c for c in body.named_children if c.type == "field_declaration_list"), None)
        decl = TypeDecl(name, "struct", body=fields, imports=imports)
    elif body.type == "interface_type":
        decl = TypeDecl(name, "interface", body=body, _fields={})
        for elem in body.named_children:
            if elem.type == "method_elem":
                decl.methods[text(child(elem, "name"))] = result_types(elem, imports)
            elif elem.type == "type_elem":
                emb = type_name(elem.named_children[0] if elem.named_children else None, imports)
                if emb is not None:
                    decl.embedded.append(emb)
    else:
        decl = TypeDecl(name, "named", underlying=type_name(body, imports), _fields={})
    symbols.types[name] = decl
