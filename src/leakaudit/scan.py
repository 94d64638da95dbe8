"""The pipeline: files → per-directory units of work → merged, sorted findings with the
evidence the report needs. One direction only: nothing here formats output.

A unit is one directory (leakaudit.unit): this module finds the files, reads each
unit and takes its result from the cache (`cache_dir`, keyed by the content of all its
files) or has leakaudit.analyze compute it, in worker processes (`jobs`). A unit's
syntax trees are dropped when it is done, so memory stays bounded by the largest
package. Whatever the number of workers, results are merged in unit order and sorted,
so the output is identical.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leakaudit import cache as cache_mod
from leakaudit import gomod, reading
from leakaudit.discovery import Target, discover, relative, siblings, skip_dir
from leakaudit.findings import Finding, Severity
from leakaudit.module import graph as graph_mod
from leakaudit.module import implementations
from leakaudit.module.constraints import Platform
from leakaudit.module.filefacts import FileFacts, FileFactsMemo
from leakaudit.module.summary import PackageSummary
from leakaudit.reading import read_file
from leakaudit.result import Acquisition, FileRecord, GoroutineRecord, ScanResult
from leakaudit.ruleset.model import Rule, RuleSet
from leakaudit.unit import Spans, Unit, UnitContext, UnitFiles, UnitResult

if TYPE_CHECKING:
    from leakaudit.baseline import Baseline
    from leakaudit.gitdiff import Changes


@dataclass
class ScanOptions:
    paths: list[str]
    root: Path
    ruleset: RuleSet
    go_version: str | None = None  # overrides go.mod
    platform: Platform = field(default_factory=Platform)  # for build constraints
    include_tests: bool = True
    disabled: frozenset[str] = frozenset()
    severity: dict[str, Severity] = field(default_factory=dict)
    # Workflow: excluded globs (config), findings outside changed functions dropped
    # (--new-from-rev; None keeps all), findings in a baseline marked suppressed.
    exclude: tuple[str, ...] = ()
    changed: dict[str, Changes] | None = None
    baseline: Baseline | None = None
    # Performance: worker processes (1: scan in this process) and the result cache
    # folder (None: no cache). Neither changes the output.
    jobs: int = 1
    cache_dir: Path | None = None
    # The goroutine inventory (how each launch is joined or stopped) is evidence for the
    # reports that show it (markdown, JSON); text and SARIF runs skip classifying every
    # `go` statement. It changes the result's goroutine records, never the findings.
    inventory: bool = True
    # File contents to analyze instead of what is on disk, by path relative to the root
    # (`leakaudit fix` checks its edits this way, before it writes them).
    overrides: dict[str, bytes] = field(default_factory=dict)
    # Called with (packages done, packages in all) as units finish: the CLI's progress
    # line. Never changes a result.
    progress: Callable[[int, int], None] | None = field(default=None, compare=False, repr=False)


def scan(options: ScanOptions) -> tuple[ScanResult, list[str]]:
    """Scan and return the result plus I/O problems (one line each) for stderr."""
    unreadable: list[tuple[str, str]] = []
    targets = discover(options.paths, options.root, unreadable)
    targets, excluded = _exclude(targets, options.exclude)
    lost_folders = _unreadable_folders(unreadable, options.exclude)
    context_files, _ = _exclude(siblings(options.paths, targets, options.root), options.exclude)
    rules = [r for r in options.ruleset.rules if r.id not in options.disabled]
    engine_rules = {r.id: r for r in options.ruleset.rules}
    context = _context(options, rules, engine_rules)
    units = _units(sorted(targets + context_files, key=lambda t: t.rel))
    units, graph, read_whole = _graph(units, context, options.paths, options.exclude)
    if (context.implementations or context.launched) and context.cache is not None:
        # Which type an interface runs, and which methods run as goroutines, change
        # what the packages declaring and calling them compute.
        from leakaudit.cache import hasher

        digest = hasher()
        digest.update(context.key_base + repr(sorted(context.implementations.items())).encode())
        digest.update(repr(sorted(context.launched)).encode())
        context.key_base = digest.digest()
    imported = graph.imported()
    units = [
        replace(u, path=path, imported=u.facts_only or i in imported)
        for i, (u, path) in enumerate(zip(units, graph.paths, strict=True))
    ]
    findings: list[Finding] = []
    acquisitions: list[Acquisition] = []
    goroutines: list[GoroutineRecord] = []
    records: list[FileRecord] = [*excluded, *lost_folders]
    problems: list[tuple[str, str]] = [
        (r.path, f"{r.path}: cannot read folder: {r.detail}") for r in lost_folders
    ]
    spans: Spans = {}
    with _fewer_collections():
        ran = _run(units, graph, context, max(1, options.jobs), read_whole, options.progress)
    for unit, unit_result in zip(units, ran, strict=True):
        if unit_result is None or unit.facts_only:
            continue  # a facts-only unit is read for its summary: none of it is reported
        findings.extend(unit_result.findings)
        acquisitions.extend(unit_result.acquisitions)
        goroutines.extend(unit_result.goroutines)
        records.extend(unit_result.records)
        problems.extend(unit_result.problems)
        spans.update(unit_result.spans)
    findings = [_policy(f, options, engine_rules) for f in findings]
    findings = [f for f in findings if f.rule_id not in options.disabled]
    findings = _in_scope(findings, options, spans)
    findings.sort(key=Finding.sort_key)
    records.sort(key=lambda r: r.path)
    order = {t.rel: i for i, t in enumerate(targets)}
    problems.sort(key=lambda p: order.get(p[0], len(order)))
    root_mod = gomod.nearest(options.root) if options.root.is_dir() else None
    skipped: dict[str, int] = defaultdict(int)
    for rec in records:
        if rec.status != "scanned":
            skipped[rec.status] += 1
    go_version = options.go_version or (root_mod.go if root_mod else None)
    result = ScanResult(
        root=str(options.root),
        findings=findings,
        rules=[_applied(rule, options, go_version) for rule in rules],
        files=records,
        acquisitions=sorted(acquisitions, key=lambda a: (a.location, a.rule_id)),
        goroutines=sorted(goroutines, key=lambda g: g.location),
        module=root_mod.module if root_mod else None,
        go_version=go_version,
        skipped=dict(skipped),
    )
    return result, [message for _, message in problems]


def _context(options: ScanOptions, rules: list[Rule], engine: dict[str, Rule]) -> UnitContext:
    cache = None
    key_base = b""
    if options.cache_dir is not None:
        from leakaudit.cache import Cache, code_version, hasher

        cache = Cache(options.cache_dir)
        digest = hasher()
        for part in (
            code_version(),
            repr(options.ruleset.rules),
            repr(sorted(options.ruleset.signatures.items())),
            repr(sorted(r.id for r in rules)),
            repr(options.go_version),
            repr(options.platform),
            repr(options.include_tests),
            repr(options.inventory),
        ):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
        key_base = digest.digest()
    return UnitContext(
        rules=rules,
        engine=engine,
        signatures={k: v.results for k, v in options.ruleset.signatures.items()},
        root=options.root,
        real_root=str(options.root.resolve()),
        go_version=options.go_version,
        platform=options.platform,
        include_tests=options.include_tests,
        inventory=options.inventory,
        cache=cache,
        key_base=key_base,
        overrides=options.overrides,
    )


def _pkg_dir(rel: str) -> str:
    return os.path.dirname(rel) or "."


def _units(targets: list[Target]) -> list[Unit]:
    groups: dict[str, list[Target]] = defaultdict(list)
    for target in targets:
        groups[_pkg_dir(target.rel)].append(target)
    return [Unit(directory, tuple(members)) for directory, members in sorted(groups.items())]


def _graph(
    units: list[Unit], context: UnitContext, paths: list[str], exclude: tuple[str, ...]
) -> tuple[list[Unit], graph_mod.Graph, dict[str, bytes]]:
    """The units' import graph, read from each file's bytes before anything is parsed:
    the order and the summaries each unit needs are known before any unit starts.
    Packages of the module that the scanned ones import, directly or not, but that lie
    outside the scanned paths (a pre-commit run names a few files; a scan of one
    folder) join as facts-only units: their summaries are read from the cache, or
    computed without running a check; so do those holding the one implementation of
    an interface the scanned ones call through (module/implementations.py), which
    also sets `context.implementations`. Files read whole on the way are returned by
    path, so that this process does not read them twice."""
    whole: dict[str, bytes] = {}
    if not context.root.is_dir():
        empty: list[set[int]] = [set() for _ in units]
        return units, graph_mod.Graph([None] * len(units), empty, [set() for _ in units]), whole
    memo = FileFactsMemo(context.cache, context.real_root)
    read: dict[str, list[tuple[str, FileFacts]]] = {}

    def facts_of(unit: Unit) -> list[tuple[str, FileFacts]]:
        if unit.directory not in read:
            found = ((t.rel, memo.facts(t.path, whole)) for t in unit.targets)
            read[unit.directory] = [(rel, f) for rel, f in found if f is not None]
        return read[unit.directory]

    def files(units: list[Unit]) -> Iterator[tuple[int, str, tuple[str, ...]]]:
        for index, unit in enumerate(units):
            for rel, found in facts_of(unit):
                yield index, rel, found.imports

    launched: set[str] = set()
    try:
        units, graph = _graph_of(units, context, files)
        table = _implementations(
            units, graph, context, paths, exclude, memo, whole, facts_of, launched
        )
        context.implementations = table
        for facts in read.values():
            for _, found in facts:
                launched.update(found.launched)
        context.launched = frozenset(launched)
        implementing = _implementing_units(units, context, table)
        if implementing:
            units = sorted(units + implementing, key=lambda u: u.directory)
            units, graph = _graph_of(units, context, files)
        graph_mod.add_implementation_edges(graph, table)
    finally:
        memo.save()
    return units, graph, whole


def _graph_of(
    units: list[Unit],
    context: UnitContext,
    files: Callable[[list[Unit]], Iterator[tuple[int, str, tuple[str, ...]]]],
) -> tuple[list[Unit], graph_mod.Graph]:
    while True:
        graph = graph_mod.build([u.directory for u in units], context.real_root, files(units))
        have = {os.path.normpath(os.path.join(context.real_root, u.directory)) for u in units}
        roots = graph_mod.modules(sorted(have))
        added = []
        for path in sorted(graph.missing):
            found = graph_mod.module_dir(path, roots)
            if found is not None and found not in have:
                have.add(found)
                unit = _facts_unit(found, context)
                if unit is not None:
                    added.append(unit)
        if not added:
            return units, graph
        units = sorted(units + added, key=lambda u: u.directory)


def _implementations(
    units: list[Unit],
    graph: graph_mod.Graph,
    context: UnitContext,
    paths: list[str],
    exclude: tuple[str, ...],
    memo: FileFactsMemo,
    whole: dict[str, bytes],
    facts_of: Callable[[Unit], list[tuple[str, FileFacts]]],
    launched: set[str],
) -> dict[str, str | None]:
    """The module-wide implementations table, over every package of the modules the
    units belong to: those the scan has, and those it does not (walked and read here,
    remembered by stat like the rest), so that a scan of a few files decides as a scan
    of the whole module does. The methods those other packages launch go into
    `launched`."""
    have = {os.path.normpath(os.path.join(context.real_root, u.directory)): u for u in units}
    roots = graph_mod.modules(sorted(have))
    if not roots or not context.resource_rules:
        return {}
    packages: list[tuple[str, list[implementations.FileMethods]]] = [
        (path, [f.methods for _, f in facts_of(unit) if f.methods is not None])
        for unit, path in zip(units, graph.paths, strict=True)
        if path is not None
    ]
    scanned = [os.path.realpath(p) for p in paths if os.path.isdir(p)]
    for root in roots.values():
        real = os.path.realpath(root)
        if any(real == s or real.startswith(s.rstrip(os.sep) + os.sep) for s in scanned):
            continue  # the scan walked the whole module already
        for directory, targets in _module_packages(real, context, exclude):
            if directory in have:
                continue
            path = graph_mod.import_path(directory)
            if path is None:
                continue
            found = [f for f in (memo.facts(t.path, whole) for t in targets) if f is not None]
            methods = [f.methods for f in found if f.methods is not None]
            packages.append((path, methods))
            for f in found:
                launched.update(f.launched)
    words = {t.rsplit(".", 1)[-1] for t in context.resource_rules}
    return implementations.resolve(packages, words)


def _module_packages(
    root: str, context: UnitContext, exclude: tuple[str, ...]
) -> Iterator[tuple[str, list[Target]]]:
    """The package directories of the module at `root` (as the go tool walks them,
    nested modules left out), with their Go files, less the configured excludes."""
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if not skip_dir(d) and not os.path.exists(os.path.join(directory, d, "go.mod"))
        )
        files = sorted(n for n in names if n.endswith(".go"))
        if not files:
            continue
        targets = [
            Target(os.path.join(directory, n), relative(os.path.join(directory, n), context.root))
            for n in files
        ]
        kept, _ = _exclude(targets, exclude)
        if kept:
            yield os.path.normpath(directory), kept


def _implementing_units(
    units: list[Unit], context: UnitContext, table: dict[str, str | None]
) -> list[Unit]:
    """Facts-only units for the packages holding an implementation the table names,
    where the scan has none."""
    have = {os.path.normpath(os.path.join(context.real_root, u.directory)) for u in units}
    roots = graph_mod.modules(sorted(have))
    out = []
    for impl in sorted({i for i in table.values() if i is not None}):
        found = graph_mod.module_dir(impl.rsplit(".", 1)[0], roots)
        if found is not None and found not in have:
            have.add(found)
            unit = _facts_unit(found, context)
            if unit is not None:
                out.append(unit)
    return out


def _facts_unit(real_dir: str, context: UnitContext) -> Unit | None:
    """The package in `real_dir` as a facts-only unit (None: no Go files there)."""
    rel = relative(real_dir, Path(context.real_root))
    try:
        names = sorted(
            e.name for e in os.scandir(real_dir) if e.name.endswith(".go") and e.is_file()
        )
    except OSError:
        return None
    if not names:
        return None
    prefix = "" if rel == "." else rel + "/"
    targets = tuple(
        Target(os.path.join(real_dir, name), prefix + name, context_only=True) for name in names
    )
    return Unit(rel, targets, facts_only=True)


def _size(unit: Unit) -> int:
    """Bytes on disk, to start the biggest units first."""
    size = 0
    for target in unit.targets:
        with contextlib.suppress(OSError):
            size += os.stat(target.path).st_size
    return size


# -- running units ---------------------------------------------------------------------------


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the garbage collector's youngest generation every 10,000 allocations, not
    700, while units run (forked workers inherit it). An analysis allocates millions of
    short-lived objects and frees nearly all of them by reference counting
    (Package.release breaks the cycles): the collections found little and cost 5-6 %
    of a cold moby scan. Peak memory stayed the same."""
    before = gc.get_threshold()
    gc.set_threshold(10_000, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class _Schedule:
    """Units in dependency order, and the summaries each one reads: those of the units
    its files import that come before it in the order."""

    def __init__(
        self,
        units: list[Unit],
        graph: graph_mod.Graph,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.units = units
        self.progress = progress
        self.finished = 0
        self.order = graph.order()
        position = {u: k for k, u in enumerate(self.order)}
        self.deps = [
            sorted(d for d in graph.deps(u) if position[d] < position[u]) for u in range(len(units))
        ]
        self.results: list[UnitResult | None] = [None] * len(units)
        self.early: dict[int, PackageSummary] = {}  # posted by a worker before its result

    def tick(self) -> None:
        """One more unit done: tell the progress line."""
        self.finished += 1
        if self.progress is not None:
            self.progress(self.finished, len(self.units))

    def summary_of(self, unit: int) -> PackageSummary | None:
        """The unit's summary as far as it is known: from its result, else posted ahead."""
        found = self.results[unit]
        return found.summary if found is not None else self.early.get(unit)

    def summaries(self, unit: int) -> dict[str, PackageSummary]:
        out: dict[str, PackageSummary] = {}
        for dep in self.deps[unit]:
            summary = self.summary_of(dep)
            path = self.units[dep].path
            if summary is not None and path is not None:
                out[path] = summary
        return out


def _run(
    units: list[Unit],
    graph: graph_mod.Graph,
    context: UnitContext,
    jobs: int,
    whole: dict[str, bytes] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[UnitResult | None]:
    """Every unit's result, in unit order. Units run after the units they import, so
    each reads their summaries. This process takes units from the cache, in that order,
    until the first miss, so a warm scan never starts a worker; from there a process
    pool takes the rest, each unit as soon as what it imports is done, biggest first
    (each worker still reads the cache). Only this process writes the cache: what the
    units computed, in one transaction."""
    plan = _Schedule(units, graph, progress)
    results = plan.results
    fresh: list[tuple[Keys, UnitResult | None, bytes]] = []  # computed, to cache
    pending = list(plan.order)
    if jobs > 1 and len(units) > 1:
        if context.cache is not None:
            while pending:
                first = pending[0]
                read = _read(units[first], context, plan.summaries(first), whole)
                hit = _cached(read, context)
                if hit is None:
                    break
                results[pending.pop(0)] = hit
                plan.tick()
        if len(pending) > 1:
            _run_pool(plan, pending, context, jobs, fresh, whole)
            pending = [i for i in pending if results[i] is None]
    for i in pending:  # jobs == 1, a single unit, or what a broken worker left undone
        results[i], keys = run_unit(units[i], context, plan.summaries(i), whole)
        plan.tick()
        if keys.unit is not None or keys.summary is not None:
            data = cache_mod.encode(results[i], UnitResult)
            fresh.append((keys, results[i], data))
    if context.cache is not None:
        for keys, result, data in fresh:
            if keys.unit is not None:
                context.cache.put_encoded("unit", keys.unit, data)
            if keys.summary is not None and result is not None and result.summary is not None:
                context.cache.put("summary", keys.summary, result.summary, PackageSummary)
        context.cache.flush()
    return results


# Messages a worker sends back: a unit's summary as soon as it is made (the units
# importing it start then, not when its checks are done), a unit's encoded result, or
# a unit it could not finish (this process redoes it after the pool).
_SUMMARY, _DONE, _LOST = 0, 1, 2


def _worker(
    tasks: Any,
    results: Any,
    context: UnitContext,
    parent: int,
    whole: dict[str, bytes] | None = None,
) -> None:
    """A worker's loop: run the units of each task in order and send each one's result
    as soon as it is done, its summary first. Summaries arrive once per worker: `known`
    keeps them, by unit index, with those it made itself. The parent sends a task only
    to a worker that is done with the last one, so neither ever blocks on a full pipe
    while the other blocks on sending."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _die_with(parent)
    known: dict[int, PackageSummary | None] = {}
    while True:
        try:
            task = tasks.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        summaries, items = task
        known.update(summaries)
        for index, unit, deps in items:
            seen = {
                path: summary
                for d, path in deps
                if path is not None and (summary := known.get(d)) is not None
            }

            def post(summary: PackageSummary | None, index: int = index) -> None:
                known[index] = summary
                results.send((_SUMMARY, index, summary))

            try:
                result, keys = run_unit(unit, context, seen, whole, on_summary=post)
                data = cache_mod.encode(result, UnitResult)
            except Exception:  # a bug outside the checks: this unit is redone by the parent
                results.send((_LOST, index, None))
                continue
            if index not in known:  # taken from the cache, or it has none
                post(result.summary)
            results.send((_DONE, index, (data, keys)))


def _die_with(parent: int) -> None:
    """End this worker when the scan that started it ends, however it ends (killed,
    terminated by CI, a crash): on Linux the kernel sends it SIGKILL when the parent
    dies; elsewhere a thread watches the parent and exits with it."""
    if not parent:
        return
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        else:
            if os.getppid() != parent:  # it died before the line above
                os._exit(1)
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="leakaudit-parent-watch", daemon=True).start()


def _next_batch(
    ready: list[int], sizes: dict[int, int], left: int, least: int, jobs: int, waited: set[int]
) -> list[int]:
    """One task from the front of `ready` (highest priority first): about a sixteenth
    of what is `left` per worker, and at least `least` bytes. Big units go alone, small
    ones together: each task costs the main process a round trip, CPU taken from the
    workers, and the last tasks stay small, so the workers still finish together. (A
    unit's result comes back as soon as it is done, not with its task's.)"""
    batch: list[int] = []
    held = 0
    while ready and (held * 16 * jobs < left or held < least):
        unit = ready.pop(0)
        batch.append(unit)
        held += sizes[unit]
        if unit in waited:
            break
    return batch


@dataclass
class _Worker:
    process: Any
    tasks: Any  # the pipe end this process sends tasks on
    results: Any  # ... and reads results from
    has: set[int] = field(default_factory=set)  # units whose summaries it knows
    owed: set[int] = field(default_factory=set)  # units of its task not done yet


def _run_pool(
    plan: _Schedule,
    indices: list[int],
    context: UnitContext,
    jobs: int,
    fresh: list[tuple[Keys, UnitResult | None, bytes]],
    whole: dict[str, bytes] | None = None,
) -> None:
    """Run `indices` in worker processes: a unit is sent once the units it waits for
    are done (or lost with a dead worker: it then reads what there is). A worker gets
    its next task, batched by `_next_batch`, when its last one is done, so a unit that
    becomes ready meanwhile goes first when its rank says so: on a chain of imports
    (moby's daemon → client → integration-cli) a unit queued behind another task kept
    a worker idle. One thread here does all the bookkeeping, woken only by what the
    workers send: every CPU cycle it spends is taken from them."""
    import multiprocessing
    from multiprocessing.connection import wait

    units, results = plan.units, plan.results
    # fork shares the loaded rules and modules with the workers for free; elsewhere the
    # context is pickled once per worker.
    fork = sys.platform.startswith("linux")
    mp = multiprocessing.get_context("fork" if fork else None)
    # A forked worker also has the files this process read to order the units (`whole`),
    # without a copy; a spawned one would be sent them all: it reads them again.
    shared = whole if fork else None
    sizes = {i: _size(units[i]) for i in indices}
    remaining = set(indices)
    waiting = {i: set(plan.deps[i]) & remaining for i in indices}
    dependents: dict[int, list[int]] = defaultdict(list)
    for i in indices:
        for dep in waiting[i]:
            dependents[dep].append(i)
    # Priority: a unit's own size plus the heaviest chain of units waiting on it (list
    # scheduling by upward rank): the chains that decide the end start first.
    rank: dict[int, int] = {}
    for i in reversed(indices):  # `indices` is in dependency order
        rank[i] = sizes[i] + max((rank[d] for d in dependents.get(i, ())), default=0)
    left = sum(sizes.values())
    least = left // (256 * jobs)
    ready = [i for i in indices if not waiting[i]]
    released: set[int] = set()
    waited = {i for i in indices if dependents.get(i)}

    def release(i: int) -> None:
        if i in released:
            return
        released.add(i)
        for later in dependents.get(i, ()):
            waiting[later].discard(i)
            if not waiting[later]:
                ready.append(later)

    workers: list[_Worker] = []
    for _ in range(min(jobs, len(indices))):
        task_r, task_w = mp.Pipe(duplex=False)
        result_r, result_w = mp.Pipe(duplex=False)
        process = mp.Process(
            target=_worker, args=(task_r, result_w, context, os.getpid(), shared), daemon=True
        )
        process.start()
        task_r.close()
        result_w.close()
        workers.append(_Worker(process, task_w, result_r))
    live = {w.results: w for w in workers}
    broken = False  # a worker died: what is not done yet runs here afterwards

    def lost(worker: _Worker) -> None:
        """A worker that died (killed, out of memory) leaves its units to this process;
        their dependents go on without their summaries."""
        nonlocal broken
        live.pop(worker.results, None)
        broken = True
        for unit in worker.owed:
            release(unit)
        worker.owed = set()

    def submit() -> None:
        nonlocal left
        ready.sort(key=lambda i: (-rank[i], i))
        for worker in list(live.values()):
            if ready and not broken and not worker.owed:
                batch = _next_batch(ready, sizes, left, least, jobs, waited)
                left -= sum(sizes[i] for i in batch)
                new: dict[int, PackageSummary | None] = {}
                for i in batch:
                    for dep in plan.deps[i]:
                        if dep not in worker.has:
                            new[dep] = plan.summary_of(dep)
                            worker.has.add(dep)
                items = [(i, units[i], [(d, units[d].path) for d in plan.deps[i]]) for i in batch]
                worker.owed = set(batch)
                try:
                    worker.tasks.send((new, items))
                except OSError:
                    lost(worker)

    def done(worker: _Worker, i: int) -> None:
        worker.owed.discard(i)
        worker.has.add(i)
        release(i)

    arrived: list[tuple[int, tuple[bytes, Keys]]] = []
    clean = False
    try:
        submit()
        while any(w.owed for w in live.values()):
            for conn in wait(list(live)):
                worker = live[conn]
                try:
                    kind, i, payload = conn.recv()
                except (EOFError, OSError):
                    lost(worker)
                    continue
                if kind == _SUMMARY:
                    plan.early[i] = payload
                    worker.has.add(i)
                    release(i)
                    continue
                done(worker, i)
                if kind == _DONE:  # decoded once the idle workers have their next task
                    arrived.append((i, payload))
                # _LOST: redone here, after the pool
            submit()
            for i, (data, keys) in arrived:
                results[i] = cache_mod.decode(data, UnitResult)
                if keys.unit is not None or keys.summary is not None:
                    fresh.append((keys, results[i], data))
                plan.tick()
            arrived.clear()
        clean = True
    finally:
        for worker in workers:
            if clean:
                with contextlib.suppress(OSError):
                    worker.tasks.send(None)  # its loop ends
            else:
                worker.process.terminate()
            worker.tasks.close()
        for worker in workers:
            worker.process.join(timeout=None if clean else 5)
            worker.results.close()


# -- one unit --------------------------------------------------------------------------------


def _read(
    unit: Unit,
    context: UnitContext,
    summaries: dict[str, PackageSummary] | None = None,
    whole: dict[str, bytes] | None = None,
) -> UnitFiles:
    """The unit's files (taken from `whole` where this process read them already)."""
    entries: list[tuple[Target, FileRecord | None, bytes]] = []
    problems: list[tuple[str, str]] = []
    directory = unit.directory
    go_version = context.go_version
    if go_version is None and context.root.is_dir():
        mod = gomod.nearest_resolved(os.path.normpath(os.path.join(context.real_root, directory)))
        go_version = mod.go if mod else None
    files = None  # the bytes of the unit's files, hashed once for both keys below
    if context.cache is not None:
        from leakaudit.cache import hasher

        files = hasher()
    roles: list[str] = []
    cacheable = True
    for target in unit.targets:
        rel = target.rel
        name = rel.rsplit("/", 1)[-1]
        try:
            known = context.overrides.get(target.rel)
            if known is None and whole:
                known = whole.get(target.path)
            content, size = (known, len(known)) if known is not None else read_file(target.path)
            if content is None:
                record = FileRecord(rel, directory, 0, "too-large", f"{size} bytes")
                entries.append((target, record, b""))
                limit = reading.MAX_FILE_BYTES // (1024 * 1024)
                if not target.context_only:
                    # A sibling read only for its package's facts (a pre-commit run
                    # names a few files) does not fail the run, as an unreadable one
                    # does not: the files asked for were all scanned.
                    problems.append((rel, f"{rel}: skipped: larger than {limit} MiB"))
                if files is not None:
                    files.update(f"\0{name}\0large\0{size}".encode("utf-8", "surrogateescape"))
                    roles.append(f"{rel}\0large")
                continue
        except OSError as exc:
            why = exc.strerror or str(exc)
            entries.append((target, FileRecord(rel, directory, 0, "unreadable", why), b""))
            if not target.context_only:
                problems.append((rel, f"{rel}: cannot read: {why}"))
            cacheable = False
            continue
        if files is not None:
            files.update(f"\0{name}\0{len(content)}\0".encode("utf-8", "surrogateescape"))
            files.update(content)
            roles.append(
                f"{rel}\0{'context' if target.context_only else 'target'}"
            )  # results differ by role
        entries.append((target, None, content))  # classified by _analyze, on a miss only
    key = summary_key = None
    if files is not None and cacheable:
        from leakaudit.cache import hasher

        # What the package can see of the packages it imports: their summaries' digests,
        # not their bytes (an edit that leaves a summary as it was re-analyzes only its
        # own package).
        seen = "".join(
            f"\0{path}\0{summary.digest}" for path, summary in sorted((summaries or {}).items())
        )
        common = f"\0{go_version}{seen}\0{files.hexdigest()}"
        digest = hasher()
        digest.update(context.key_base)
        listing = "\1".join(roles)
        summarized = "imported" if unit.imported else "leaf"  # its result holds a summary
        key_text = f"unit\0{directory}\0{summarized}\0{listing}{common}"
        digest.update(key_text.encode("utf-8", "surrogateescape"))
        key = digest.hexdigest()
        if unit.path is not None:
            # The summary alone, keyed by the import path: the same from any scan root,
            # so a pre-commit run reads what a full scan of the module stored.
            digest = hasher()
            digest.update(context.key_base)
            digest.update(f"summary\0{unit.path}{common}".encode("utf-8", "surrogateescape"))
            summary_key = digest.hexdigest()
    return UnitFiles(unit, entries, problems, go_version, key, dict(summaries or {}), summary_key)


def _cached(read: UnitFiles, context: UnitContext) -> UnitResult | None:
    """The unit's cached result; a facts-only unit's is its summary alone, stored by
    whichever scan analyzed the package last."""
    if context.cache is None:
        return None
    if read.unit.facts_only:
        if read.summary_key is None:
            return None
        summary = context.cache.get("summary", read.summary_key, PackageSummary)
        return UnitResult(summary=summary) if summary is not None else None
    return context.cache.get("unit", read.key, UnitResult) if read.key is not None else None


@dataclass(frozen=True)
class Keys:
    """Where to cache what a unit computed: its whole result, its summary (None: from
    the cache already, not cacheable, or not wanted)."""

    unit: str | None = None
    summary: str | None = None


def run_unit(
    unit: Unit,
    context: UnitContext,
    summaries: dict[str, PackageSummary] | None = None,
    whole: dict[str, bytes] | None = None,
    on_summary: Callable[[PackageSummary], None] | None = None,
) -> tuple[UnitResult, Keys]:
    """Read, analyze and finish one directory, or take it from the cache; with the keys
    to cache what it computed under."""
    read = _read(unit, context, summaries, whole)
    hit = _cached(read, context)
    if hit is not None:
        return hit, Keys()
    from leakaudit.analyze import analyze

    # A facts-only unit's whole result is never reused (its findings were not run for):
    # only its summary is stored.
    keys = Keys(None if unit.facts_only else read.key, read.summary_key)
    return analyze(read, context, on_summary), keys


# -- after the merge: options that do not change what units compute -------------------------


def _policy(finding: Finding, options: ScanOptions, rules: dict[str, Rule]) -> Finding:
    """Apply severity policy (config, Go version)."""
    rule = rules.get(finding.rule_id)
    severity = finding.severity
    message = finding.message
    if rule is not None and isinstance(rule.options.get("relaxed-from-go"), str):
        version = options.go_version or _go_version_of(finding.location.path, options)
        if _relaxed(rule, version):
            severity = Severity(str(rule.options.get("relaxed-severity", "note")))
            reason = rule.options.get("relaxed-reason")
            if reason:
                message = f"{message} ({reason})"
    severity = options.severity.get(finding.rule_id, severity)
    if severity is finding.severity and message is finding.message:
        return finding
    return replace(finding, severity=severity, message=message)


def _applied(rule: Rule, options: ScanOptions, go_version: str | None) -> Rule:
    """The rule with the severity its findings get at the scanned root (the
    configuration's, else relaxed for the module's Go version), so reports show the
    severity that applied rather than the default."""
    severity = rule.severity
    if _relaxed(rule, go_version):
        severity = Severity(str(rule.options.get("relaxed-severity", "note")))
    severity = options.severity.get(rule.id, severity)
    return rule if severity is rule.severity else replace(rule, severity=severity)


def _relaxed(rule: Rule, go_version: str | None) -> bool:
    """Does the rule relax for code of this Go version (timers on Go 1.23+)? An unknown
    version is the newest."""
    since = rule.options.get("relaxed-from-go")
    if not isinstance(since, str):
        return False
    return go_version is None or gomod.version_tuple(go_version) >= gomod.version_tuple(since)


def _go_version_of(rel: str, options: ScanOptions) -> str | None:
    if not options.root.is_dir():
        return None
    mod = gomod.nearest(options.root / _pkg_dir(rel))  # it resolves the path
    return mod.go if mod else None


def _unreadable_folders(
    unreadable: list[tuple[str, str]], patterns: tuple[str, ...]
) -> list[FileRecord]:
    """The folders the walk could not read, but for excluded ones, as records: status
    unreadable (a failed run: exit 2, a SARIF notification), the path ending in `/`."""
    from leakaudit.config import excluded

    out = []
    for rel, why in unreadable:
        if patterns and (excluded(rel, patterns) or excluded(f"{rel}/x.go", patterns)):
            continue
        out.append(FileRecord(f"{rel}/", rel, 0, "unreadable", why))
    return out


def _exclude(
    targets: list[Target], patterns: tuple[str, ...]
) -> tuple[list[Target], list[FileRecord]]:
    """Drop files matching the configured exclude globs, recording each as excluded."""
    if not patterns:
        return targets, []
    from leakaudit.config import excluded

    kept, dropped = [], []
    for target in targets:
        if excluded(target.rel, patterns):
            dropped.append(FileRecord(target.rel, _pkg_dir(target.rel), 0, "excluded"))
        else:
            kept.append(target)
    return kept, dropped


def _in_scope(findings: list[Finding], options: ScanOptions, spans: Spans) -> list[Finding]:
    """--new-from-rev, then --baseline. Both run after suppressions, so a directive counts
    as used even when the finding it silences is out of scope."""
    if options.changed is not None:
        kept = []
        for finding in findings:
            changes = options.changed.get(finding.location.path)
            if changes is None:
                continue
            loc = finding.location
            span = spans.get((loc.path, loc.line, loc.col, loc.end_line), (loc.line, loc.end_line))
            if changes.touches(*span):
                kept.append(finding)
        findings = kept
    if options.baseline is not None:
        findings = options.baseline.apply(findings, options.root)
    return findings
