"""module/implementations.py: interfaces and methods read from the bytes, and the one
implementation of each interface across a module's packages."""

from __future__ import annotations

import pytest

from leakaudit.module.implementations import FileMethods, resolve, scan

SOURCE = b"""package store

import "database/sql"

/* a block comment with func (x *Fake) Query( in it */

type Source interface {
	// Rows hands out rows.
	Rows(ctx context.Context,
		limit int) (*sql.Rows, error)
	Close() error
}

type (
	Named interface{ Name() string }
	Embeds interface {
		Source
		Extra()
	}
	plain struct{ db *sql.DB }
)

type Number interface {
	~int | ~int64
}

func (p *pg) Rows(ctx context.Context, limit int) (*sql.Rows, error) { return nil, nil }
func (p pg) Close() error { return nil }
func (l *list[T]) Len() int { return 0 }
func free() {}
"""


def test_scan_reads_interfaces_and_methods() -> None:
    found = scan(SOURCE)
    by_name = {i.name: i.methods for i in found.interfaces}
    assert by_name == {
        "Source": ("Close", "Rows"),  # over several lines, comments skipped
        "Named": ("Name",),  # inside a type group, on one line
        "Embeds": None,  # embeds another interface: its method set is not all here
        "Number": None,  # a constraint: type terms, no methods
    }
    assert found.methods == (("pg", "Rows"), ("pg", "Close"), ("list", "Len"))


def _pkg(path: str, *files: bytes) -> tuple[str, list[FileMethods]]:
    return path, [scan(f) for f in files]


IFACE = b"""package svc
type blobs interface {
	Open(name string) (*os.File, error)
	Put(f *os.File) error
}
type names interface { Name() string }
"""
DISK = b"""package disk
func (s *Store) Open(name string) (*os.File, error) { return nil, nil }
func (s *Store) Put(f *os.File) error { return nil }
func (s *Store) Name() string { return "" }
"""
MEM = b"""package mem
func (m *Mem) Open(name string) (*os.File, error) { return nil, nil }
func (m *Mem) Put(f *os.File) error { return nil }
"""
HALF = b"""package half
func (h Half) Open(name string) (*os.File, error) { return nil, nil }
"""


@pytest.mark.parametrize(
    ("packages", "expected"),
    [
        # One implementation in another package.
        ([_pkg("m/svc", IFACE), _pkg("m/disk", DISK)], {"m/svc.blobs": "m/disk.Store"}),
        # A type covering only part of it is none.
        (
            [_pkg("m/svc", IFACE), _pkg("m/disk", DISK), _pkg("m/half", HALF)],
            {"m/svc.blobs": "m/disk.Store"},
        ),
        # Two: None, so neither is taken.
        (
            [_pkg("m/svc", IFACE), _pkg("m/disk", DISK), _pkg("m/mem", MEM)],
            {"m/svc.blobs": None},
        ),
        # No implementation: left out. `names` names no resource type: left out.
        ([_pkg("m/svc", IFACE)], {}),
    ],
    ids=["one", "partial-cover", "two", "none"],
)
def test_resolve(packages: list, expected: dict) -> None:
    assert resolve(packages, ["File", "Rows"]) == expected
