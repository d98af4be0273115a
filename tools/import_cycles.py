"""Lists the import cycles among fastgru's modules: every ``import`` statement counts, at
module level or inside a function (a deferred import hides a cycle, it does not break it).

Usage: python tools/import_cycles.py [package_dir]   (exit status 1 when there is a cycle)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, name: str, is_package: bool, known: set) -> set:
    """The known modules that the module ``name`` imports."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            base = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            # "from . import x" names the module x (its package is imported already);
            # "from .m import f" names m
            targets = [f"{base}.{alias.name}" for alias in node.names]
            if node.module:
                targets.append(base)
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def import_graph(root: Path) -> dict:
    paths = {module_name(root, p): p for p in root.rglob("*.py")}
    known = set(paths)
    return {name: imported(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
            for name, path in paths.items()}


def cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main(argv) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parents[1] / "fastgru")
    found = cycles(import_graph(root))
    for component in found:
        print("cycle:", " <-> ".join(component))
    print(f"{len(found)} import cycle(s) among {root.name}'s modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
