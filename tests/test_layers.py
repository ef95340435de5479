"""The import layers, as they hold today (docs/architecture.md, "The layers").

Read from the source with :mod:`ast`, nothing imported: every ``import`` counts, at the top
of a module, inside a function, or under ``TYPE_CHECKING`` (a dependency is a dependency,
whenever it is loaded). A failure names the file, the line and the import that crosses a
layer, and the rule it breaks. When files move into sub-packages (issue 21), move the names
in the tables below with them; a rule changes only with the architecture document.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bridge", "adapters")

#: libraries that do I/O or hold threads: the domain uses none of them
IO_LIBRARIES = {
    "sqlite3",
    "sqlite_utils",
    "psycopg",
    "psycopg_pool",
    "httpx",
    "socket",
    "ssl",
    "http",
    "urllib",
    "threading",
    "subprocess",
    "signal",
    "fcntl",
}
#: import cycles that exist today and may stay until they are broken; a cycle that is not
#: inside one of these fails
KNOWN_CYCLES = (
    # the engine runs operator requests first; requests name the engine's types
    frozenset({"bridge.sync.engine", "bridge.sync.requests"}),
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (local: the longest known module; else its top name)
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _files() -> dict[str, Path]:
    files = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
    files["cli"] = ROOT / "cli.py"
    return files


def _resolve(name: str) -> str:
    """A dotted name as the module it lives in: ``bridge.core.plan.Create`` → ``bridge.core.plan``."""
    parts = name.split(".")
    if parts[0] not in (*PACKAGES, "cli"):
        return parts[0]
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in _files():
            return candidate
    return name


def _names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterable[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        stem = ".".join([*base, node.module] if node.module else base)
    else:
        stem = node.module or ""
    # ``from bridge import sla`` imports the module bridge.reports.sla; ``from bridge.core.plan import
    # Create`` resolves back to bridge.core.plan
    return [f"{stem}.{alias.name}" for alias in node.names]


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for module, path in _files().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _names(node, module, path.name == "__init__.py"):
                    target = _resolve(name)
                    if target != module:
                        found.append(Import(module, target, rel, node.lineno))
    return tuple(found)


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offending(importers: Iterable[str] | None, forbidden: Iterable[str], *, rule: str) -> str:
    """The imports from ``importers`` (module prefixes; all when ``None``) into
    ``forbidden`` (module prefixes), one line each, under the rule they break."""
    sources = list(importers) if importers is not None else None
    targets = list(forbidden)
    bad = [
        str(i)
        for i in imports()
        if (sources is None or _within(i.module, sources)) and _within(i.target, targets)
    ]
    return f"{rule}:\n  " + "\n  ".join(bad) if bad else ""


# the scan itself ------------------------------------------------------------------------


def test_the_scan_sees_the_code() -> None:
    # an empty or broken scan would pass every rule below: it must see what is there today
    edges = {(i.module, i.target) for i in imports()}
    assert ("bridge.sync.engine", "bridge.core.plan") in edges
    assert ("bridge.reports.exports", "bridge.reports.sla") in edges  # from bridge import sla
    assert ("adapters.registry", "adapters.local.tanjak.client") in edges
    assert ("cli", "bridge.runtime.daemon") in edges  # imported inside run()


def test_every_module_of_bridge_has_one_concern() -> None:
    modules = {m for m in _files() if m.startswith("bridge.")} - set(CONCERNS.values())
    concerns = [DOMAIN, SYNC, RUNTIME, REPORTING]
    unplaced = sorted(m for m in modules if sum(m in c for c in concerns) != 1)
    assert not unplaced, (
        f"modules of bridge/ in no concern: {unplaced}; each lives in one of its sub-packages"
        f" ({', '.join(CONCERNS.values())}), as docs/architecture.md draws them"
    )
    assert all(concerns), "a concern's sub-package holds no module"
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    picture = text.split("## The layers", 1)[-1].split("\n## ", 1)[0]
    drawn = set(re.findall(r"[a-z_]+", picture))
    undrawn = sorted(m for m in modules if m.rsplit(".", 1)[1] not in drawn)
    assert not undrawn, f"docs/architecture.md, 'The layers', does not place: {undrawn}"


# the four concerns of bridge/, a sub-package each (docs/architecture.md, "The layers")
CONCERNS = {
    "domain": "bridge.core",
    "sync": "bridge.sync",
    "runtime": "bridge.runtime",
    "reporting": "bridge.reports",
}


def _package(name: str) -> set[str]:
    """The modules of a sub-package (its ``__init__`` aside: it holds no code)."""
    return {m for m in _files() if m.startswith(name + ".")}


DOMAIN = _package(CONCERNS["domain"])
SYNC = _package(CONCERNS["sync"])
RUNTIME = _package(CONCERNS["runtime"])
REPORTING = _package(CONCERNS["reporting"])


# the rules ------------------------------------------------------------------------------


def test_bridge_never_imports_adapters_or_the_cli() -> None:
    assert not (
        found := _offending(
            ["bridge"],
            ["adapters", "cli"],
            rule="bridge/ knows no app: it reaches them only through bridge.core.ports",
        )
    ), found


def test_adapters_never_import_the_cli() -> None:
    assert not (found := _offending(["adapters"], ["cli"], rule="adapters/ never import cli.py")), (
        found
    )


def test_the_domain_imports_only_the_domain_and_does_no_io() -> None:
    others = sorted((SYNC | RUNTIME | REPORTING) | {"adapters", "cli"})
    problems = [
        _offending(
            DOMAIN, others, rule="the domain (model, plan, ports, …) imports only the domain"
        ),
        _offending(
            DOMAIN,
            sorted(IO_LIBRARIES),
            rule="the domain is pure: no database, network, thread or process library",
        ),
    ]
    assert not any(problems), "\n".join(p for p in problems if p)


def test_reporting_reads_the_store_and_never_runs_a_pass() -> None:
    forbidden = sorted(
        (SYNC - {"bridge.sync.store", "bridge.sync.storeport"})
        | RUNTIME - {"bridge.runtime.settings", "bridge.runtime.logs", "bridge.runtime.health"}
    )
    forbidden += ["bridge.core.plan", "bridge.core.ports"]
    assert not (
        found := _offending(
            REPORTING,
            forbidden,
            rule=(
                "reporting (exports, report, report_html, sla, agencies, workdays, status, trace)"
                " reads the store (and its rows) and the settings; it never imports the engine, the daemon, HTTP or "
                "the ports to the remote systems"
            ),
        )
    ), found


def test_sync_never_imports_the_daemon_the_service_or_reporting() -> None:
    forbidden = sorted(
        REPORTING
        | {
            "bridge.runtime.daemon",
            "bridge.runtime.service",
            "bridge.runtime.memory",
            "bridge.runtime.backup",
        }
    )
    assert not (
        found := _offending(
            SYNC,
            forbidden,
            rule=(
                "the sync layer (engine, twoway, store, dedupe, requests, photos) runs inside "
                "a daemon or a command but knows neither, nor the reports"
            ),
        )
    ), found


def test_only_the_cli_starts_the_daemon() -> None:
    importers = sorted({i.module for i in imports() if i.target == "bridge.runtime.daemon"})
    assert importers == ["cli"], f"bridge.runtime.daemon is imported by {importers}; only cli may"


def _apps() -> list[str]:
    return sorted(
        m
        for m in _files()
        if m.startswith("adapters.local.")
        and m.count(".") == 2
        and (ROOT / "adapters" / "local" / m.rsplit(".", 1)[1]).is_dir()
    )


def test_city_apps_know_no_other_adapter() -> None:
    apps = _apps()
    assert apps, "no city app found under adapters/local/"
    problems = [
        _offending(
            [app],
            [a for a in apps if a != app] + ["adapters.lapor", "adapters.registry"],
            rule=f"{app} is one city app: it imports no other app, nor LAPOR's adapter",
        )
        for app in apps
    ]
    problems.append(
        _offending(
            ["adapters.lapor"],
            ["adapters.local", "adapters.registry"],
            rule="LAPOR's adapter knows no city app",
        )
    )
    assert not any(problems), "\n".join(p for p in problems if p)


def test_only_the_registry_and_the_sandboxes_know_every_app() -> None:
    allowed = {"adapters.registry", "adapters.sandbox.region"}
    apps = _apps()
    bad = [
        str(i)
        for i in imports()
        for app in apps
        if _within(i.target, [app]) and not _within(i.module, [app]) and i.module not in allowed
    ]
    assert not bad, (
        "a city app's package is imported from outside its folder only by adapters.registry "
        "(the running bridge) and adapters.sandbox.region (the demo's stand-ins):\n  "
        + "\n  ".join(bad)
    )


def _is_sandbox(module: str) -> bool:
    """One of the stand-ins (a module of adapters/sandbox/, and the sample texts); not the
    region that runs them all (nor the package, whose prefix would take the region in)."""
    inside = module.startswith("adapters.sandbox.")
    return (inside and module != "adapters.sandbox.region") or module == "adapters.local.sample"


def test_sandboxes_are_built_from_the_contracts_not_from_the_bridge() -> None:
    sandboxes = sorted(m for m in _files() if _is_sandbox(m))
    assert "adapters.sandbox.lapor" in sandboxes
    clients = sorted(
        m for m in _files() if m.rsplit(".", 1)[-1] in {"client", "normalize", "wire", "common"}
    )
    assert not (
        found := _offending(
            sandboxes,
            ["bridge", "cli", "adapters.registry", *clients],
            rule=(
                "a sandbox stands in for a remote system: it follows docs/contract/, and "
                "imports neither bridge/ nor the client or normalizer it is there to test"
            ),
        )
    ), found


def test_only_the_demo_side_imports_a_sandbox() -> None:
    users = {"adapters.sandbox.region", "adapters.demo"}
    bad = [
        str(i)
        for i in imports()
        if (_is_sandbox(i.target) or i.target == "adapters.sandbox.region")
        and not _is_sandbox(i.module)
        and i.module not in users
        and not (i.module == "cli" and i.target == "adapters.demo")
    ]
    assert not bad, (
        "the sandboxes are shipped for the demo only: imported by other sandboxes, "
        "adapters.sandbox.region and adapters.demo, never by bridge/, a client or the registry:\n  "
        + "\n  ".join(bad)
    )


def _cycles() -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in _files()}
    for i in imports():
        if i.target in graph:
            graph[i.module].add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_new_import_cycle() -> None:
    new = [sorted(c) for c in _cycles() if not any(c <= known for known in KNOWN_CYCLES)]
    lines = [str(i) for cycle in new for i in imports() if i.module in cycle and i.target in cycle]
    shown = lines[:30] + ([f"… and {len(lines) - 30} more"] if len(lines) > 30 else [])
    assert not new, f"import cycles beyond the known ones: {new}\n  " + "\n  ".join(shown)


@pytest.mark.parametrize("known", KNOWN_CYCLES, ids=lambda c: "+".join(sorted(c)))
def test_a_known_cycle_is_not_yet_broken(known: frozenset[str]) -> None:
    """A known cycle that is gone takes its allowance with it: a stale allowance would let
    the cycle come back unnoticed."""
    assert any(c & known and c <= known for c in _cycles()), (
        f"the cycle {sorted(known)} is broken: remove it from KNOWN_CYCLES"
    )


#: the reporting modules in layers, lowest first: a module imports only from layers below
REPORT_LAYERS = (
    ("bridge.reports.report", "bridge.reports.sla"),  # the rows; the SLA figures
    ("bridge.reports.report_html",),  # the page, showing both
    ("bridge.reports.exports",),  # the format asked for
)


def test_the_reporting_modules_stack_without_a_circle() -> None:
    above: dict[str, set[str]] = {}
    for level, names in enumerate(REPORT_LAYERS):
        for name in names:
            above[name] = {n for later in REPORT_LAYERS[level:] for n in later} - {name}
    bad = [str(i) for i in imports() if i.module in above and i.target in above[i.module]]
    assert not bad, "a reporting module imports one at its level or above:\n  " + "\n  ".join(bad)


def _core_constants() -> Iterable[tuple[str, int, object, ast.AST]]:
    for path in sorted((ROOT / "bridge").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant):
                yield path.name, node.lineno, node.value, node
            elif isinstance(node, ast.keyword) and node.arg == "national_status":
                code = node.value.value if isinstance(node.value, ast.Constant) else None
                if isinstance(code, int) and not isinstance(code, bool):
                    yield path.name, node.value.lineno, ("status code", node.value.value), node


def test_the_core_speaks_canonical_terms_not_lapors() -> None:
    """LAPOR's vocabulary lives in adapters/lapor/vocabulary.py; the core names the canonical
    catch-all once (bridge/core/model.py) and sets no LAPOR status code of its own."""
    found = [
        f"bridge/{name}:{line}: {value!r}"
        for name, line, value, _ in _core_constants()
        if (value == "TOPIK LAINNYA" and name != "model.py")
        or (isinstance(value, tuple) and value[0] == "status code")
    ]
    assert not found, "LAPOR's own words in the core:\n  " + "\n  ".join(found)
