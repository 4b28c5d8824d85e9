"""The package's shape (docs/modules.md): no import cycle, even through imports inside functions;
folders import only folders below them; no module imports another module's private name."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "raymouth"
# Each top-level module or folder of the package and its layer: a module may import its own folder
# and anything on a lower layer, never a folder on its own layer or above (docs/modules.md).
LAYERS = {
    "errors": 0,
    "console": 0,
    "config": 1,
    "cluster": 2,
    "data": 3,
    "mouth": 4,
    "models": 4,
    "exemplar": 5,
    "restore": 6,
    "paste": 6,
    "train": 7,
    "job": 8,
    "evaluate": 9,
    "bench": 10,
    "cli": 11,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every package module ``path`` imports, at the top or inside a function (not under TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.add(child.module)
                found.update(f"{child.module}.{a.name}" for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in known}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph``, or []."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str]:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return []

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return []


def test_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    assert _cycle(graph) == []


def _room(module: str) -> str:
    """The top-level folder or module of ``raymouth.x.y`` (``x``)."""
    return module.split(".")[1] if "." in module else ""


def test_every_room_has_a_layer():
    rooms = {_room(m) for m in _modules()} - {""}
    assert rooms <= set(LAYERS), sorted(rooms - set(LAYERS))


def test_imports_point_down():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        for target in _imports(path, modules):
            a, b = _room(name), _room(target)
            if a and b and a != b and LAYERS[b] >= LAYERS[a]:
                upward.append(f"{name} -> {target}")
    assert not upward, upward


def test_no_private_name_imported_across_modules():
    private = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("raymouth"):
                private += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_") and node.module != name]
    assert not private, private
