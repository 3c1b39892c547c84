"""The import directions of docs/architecture.md, pinned: a change that breaks them fails here."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Protocol

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "swarmsim"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(folder: str = "") -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("policies"), ids=lambda p: p.name)
def test_policies_never_import_simpy_or_the_world(path: Path) -> None:
    bad = {m for m in imports_of(path) if m.split(".")[0] == "simpy" or m.startswith("swarmsim.world")}
    assert not bad, f"{path.name} imports {bad}: policies decide on views only"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_imports_the_cli(path: Path) -> None:
    if path.name != "cli.py":
        assert "swarmsim.cli" not in imports_of(path)


@pytest.mark.parametrize("path", [*modules("world"), *modules("workloads")], ids=lambda p: p.name)
def test_the_hot_path_does_not_use_pandas(path: Path) -> None:
    assert "pandas" not in imports_of(path), f"{path.name}: the world records into columnar buffers"


def test_units_and_rng_stand_alone() -> None:
    for name in ("units.py", "rng.py", "errors.py"):
        ours = {m for m in imports_of(PACKAGE / name) if m.startswith("swarmsim")}
        assert not ours, f"{name} imports {ours}"


#: SimPy's private attributes of events and environments; the public API (``event.value``,
#: ``event.ok``, ``event.triggered``, ``event.processed``, ``env.now``) says the same.
SIMPY_PRIVATE = {"_value", "_ok", "_defused", "_triggered", "_processed", "_callbacks", "_queue", "_eid", "_now",
                 "_active_proc"}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_simpy_private_attribute_is_read(path: Path) -> None:
    seen = sorted(f"{node.attr} (line {node.lineno})" for node in ast.walk(ast.parse(path.read_text()))
                  if isinstance(node, ast.Attribute) and node.attr in SIMPY_PRIVATE)
    assert not seen, f"{path.name} reads SimPy's private {seen}: use event.value, event.ok, env.now"


# --- the import graph: one way everywhere ---------------------------------------------------------

#: Most lines a module of the package may have (docs/architecture.md: small modules).
MAX_LINES = 600


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """``swarmsim/world/node.py`` -> ``swarmsim.world.node``; a package's ``__init__.py`` is the
    package's own node (``swarmsim/world/__init__.py`` -> ``swarmsim.world``)."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports, counting every import statement in the file:
    module level, inside functions and under ``TYPE_CHECKING`` alike. ``import a.b`` and
    ``from a.b import c`` go to ``a.b``, or to ``a.b.c`` when that is a module; relative imports
    are resolved against the importing module's package."""
    files = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    root = package.name

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        here = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(resolve(a.name) for a in node.names if a.name.split(".")[0] == root)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                if source.split(".")[0] != root:
                    continue
                for a in node.names:
                    full = f"{source}.{a.name}"
                    targets.add(full if full in files else resolve(source))
        graph[mod] = {t for t in targets if t is not None and t != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative),
    each as one cycle through its first module, ``[a, b, ..., a]``; :func:`components` gives
    every module of each."""
    return [_cycle_in(graph, set(c)) for c in components(graph)]


def components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, edges = work[-1]
            for w in edges:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A closed path through the first module of a strongly connected component."""
    first = min(component)
    parent: dict[str, str] = {}
    frontier = [first]
    while frontier:  # breadth first, inside the component, until an edge closes back on `first`
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == first:
                    path = [v]
                    while path[-1] != first:
                        path.append(parent[path[-1]])
                    return [first, *reversed(path[:-1]), first]
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"not a cycle: {sorted(component)}")  # pragma: no cover


def test_no_import_cycle_anywhere_in_the_package() -> None:
    graph = import_graph()
    found = components(graph)
    shown = [f"  {' -> '.join(_cycle_in(graph, set(c)))}  [{', '.join(c)}]" for c in found]
    assert not found, "import cycles (each module imports the next; in brackets, every module of the cycle):\n" + \
        "\n".join(shown)


def test_in_world_only_world_py_imports_the_world() -> None:
    graph = import_graph()
    allowed = {"swarmsim.world", "swarmsim.world.world"}
    bad = sorted(m for m, targets in graph.items()
                 if m.startswith("swarmsim.world.") and m not in allowed and "swarmsim.world.world" in targets)
    assert not bad, (f"{', '.join(bad)} import swarmsim.world.world: a part of the world takes what it "
                     "needs of the World as a narrow Protocol or callables")


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_is_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines < MAX_LINES, f"swarmsim/{path.relative_to(PACKAGE)}: {lines} lines (at most {MAX_LINES - 1})"


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    # The checks above can fail: a made-up package with a cycle through a function-level import,
    # a TYPE_CHECKING import and a relative import is reported, with the modules in order.
    pkg = tmp_path / "swarmsim"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from swarmsim.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n")
    (pkg / "sub" / "c.py").write_text("import swarmsim.a\n")
    (pkg / "d.py").write_text("from swarmsim.sub.c import x\n")
    graph = import_graph(pkg)
    assert graph["swarmsim.d"] == {"swarmsim.sub.c"}
    assert cycles(graph) == [["swarmsim.a", "swarmsim.sub.b", "swarmsim.sub.c", "swarmsim.a"]]
    (pkg / "sub" / "c.py").write_text("import numpy\n")
    assert cycles(import_graph(pkg)) == []


def protocol_members(protocol: type) -> set[str]:
    """The attributes and methods a Protocol asks for (its own and its bases')."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (object, Protocol) or klass.__name__ == "Generic":
            continue
        names.update(getattr(klass, "__annotations__", {}))
        names.update(n for n, v in vars(klass).items()
                     if not n.startswith("__") and (callable(v) or isinstance(v, property)))
    return names - {"_is_protocol", "_is_runtime_protocol"}


def test_the_world_has_what_its_parts_ask_of_it() -> None:
    # No type checker runs here: check by name that World satisfies the narrow Protocols its parts take.
    from swarmsim.scenario import load_scenario
    from swarmsim.world.failures import FailuresHost
    from swarmsim.world.service import ServicesHost
    from swarmsim.world.world import World

    world = World(load_scenario(PACKAGE / "scenarios" / "quickstart.yaml"))
    for protocol in (FailuresHost, ServicesHost):
        missing = sorted(n for n in protocol_members(protocol) if not hasattr(world, n))
        assert not missing, f"World lacks {missing} of {protocol.__name__}"
