"""Receiver resolution: which `.Query` is database/sql's.

`r.URL.Query()`, `c.Query("id")` (gin) and a search builder's `.Query(q)` must not look
like a SQL query, while `db.Query` must be found however `db` got its type: a struct
field, an embedded *sql.DB, an import alias, a package variable, a local interface.
Built from `symbols.collect` and `typing.FileTypes` only, with the bundled signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pytest
from conftest import bundled_rules
from tree_sitter import Node

from leakaudit.facts.symbols import PackageSymbols, collect, default_import_name
from leakaudit.facts.typing import Callee, FileTypes
from leakaudit.parsing.parser import SourceFile, parse
from leakaudit.parsing.syntax import FUNC_NODES, enclosing_function, text, walk
from leakaudit.ruleset.model import Rule

# --- helpers ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def signatures() -> dict[str, tuple[str, ...]]:
    return {k: v.results for k, v in bundled_rules().signatures.items()}


@lru_cache(maxsize=1)
def rows_rule() -> Rule:
    rule = bundled_rules().by_id("sql-rows-not-closed")
    assert rule is not None
    return rule


@dataclass
class Resolved:
    call: Node
    callee: Callee | None
    results: list[str | None]

    @property
    def is_sql_rows(self) -> bool:
        """Would this call acquire database/sql rows, by the bundled rule's own specs?
        (A known receiver only: the unknown-receiver fallback is the checks' business.)"""
        callee = self.callee
        if callee is None or callee.package is None:
            return False
        for spec in rows_rule().acquire:
            if spec.package != "database/sql" and spec.returns != "database/sql.Rows":
                continue
            if spec.calls and (
                callee.package == spec.package
                and callee.receiver in spec.types
                and callee.name in spec.calls
            ):
                return True
            if spec.returns and spec.returns in self.results:
                return True
        return False


@dataclass
class Package:
    files: list[SourceFile]
    symbols: PackageSymbols

    def calls(self, call_text: str) -> list[Resolved]:
        """Every call whose callee is written `call_text` (e.g. "r.db.Query"), each typed
        in the scope of its own function."""
        out = []
        for source in self.files:
            types = FileTypes(source.root, self.symbols, signatures())
            for node in walk(source.root, into_funcs=True):
                if node.type != "call_expression":
                    continue
                fn = node.child_by_field_name("function")
                if text(fn) != call_text:
                    continue
                func = enclosing_function(node)
                assert func is not None and func.type in FUNC_NODES
                scope = types.scope(func)
                out.append(
                    Resolved(node, types.callee(node, scope), types.call_results(node, scope))
                )
        assert out, f"no call to {call_text}"
        return out

    def call(self, call_text: str) -> Resolved:
        (found,) = self.calls(call_text)
        return found


def package(*sources: str) -> Package:
    files = []
    for i, src in enumerate(sources):
        source = parse(f"f{i}.go", src.encode())
        assert not source.root.has_error, src
        files.append(source)
    return Package(files, collect(files))


# Every look-alike file also imports database/sql, so a type-blind "any .Query in a
# package that uses SQL" would fire on all of them.
HEADER = """\
package app

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/olivere/elastic/v7"
)

var _ = sql.ErrNoRows
var _ context.Context
"""


# --- look-alikes: no match -----------------------------------------------------------------

LOOK_ALIKES = [
    (
        "request-url-query",
        """
func Handler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_ = q
}
""",
        "r.URL.Query",
    ),
    (
        "url-query-get",
        """
func Parse(raw string) string {
	u, _ := url.Parse(raw)
	return u.Query().Get("page")
}
""",
        "u.Query().Get",
    ),
    (
        "url-query",
        """
func Parse(raw string) string {
	u, _ := url.Parse(raw)
	return u.Query().Get("page")
}
""",
        "u.Query",
    ),
    (
        "gin-context-query",
        """
func Show(c *gin.Context) {
	id := c.Query("id")
	_ = id
}
""",
        "c.Query",
    ),
    (
        "gin-default-query",
        """
func Show(c *gin.Context) {
	id, ok := c.GetQuery("id"), c.DefaultQuery("x", "y")
	_, _ = id, ok
}
""",
        "c.DefaultQuery",
    ),
    (
        "elastic-search-builder",
        """
func Search(ctx context.Context, client *elastic.Client) {
	q := elastic.NewTermQuery("user", "x")
	res, err := client.Search().Index("tweets").Query(q).Do(ctx)
	_, _ = res, err
}
""",
        'client.Search().Index("tweets").Query',
    ),
    (
        "local-search-builder",
        """
type Builder struct{ parts []string }

func (b *Builder) Query(q string) *Builder { b.parts = append(b.parts, q); return b }

func Build(b *Builder) {
	b.Query("a").Query("b")
}
""",
        'b.Query("a").Query',
    ),
    (
        "local-builder-value",
        """
type Builder struct{}

func (Builder) Query(q string) (Builder, error) { return Builder{}, nil }

func Build() {
	var b Builder
	next, err := b.Query("a")
	_, _ = next, err
}
""",
        "b.Query",
    ),
    (
        "param-named-sql-shadows-import",
        """
func Show(sql *gin.Context) {
	v := sql.Query("id")
	_ = v
}
""",
        "sql.Query",
    ),
    (
        "local-interface-query-without-rows",
        """
type Hit struct{}

type Searcher interface {
	Query(ctx context.Context, q string) ([]Hit, error)
}

func Find(ctx context.Context, s Searcher) {
	hits, err := s.Query(ctx, "x")
	_, _ = hits, err
}
""",
        "s.Query",
    ),
    (
        "func-typed-field",
        """
type Hooks struct {
	Query func(q string) (int, error)
}

func Run(h Hooks) {
	n, err := h.Query("x")
	_, _ = n, err
}
""",
        "h.Query",
    ),
]


@pytest.mark.parametrize(("src", "call"), [pytest.param(s, c, id=i) for i, s, c in LOOK_ALIKES])
def test_look_alike_is_not_sql(src: str, call: str) -> None:
    resolved = package(HEADER + src).call(call)
    assert not resolved.is_sql_rows, resolved
    callee = resolved.callee
    assert callee is None or callee.package != "database/sql"
    assert "database/sql.Rows" not in resolved.results


def test_look_alikes_resolve_to_their_own_api() -> None:
    pkg = package(HEADER + LOOK_ALIKES[3][1] + LOOK_ALIKES[6][1].replace("Build(", "Build2("))
    gin_query = pkg.call("c.Query").callee
    assert gin_query == Callee("github.com/gin-gonic/gin", "Context", "Query", "c.Query")
    builder = pkg.call('b.Query("a").Query')
    assert builder.callee is not None
    assert (builder.callee.package, builder.callee.receiver) == (".", "Builder")
    assert builder.results == [".Builder"]


def test_request_url_query_has_no_known_receiver() -> None:
    """http.Request's fields are outside the package, so the receiver stays unknown (and
    unknown is not SQL: the checks then need the API's own result shape)."""
    pkg = package(HEADER + LOOK_ALIKES[0][1])
    callee = pkg.call("r.URL.Query").callee
    assert callee is not None
    assert (callee.package, callee.receiver, callee.name) == (None, None, "Query")


# --- the real thing: resolved to database/sql ----------------------------------------------

SQL_CASES = [
    (
        "struct-field",
        """
type Repo struct {
	db *sql.DB
}

func (r *Repo) List(ctx context.Context) {
	rows, err := r.db.QueryContext(ctx, "select 1")
	_, _ = rows, err
}
""",
        "r.db.QueryContext",
        "DB",
    ),
    (
        "field-of-embedded-struct",
        """
type base struct {
	db *sql.DB
}

type Service struct {
	base
	name string
}

func (s *Service) List() {
	rows, err := s.db.Query("select 1")
	_, _ = rows, err
}
""",
        "s.db.Query",
        "DB",
    ),
    (
        "embedded-sql-db",
        """
type Store struct {
	*sql.DB
	name string
}

func (s *Store) List() {
	rows, err := s.Query("select 1")
	_, _ = rows, err
}
""",
        "s.Query",
        "DB",
    ),
    (
        "embedded-sql-tx-by-value",
        """
type Unit struct {
	sql.Tx
}

func (u Unit) List() {
	rows, err := u.Query("select 1")
	_, _ = rows, err
}
""",
        "u.Query",
        "Tx",
    ),
    (
        "package-var",
        """
var pool *sql.DB

func List() {
	rows, err := pool.Query("select 1")
	_, _ = rows, err
}
""",
        "pool.Query",
        "DB",
    ),
    (
        "package-var-group",
        """
var (
	primary, replica *sql.DB
	timeout          = 3
)

func List() {
	rows, err := replica.Query("select 1")
	_, _ = rows, err
}
""",
        "replica.Query",
        "DB",
    ),
    (
        "local-var-declared",
        """
func List() {
	var tx *sql.Tx
	rows, err := tx.Query("select 1")
	_, _ = rows, err
}
""",
        "tx.Query",
        "Tx",
    ),
    (
        "from-sql-open",
        """
func List() {
	db, err := sql.Open("postgres", "")
	if err != nil {
		return
	}
	rows, err := db.Query("select 1")
	_, _ = rows, err
}
""",
        "db.Query",
        "DB",
    ),
    (
        "tx-from-begin",
        """
func List(ctx context.Context, db *sql.DB) {
	tx, _ := db.BeginTx(ctx, nil)
	rows, err := tx.QueryContext(ctx, "select 1")
	_, _ = rows, err
}
""",
        "tx.QueryContext",
        "Tx",
    ),
    (
        "stmt-from-prepare",
        """
func List(db *sql.DB) {
	stmt, _ := db.Prepare("select 1")
	rows, err := stmt.Query()
	_, _ = rows, err
}
""",
        "stmt.Query",
        "Stmt",
    ),
    (
        "conn-from-new",
        """
func List(ctx context.Context) {
	conn := new(sql.Conn)
	rows, err := conn.QueryContext(ctx, "select 1")
	_, _ = rows, err
}
""",
        "conn.QueryContext",
        "Conn",
    ),
    (
        "generic-struct-field",
        """
type Repo[T any] struct {
	db *sql.DB
}

func (r *Repo[T]) List() {
	rows, err := r.db.Query("select 1")
	_, _ = rows, err
}
""",
        "r.db.Query",
        "DB",
    ),
    (
        "captured-by-closure",
        """
type Repo struct {
	db *sql.DB
}

func (r *Repo) Async() {
	go func() {
		rows, err := r.db.Query("select 1")
		_, _ = rows, err
	}()
}
""",
        "r.db.Query",
        "DB",
    ),
]


@pytest.mark.parametrize(
    ("src", "call", "receiver"), [pytest.param(s, c, r, id=i) for i, s, c, r in SQL_CASES]
)
def test_sql_receiver_resolves(src: str, call: str, receiver: str) -> None:
    resolved = package(HEADER + src).call(call)
    assert resolved.callee is not None
    assert resolved.callee.package == "database/sql"
    assert resolved.callee.receiver == receiver
    assert resolved.callee.name == call.rsplit(".", 1)[-1]
    assert resolved.is_sql_rows


def test_import_alias() -> None:
    pkg = package("""\
package app

import (
	"context"

	stdsql "database/sql"
)

func List(ctx context.Context, db *stdsql.DB) {
	rows, err := db.QueryContext(ctx, "select 1")
	_, _ = rows, err
}
""")
    resolved = pkg.call("db.QueryContext")
    assert resolved.callee == Callee("database/sql", "DB", "QueryContext", "db.QueryContext")
    assert resolved.is_sql_rows
    assert "database/sql" in pkg.symbols.imported


def test_alias_differs_between_files_of_one_package() -> None:
    """A field declared under one import name is used in a file importing it under another."""
    declared = """\
package app

import dbsql "database/sql"

type Repo struct {
	db *dbsql.DB
}
"""
    used = """\
package app

import "database/sql"

var _ = sql.ErrNoRows

func (r *Repo) List() {
	rows, err := r.db.Query("select 1")
	_, _ = rows, err
}
"""
    resolved = package(declared, used).call("r.db.Query")
    assert resolved.callee == Callee("database/sql", "DB", "Query", "r.db.Query")


@pytest.mark.parametrize(
    ("iface", "call"),
    [
        (
            """
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
""",
            "q.QueryContext",
        ),
        (
            """
type rowser interface {
	Rows(query string) (*sql.Rows, error)
}

type Querier interface {
	rowser
	Close() error
}
""",
            "q.Rows",
        ),
    ],
    ids=["method", "embedded-interface"],
)
def test_local_interface_method_returning_rows(iface: str, call: str) -> None:
    src = (
        HEADER
        + iface
        + f"""
func List(ctx context.Context, q Querier) {{
	rows, err := {call}({"ctx, " if "Context" in call else ""}"select 1")
	_, _ = rows, err
}}
"""
    )
    resolved = package(src).call(call)
    assert resolved.callee is not None
    assert resolved.callee.package == "."
    assert resolved.results == ["database/sql.Rows", "error"]
    assert resolved.is_sql_rows


def test_local_function_and_method_returning_rows() -> None:
    pkg = package(
        HEADER
        + """
type Repo struct{ db *sql.DB }

func (r *Repo) rows() (*sql.Rows, error) { return r.db.Query("select 1") }

func query(db *sql.DB) (rows *sql.Rows, err error) { return db.Query("select 1") }

func List(r *Repo) {
	a, _ := r.rows()
	b, _ := query(r.db)
	_, _ = a, b
}
"""
    )
    method = pkg.call("r.rows")
    assert method.callee == Callee(".", "Repo", "rows", "r.rows")
    assert method.results == ["database/sql.Rows", "error"]
    assert method.is_sql_rows
    func = pkg.call("query")
    assert func.callee == Callee(".", None, "query", "query")
    assert func.results == ["database/sql.Rows", "error"]
    assert func.is_sql_rows


# --- the symbol table itself ---------------------------------------------------------------


def test_collect_records_declarations() -> None:
    pkg = package(
        HEADER
        + """
var pool *sql.DB

type base struct{ db *sql.DB }

type Store struct {
	*sql.DB
	base
	name, label string
}

type Querier interface {
	QueryContext(ctx context.Context, q string) (*sql.Rows, error)
}

type ID int64

func (s *Store) Rows() (*sql.Rows, error) { return nil, nil }

func Open() (*Store, error) { return nil, nil }
"""
    )
    syms = pkg.symbols
    assert syms.name == "app"
    store = syms.types["Store"]
    assert store.kind == "struct"
    assert store.embedded == ["database/sql.DB", ".base"]
    assert store.fields["DB"] == "database/sql.DB"
    assert store.fields["name"] == store.fields["label"] == "string"
    assert syms.types["Querier"].methods == {"QueryContext": ["database/sql.Rows", "error"]}
    assert syms.types["ID"].kind == "named" and syms.types["ID"].underlying == "int64"
    assert syms.vars["pool"] == "database/sql.DB"
    assert syms.methods[("Store", "Rows")] == ["database/sql.Rows", "error"]
    assert syms.funcs["Open"] == [".Store", "error"]
    assert {"database/sql", "github.com/gin-gonic/gin", "github.com/olivere/elastic/v7"} <= (
        syms.imported
    )
    # promoted through embedding
    assert syms.field_type(".Store", "db") == "database/sql.DB"
    assert syms.method_owner(".Store", "Query") == "database/sql.DB"
    assert syms.method_owner(".Store", "Rows") == ".Store"
    assert syms.method_owner(".base", "Query") is None


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("database/sql", "sql"),
        ("github.com/jackc/pgx/v5", "pgx"),
        ("github.com/olivere/elastic/v7", "elastic"),
        ("gopkg.in/yaml.v3", "yaml"),
        ("github.com/go-redis/redis/v8", "redis"),
        ("github.com/mattn/go-sqlite3", "sqlite3"),
        ("github.com/gin-gonic/gin", "gin"),
    ],
)
def test_default_import_name(path: str, name: str) -> None:
    assert default_import_name(path) == name


