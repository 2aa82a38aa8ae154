"""The layout's rules, read from the source: no import circle (imports inside functions count),
and pytest imported only by the pytest layer (``pytest_trustllm/plugin/``)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest_trustllm

PACKAGE = Path(pytest_trustllm.__file__).parent
PYTEST_LAYER = "pytest_trustllm.plugin"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str) -> list[tuple[str, list[str]]]:
    """(module, names) for every import statement, at any depth, outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module.split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            found.append((mod, [a.name for a in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for mod, names in imports(path, name):
            if not mod.startswith("pytest_trustllm"):
                continue
            targets = {f"{mod}.{n}" for n in names if f"{mod}.{n}" in modules} or {mod}
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_checker_finds_a_circle_and_a_function_level_import(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    src = tmp_path / "m.py"
    src.write_text("import os\ndef f():\n    from pytest_trustllm.verdict import gates\n"
                   "from . import xmltext\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pytest_trustllm.plugin\n")
    names = [m for m, _ in imports(src, "pytest_trustllm.render.m")]
    assert names[1:] == ["pytest_trustllm.verdict", "pytest_trustllm.render", "typing"]


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_only_the_pytest_layer_imports_pytest():
    offenders = sorted(
        name for name, path in ((module_name(p), p) for p in PACKAGE.rglob("*.py"))
        if not (name == PYTEST_LAYER or name.startswith(PYTEST_LAYER + "."))
        and any(mod == "pytest" or mod.startswith(("pytest.", "_pytest")) for mod, _ in imports(path, name)))
    assert offenders == []
