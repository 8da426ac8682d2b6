"""The house rules that keep the workbook readable: two packages, imports one way, short lines.

- ``helpers`` (what notebooks import) never imports the build tool ``workbook``
  nor the instructor's ``instructor`` package;
- the modules of each package import each other without a cycle;
- ruff (pyflakes) finds no error in the code. The solved notebooks' own style check
  (100 characters a line) is in ``tests/instructor/test_notebook_style.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import paths

PACKAGES = ("helpers", "workbook", "instructor")


def _modules(package: str) -> dict[str, Path]:
    root = paths.ROOT / package
    return {
        ".".join(p.relative_to(paths.ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts
    }


def import_statements(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """Each import of ``path`` (top level or inside functions) as (module or package, [candidate submodules])."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.append((prefix, [f"{prefix}.{alias.name}" for alias in node.names]))
    return found


def imports_of(module: str, path: Path) -> set[str]:
    """Every module name that ``path`` imports, and every name it takes from one, as absolute names."""
    return {name for prefix, subs in import_statements(module, path) for name in (prefix, *subs)}


def project_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports. ``from . import sibling`` is an edge to the sibling,
    not to the package (whose ``__init__`` may itself import the sibling)."""
    modules = {name: path for package in PACKAGES for name, path in _modules(package).items()}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for prefix, subs in import_statements(name, path):
            inner = [s for s in subs if s in modules]
            edges |= set(inner) if inner else ({prefix} if prefix in modules else set())
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_helpers_never_imports_the_tool_or_the_instructor_package():
    offenders = []
    for name, path in _modules("helpers").items():
        for imported in imports_of(name, path):
            if imported.split(".")[0] in {"workbook", "instructor"}:
                offenders.append(f"{path.relative_to(paths.ROOT)} imports {imported}")
    print(f"checked {len(_modules('helpers'))} helpers modules: {len(offenders)} imports of workbook/instructor")
    assert not offenders, "helpers must not import the build tool or the instructor package:\n" + "\n".join(offenders)


def test_no_import_cycles():
    graph = project_graph()
    cycle = find_cycle(graph)
    print(f"import graph: {len(graph)} modules, {sum(map(len, graph.values()))} edges, cycle: {cycle}")
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_guards_can_fail(tmp_path):
    """The cycle finder and the import reader see what they must (so the two tests above can fail)."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    probe = tmp_path / "probe.py"
    probe.write_text("import os\n\ndef f():\n    from workbook import build\n    from . import paths\n", encoding="utf-8")
    found = imports_of("helpers.probe", probe)
    assert {"workbook.build", "helpers.paths", "os"} <= found, found  # function-local and relative imports count


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=paths.ROOT,
                          capture_output=True, text=True)


def test_code_lints_clean():
    result = _ruff("--select", "F", *[p for p in PACKAGES if (paths.ROOT / p).is_dir()], "tests")
    print(result.stdout[-3000:])
    assert result.returncode == 0, "ruff (pyflakes) found problems:\n" + result.stdout


def test_ruff_reads_notebooks_and_flags_long_lines(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1  # " + "w" * 120)])
    nbformat.write(nb, tmp_path / "long.ipynb")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(paths.ROOT / "pyproject.toml"),
                             str(tmp_path / "long.ipynb")], capture_output=True, text=True)
    assert result.returncode == 1 and "E501" in result.stdout, result.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))


def test_helpers_names_each_function_once():
    """One vocabulary: no two helpers modules define a function or class of the same name."""
    seen: dict[str, list[str]] = {}
    for name, path in _modules("helpers").items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                seen.setdefault(node.name, []).append(name)
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    print(f"{len(seen)} top-level names in helpers; defined twice: {twice}")
    assert not twice, twice
