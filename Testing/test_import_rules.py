"""The library's layering, read from the syntax tree of every module (docs/ARCHITECTURE.md, "Layers").

Imports run one way: a module may import its own layer and lower ones, never a higher one; packages of the
same rank do not import each other (the rank-0 foundation modules are one layer); only ``mrml/`` imports ``slicer``/``vtk``; nothing imports ``qt``;
only ``figures/`` imports matplotlib; no two modules import each other, directly or round a loop.
Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "SaliencyExplorer" / "SaliencyExplorerLib"
PACKAGE = "SaliencyExplorerLib"

# rank of each top-level part of the library; lower ranks never import higher ones
RANKS = {
    "errors": 0,
    "card": 0,
    "file_hash": 0,
    "version": 0,
    "output_files": 0,
    "core": 1,
    "methods": 2,
    "models": 3,
    "volumes": 3,
    "figures": 3,
    "evaluation": 4,
    "workflow": 5,
    "mrml": 6,
    "demo": 7,
    "web": 8,
    "cli": 9,
}
SLICER_WORLD = {"slicer", "vtk", "vtkmodules", "sitkUtils", "qt", "ctk"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def library_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(LIB.rglob("*.py"))}


def imports_of(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, at any depth."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            for alias in node.names:  # "from . import heatmap_node" imports a module
                candidate = f"{module}.{alias.name}"
                if candidate in MODULES:
                    found.append((node.lineno, candidate))
    return found


MODULES = library_modules()


def part_of(module: str) -> str | None:
    """'core' for SaliencyExplorerLib.core.engine; None for the package root or outside modules."""
    parts = module.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else None


def test_every_part_of_the_library_has_a_rank():
    parts = {part_of(name) for name in MODULES} - {None, "__main__"}
    assert parts == set(RANKS), parts ^ set(RANKS)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_down_the_layers(name):
    own = part_of(name)
    if own in (None, "__main__"):  # the package root and `python -m` are the front door above every layer
        return
    wrong = []
    for line, module in imports_of(name, MODULES[name]):
        top = module.split(".")[0]
        target = part_of(module)
        if top == PACKAGE and target is None:
            wrong.append(f"line {line}: imports the package root; import the module that defines the name")
        elif (
            target is not None and target != own and (RANKS[target] > RANKS[own] or RANKS[target] == RANKS[own] > 0)
        ):  # rank 0 is one foundation
            wrong.append(f"line {line}: {own} (rank {RANKS[own]}) imports {module} (rank {RANKS[target]})")
        elif top in SLICER_WORLD and (own != "mrml" or top in {"qt", "ctk"}):
            wrong.append(f"line {line}: imports {top}; only mrml/ may import slicer/vtk, and nothing qt/ctk")
        elif top == "matplotlib" and own != "figures":
            wrong.append(f"line {line}: imports matplotlib; only figures/ draws")
    assert not wrong, f"{name}: " + "; ".join(wrong)


def test_no_import_cycle_between_modules():
    graph = {
        name: {m for _, m in imports_of(name, path) if m in MODULES and m != name} for name, path in MODULES.items()
    }
    # a package's __init__ re-exporting its own modules is not a cycle of jobs: leave package -> child edges out
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, cycles


def test_the_checker_sees_a_violation(tmp_path):
    """Control: an upward import and a cycle written into a copy are found by the same functions."""
    source = "from ..mrml import heatmap_node\nfrom . import engine\n"
    path = tmp_path / "engine_copy.py"
    path.write_text(source)
    found = [m for _, m in imports_of(f"{PACKAGE}.core.engine_copy", path)]
    assert f"{PACKAGE}.mrml.heatmap_node" in found and RANKS[part_of(found[0])] > RANKS["core"]
    assert f"{PACKAGE}.core.engine" in found