# --- closures ------------------------------------------------------------------------------

_CLOSURE = """
func Export(c *gin.Context, db *sql.DB) {
	go func(INNER) {
		BODY
		rows, err := c.QueryContext(context.Background(), "select 1")
		_, _ = rows, err
	}(ARG)
}
"""


def _closure_call(inner: str, body: str, arg: str) -> Resolved:
    src = _CLOSURE.replace("INNER", inner).replace("BODY", body).replace("ARG", arg)
    calls = package(HEADER + src).calls("c.QueryContext")
    (inside,) = [r for r in calls if enclosing_function(r.call).type == "func_literal"]
    return inside


def test_closure_parameter_shadows_outer_name() -> None:
    resolved = _closure_call("c *sql.Conn", "", "nil")
    assert resolved.callee == Callee("database/sql", "Conn", "QueryContext", "c.QueryContext")
    assert resolved.is_sql_rows


def test_closure_sees_outer_names() -> None:
    resolved = _closure_call("", "", "")
    assert resolved.callee is not None
    assert resolved.callee.package == "github.com/gin-gonic/gin"
    assert not resolved.is_sql_rows


def test_closure_short_var_declaration_shadows_outer_name() -> None:
    body = "c, err := db.Conn(context.Background())\n\t\t_ = err"
    resolved = _closure_call("", body, "")
    assert resolved.callee == Callee("database/sql", "Conn", "QueryContext", "c.QueryContext")
    assert resolved.is_sql_rows
