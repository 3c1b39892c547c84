"""The import directions of docs/architecture.md, pinned: a change that breaks them fails here."""

from __future__ import annotations

import ast
from pathlib import Path

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
