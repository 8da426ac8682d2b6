"""The house rules that keep the workbook readable: two packages, imports one way, short lines.

- ``helpers`` (what notebooks import) never imports the build tool ``workbook``
  nor the instructor's ``instructor`` package;
- ``workbook`` imports ``instructor`` only where it can do without it (inside a
  ``try`` that catches ``ImportError``: the student release has no ``instructor``),
  and ``instructor`` never imports ``workbook``: imports run tool -> helpers and
  instructor -> helpers, never back;
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


def _modules(package: str, root: Path = paths.ROOT) -> dict[str, Path]:
    return {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted((root / package).rglob("*.py")) if "__pycache__" not in p.parts
    }


def _dynamic_import(node: ast.AST) -> str | None:
    """The module of ``importlib.import_module("x")`` or ``__import__("x")`` with a literal name."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return node.args[0].value if name in ("import_module", "__import__") else None


def import_statements(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """Each import of ``path`` (top level or inside functions) as (module or package, [candidate submodules])."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif (dynamic := _dynamic_import(node)) is not None:
            if dynamic.startswith("."):  # import_module(".name", __name__): relative to the package
                dots = len(dynamic) - len(dynamic.lstrip("."))
                base = package.split(".")
                dynamic = ".".join(base[: len(base) - dots + 1] + [dynamic.lstrip(".")])
            found.append((dynamic, []))
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


def project_graph(root: Path = paths.ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project's modules it imports. ``from . import sibling`` is an edge to the sibling,
    not to the package (whose ``__init__`` may itself import the sibling)."""
    modules = {name: path for package in packages for name, path in _modules(package, root).items()}
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


def _guarded(tree: ast.AST) -> set[int]:
    """Line numbers of the imports inside a ``try`` whose handlers catch ImportError."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            caught = {getattr(h.type, "id", None) for h in node.handlers}
            caught |= {getattr(e, "id", None) for h in node.handlers if isinstance(h.type, ast.Tuple)
                       for e in h.type.elts}
            if caught & {"ImportError", "ModuleNotFoundError", "Exception"}:
                lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt)
                          if isinstance(n, (ast.Import, ast.ImportFrom, ast.Call))}
    return lines


def unguarded_instructor_imports(module: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    guarded = _guarded(tree)
    found = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                 else [d] if (d := _dynamic_import(node)) else [])
        if any(n.split(".")[0] == "instructor" for n in names) and node.lineno not in guarded:
            shown = path.relative_to(paths.ROOT) if path.is_relative_to(paths.ROOT) else path
            found.append(f"{shown}:{node.lineno} imports {names[0]}")
    return found


def test_the_tool_imports_instructor_only_with_a_fallback_and_instructor_never_the_tool():
    unguarded = [o for name, path in _modules("workbook").items()
                 for o in unguarded_instructor_imports(name, path)]
    backwards = [f"{path.relative_to(paths.ROOT)} imports {imported}"
                 for name, path in _modules("instructor").items() for imported in imports_of(name, path)
                 if imported.split(".")[0] == "workbook"]
    print(f"workbook: {len(unguarded)} unguarded imports of instructor; "
          f"instructor: {len(backwards)} imports of workbook")
    assert not unguarded, "the release has no instructor package; fall back with except ImportError:\n" + \
        "\n".join(unguarded)
    assert not backwards, "instructor must not import the build tool:\n" + "\n".join(backwards)


def test_the_graph_guards_see_cycles_and_dynamic_imports_in_a_real_package(tmp_path):
    """On a throw-away package: a cycle through a function-local import and one through import_module
    are found, an unguarded import of instructor is flagged and a guarded one is not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from pkg import c\n")
    (pkg / "c.py").write_text("import importlib\n\nA = importlib.import_module('.a', __package__)\n")
    graph = project_graph(tmp_path, ("pkg",))
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"], graph
    (pkg / "c.py").write_text("X = 1\n")
    assert find_cycle(project_graph(tmp_path, ("pkg",))) is None
    tool = tmp_path / "tool.py"
    tool.write_text("try:\n    from instructor import x\nexcept ImportError:\n    x = None\n\n"
                    "def g():\n    import instructor.y\n")
    assert unguarded_instructor_imports("tool", tool) == [f"{tool}:7 imports instructor.y"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
