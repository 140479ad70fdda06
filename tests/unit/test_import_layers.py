"""The package's import graph, read with ``ast``, against the layer order declared in ``pyproject.toml``.

Every import counts, including those deferred into functions: a deferred upward import is still a dependency.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "detnas"


def declared_layers() -> list[list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["detnas"]["layers"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The detnas modules ``name`` imports, each resolved to the module file it loads."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import mod` loads pkg.mod when it is a module, else a name of pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:  # `import detnas.x.y` of a name: its nearest module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def unit_of(module: str, layers: list[list[str]]) -> tuple[int, str]:
    """(layer index, unit) of a module: the longest declared unit that contains it."""
    best: tuple[int, str] | None = None
    for index, units in enumerate(layers):
        for unit in units:
            inside = module == unit or (unit != "detnas" and module.startswith(unit + "."))
            if inside and (best is None or len(unit) > len(best[1])):
                best = (index, unit)
    assert best is not None, f"{module} is in no layer of [tool.detnas] layers in pyproject.toml: declare it there"
    return best


def test_every_module_belongs_to_a_declared_layer() -> None:
    layers = declared_layers()
    for module in modules():
        unit_of(module, layers)


def test_no_import_runs_upward_or_sideways() -> None:
    layers = declared_layers()
    wrong = []
    for module, targets in graph().items():
        layer, unit = unit_of(module, layers)
        for target in targets:
            t_layer, t_unit = unit_of(target, layers)
            if t_unit != unit and t_layer >= layer:
                way = "up" if t_layer > layer else "sideways"
                wrong.append(f"{module} (layer {layer}) imports {target} (layer {t_layer}): {way}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    circles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """A guard that cannot fail guards nothing: an upward import written into a module is caught."""
    layers = declared_layers()
    source = tmp_path / "genome.py"
    source.write_text("def f():\n    from detnas.search.loop import Search\n")
    targets = imports_of("detnas.genome", source, set(modules()))
    assert targets == {"detnas.search.loop"}
    assert unit_of("detnas.search.loop", layers)[0] > unit_of("detnas.genome", layers)[0]
