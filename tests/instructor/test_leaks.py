"""Leak tests over everything the student release (``make release``) contains.

1. **Text.** No line of a solution region and no sentence of a written answer
   of the solved notebooks appears anywhere in the release: not in
   ``helpers/``, ``workbook/``, ``tests/``, the blank notebooks or the README.
   Lines shorter than ``MIN_LINE`` characters, and the PyTorch idioms listed in
   ``IDIOMS`` (each with the reason it may appear), are not compared;
   answers are compared sentence by sentence (``MIN_WORDS`` words or more),
   with runs of white space made one space on both sides, so that a sentence
   wrapped differently is still found.

2. **Objects** (``slow``). No function or class of the release (every
   ``helpers`` module, the build tool's computing modules ``TOOL_MODULES``, and
   the helper functions and classes of the release's tests) passes an
   exercise's check when it is put in place of the student's code. (Classes
   are tried as they are: one whose constructor wants other arguments than the
   exercise's cannot be dropped in, and fails as a student's would.)
   The solved notebook runs once in this process (quick mode, see
   ``tests/instructor/cells.py``) up to each exercise cell; then for each
   candidate the exercise's name is bound to it in a copy of the namespace and
   the cell after the exercise (its check) runs. It must raise. A function
   exercise is tried with every helper function; a class exercise with every
   helper class, and with every helper function in place of each method that
   holds an exercise. Controls prove the harness can see a pass: the
   notebook's own solution, put back the same way, passes every check (before
   and after the candidates); a stub that raises ``NotImplementedError``
   fails every one; and the instructor's references (``instructor/``, which
   never ships), tried exactly as the helpers are, are found passing.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib
import inspect
import io
import json
import pkgutil
import re
import signal
import time
import types
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

import helpers
from helpers import paths
from tests.instructor.cells import load_cells, run_cells
from workbook import exercises, release

#: Solution lines shorter than this are not compared (``return x``, ``else:``).
MIN_LINE = 12
#: Solution lines that may appear in the release: PyTorch idioms that the notebooks teach
#: before the exercises and that the checks and helpers use themselves. Reviewed one by one;
#: every other solution line of MIN_LINE characters or more counts as a leak wherever it appears.
IDIOMS = {
    "loss.backward()": "one step of training, taught in section 1.3 before exercises 1.6 and 3.1",
    "optimizer.step()": "the same",
    "model.train()": "train mode, taught with dropout and batch norm before exercise 1.6",
    "model.eval()": "eval mode, the same; the checks switch modes themselves",
    "with torch.no_grad():": "evaluation without a graph, taught before exercise 1.7",
    "seed_everything(seed)": "the seeding helper every notebook's set-up cell calls",
    "gen = torch.Generator().manual_seed(seed)": "a seeded generator, shown in section 1.9's text",
    "start = time.perf_counter()": "timing, as every notebook times itself",
    "return history": "the end of any training function",
}
#: Answer sentences with fewer words are not compared.
MIN_WORDS = 6
#: Seconds one candidate may take in a check before it counts as inconclusive.
CANDIDATE_TIMEOUT = 60
PURE_SYNTAX = re.compile(r"^[\s()\[\]{}:,.;#'\"=+\-*/]*$")


def solved(name: str) -> dict:
    return json.loads((paths.ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))


def squeeze(text: str) -> str:
    return " ".join(text.split())


# --- 1. text ---------------------------------------------------------------------------------


@dataclass
class SolutionText:
    notebook: str
    exercise: str
    text: str  # squeezed
    kind: str  # "code line" or "answer sentence"


def _sentences(body: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", squeeze(body)) if len(s.split()) >= MIN_WORDS]


def solution_texts() -> tuple[list[SolutionText], dict[str, int]]:
    """Every comparable solution line and answer sentence of the solved notebooks, and counts."""
    found, counts = [], dict(region_lines=0, short=0, given=0, code=0, answer=0)
    for name in paths.NOTEBOOK_NAMES:
        nb = solved(name)
        for r in exercises.find_regions(nb, name):
            lines = exercises._source(nb["cells"][r.cell]).splitlines()[r.start + 1: r.end]
            if r.kind == "answer":
                for sentence in _sentences("\n".join(lines)):
                    found.append(SolutionText(name, r.name, sentence, "answer sentence"))
                    counts["answer"] += 1
                continue
            for line in lines:
                text = squeeze(line)
                counts["region_lines"] += 1
                if len(text) < MIN_LINE or PURE_SYNTAX.match(text):
                    counts["short"] += 1
                elif text in IDIOMS:
                    counts["given"] += 1
                else:
                    found.append(SolutionText(name, r.name, text, "code line"))
                    counts["code"] += 1
    return found, counts


def release_texts(rel: release.Release) -> dict[str, str]:
    """Every text file of the release, squeezed; notebooks as the text of their cells."""
    texts = {}
    for name, data in sorted(rel.files.items()):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if name.endswith(".ipynb"):
            text = "\n".join(exercises._source(c) for c in json.loads(text)["cells"])
        texts[name] = squeeze(text)
    return texts


@pytest.fixture(scope="module")
def student_release() -> release.Release:
    return release.assemble(paths.ROOT)


def test_no_solution_line_or_answer_sentence_is_in_the_release(student_release):
    texts = release_texts(student_release)
    needles, counts = solution_texts()
    hits = [(needle, name) for needle in needles
            for name, text in texts.items() if needle.text in text]
    folders = sorted({name.split("/")[0] for name in texts})
    print(f"compared {counts['code']} solution lines (of {counts['region_lines']} in the regions: "
          f"{counts['short']} shorter than {MIN_LINE} characters or pure syntax, {counts['given']} "
          f"reviewed idioms) and {counts['answer']} answer sentences of "
          f"{MIN_WORDS}+ words with {len(texts)} text files of the release "
          f"({sum(map(len, texts.values())):,} characters; {', '.join(folders)})")
    for needle, name in hits:
        print(f"  LEAK {needle.notebook} / {needle.exercise}: {needle.kind} in {name}: "
              f"{needle.text!r}")
    assert counts["code"] > 20 and counts["answer"] > 10, "the comparison lost its material"
    assert not hits, f"{len(hits)} solution texts appear in the release (listed above)"


def test_the_text_comparison_finds_a_planted_line(student_release):
    needles, _ = solution_texts()
    line = next(n for n in needles if n.kind == "code line")
    sentence = next(n for n in needles if n.kind == "answer sentence")
    planted = dict(student_release.files)
    planted["helpers/training.py"] += f"\n    # {line.text}\n".encode()
    wrapped = sentence.text.replace(" ", "\n    ", 3)
    planted["tests/test_data.py"] += f'\n"""{wrapped}"""\n'.encode()
    texts = release_texts(release.Release(files=planted))
    assert line.text in texts["helpers/training.py"]
    assert sentence.text in texts["tests/test_data.py"]


# --- 2. objects ------------------------------------------------------------------------------


@dataclass
class Exercise:
    """The code one exercise cell defines around its solution regions."""

    notebook: str
    cell: int  # index of the exercise cell
    name: str  # the top-level function or class around the regions
    kind: str  # "function" or "class"
    methods: list[str]  # for a class: the methods that hold a region
    regions: list[str]
    check_cell: int = -1

    @property
    def label(self) -> str:
        return f"{self.regions[0].split(':')[0]} {self.name}"


def find_exercises(notebook: str) -> list[Exercise]:
    """The exercises of a solved notebook, grouped by the function or class around them."""
    cells = load_cells(notebook)
    found: dict[tuple[int, str], Exercise] = {}
    for region in exercises.find_regions(solved(notebook), notebook):
        if region.kind != "code":
            continue
        tree = ast.parse(cells[region.cell]["source"])
        line = region.start + 1  # ast counts from 1
        for node in tree.body:
            if not (node.lineno <= line <= node.end_lineno):
                continue
            if isinstance(node, ast.ClassDef):
                made = Exercise(notebook, region.cell, node.name, "class", [], [])
                ex = found.setdefault((region.cell, node.name), made)
                ex.methods += [item.name for item in node.body
                               if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                               and item.lineno <= line <= item.end_lineno
                               and item.name not in ex.methods]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                made = Exercise(notebook, region.cell, node.name, "function", [], [])
                ex = found.setdefault((region.cell, node.name), made)
            else:
                continue
            ex.regions.append(region.name)
            break
        else:
            raise AssertionError(f"{notebook}: {region.name} is not inside a function or class; "
                                 "teach this harness how to replace it")
    for ex in found.values():
        uses = re.compile(rf"\b{re.escape(ex.name)}\b")
        ex.check_cell = next(c["index"] for c in cells[ex.cell + 1:]
                             if c["cell_type"] == "code" and uses.search(c["source"]))
    return sorted(found.values(), key=lambda e: e.cell)


#: The build tool's modules that compute on data (no processes, no files of the workbook); the
#: others drive papermill, browsers, pip and git, and cannot stand in for an exercise.
TOOL_MODULES = ("workbook.exercises", "workbook.check", "workbook.marking", "workbook.iorw",
                "workbook.options", "workbook.errors", "workbook.events", "workbook.typst.fonts")


def helper_candidates(package: types.ModuleType = helpers
                      ) -> tuple[dict[str, Callable], dict[str, type]]:
    """Every function and class defined in a module of ``package``, public or private."""
    return module_candidates([importlib.import_module(f"{package.__name__}.{info.name}")
                              for info in pkgutil.iter_modules(package.__path__)])


def release_candidates() -> tuple[dict[str, Callable], dict[str, type]]:
    """What a student's release holds besides the notebooks: every ``helpers`` module, the tool's
    computing modules, and the release's tests (their helper functions and classes, such as
    stand-in models, not the test functions themselves)."""
    import tests

    modules = [importlib.import_module(f"helpers.{info.name}")
               for info in pkgutil.iter_modules(helpers.__path__)]
    modules += [importlib.import_module(name) for name in TOOL_MODULES]
    for info in pkgutil.iter_modules(tests.__path__):
        if info.ispkg:
            continue  # tests.instructor never ships
        try:
            modules.append(importlib.import_module(f"tests.{info.name}"))
        except pytest.skip.Exception as err:  # a module-level importorskip must not hide it
            pytest.fail(f"tests.{info.name} cannot be imported here ({err}); its objects must be tried")
    return module_candidates(modules)


def module_candidates(modules: list[types.ModuleType]) -> tuple[dict[str, Callable], dict[str, type]]:
    """Every function and class defined in ``modules``, public or private (test functions aside).

    Functions include methods defined in its classes, static methods, and
    functions nested inside other functions that need no closure.
    """
    functions: dict[str, Callable] = {}
    classes: dict[str, type] = {}
    seen: set[int] = set()

    def add_nested(code: types.CodeType, module: types.ModuleType, where: str) -> None:
        for const in code.co_consts:
            # functions only: a class body's code (no CO_NEWLOCALS) is no function to call
            if (isinstance(const, types.CodeType) and not const.co_name.startswith("<")
                    and const.co_flags & inspect.CO_NEWLOCALS):
                if not const.co_freevars and id(const) not in seen:
                    seen.add(id(const))
                    nested = types.FunctionType(const, vars(module))
                    functions[f"{where}.<locals>.{const.co_name}"] = nested
                add_nested(const, module, f"{where}.<locals>.{const.co_name}")

    def visit(obj: Any, where: str, module: types.ModuleType) -> None:
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if id(obj) in seen or getattr(obj, "__module__", None) != module.__name__:
            return
        if inspect.isclass(obj):
            seen.add(id(obj))
            classes[where] = obj
            for attr, member in vars(obj).items():
                visit(member, f"{where}.{attr}", module)
        elif inspect.isfunction(obj):
            seen.add(id(obj))
            if not obj.__name__.startswith("test_"):  # a test itself is no tool a student could call
                functions[where] = obj
            add_nested(obj.__code__, module, where)  # but the stand-ins it defines are

    for module in modules:
        for attr, obj in vars(module).items():
            visit(obj, f"{module.__name__}.{attr}", module)
    return functions, classes


def instructor_package() -> types.ModuleType | None:
    try:
        return importlib.import_module("instructor")
    except ImportError:
        return None


def test_the_candidates_are_the_whole_release():
    """The objects tried come from every part of the release that a student gets."""
    functions, classes = release_candidates()
    expected = ["helpers.training.fit", "workbook.check.cell_problems", "workbook.exercises.blank_notebook",
                "tests.conftest.make_notebook",  # a stand-in defined inside a test, too:
                "tests.test_mnist1d.test_training_loop_check_rejects_a_loop_that_does_nothing.<locals>.idle"]
    missing = [name for name in expected if name not in functions]
    assert not missing, missing
    assert "tests.test_mnist1d.FlattenFirstCNN" in classes  # a stand-in model of the tests
    assert not [name for name in functions if name.rsplit(".", 1)[-1].startswith("test_")]


class CandidateTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CandidateTimeout(f"over {CANDIDATE_TIMEOUT} s")


def _fresh(namespace: dict[str, Any]) -> dict[str, Any]:
    """A copy of the namespace whose data (tensors, arrays, models, dicts and lists of them)
    are copies too.

    Everything else (modules, functions, classes, figures, loaders) is shared; the
    control after the candidates shows that none of them was damaged.
    """
    import numpy as np
    import torch

    def is_data(value: Any, depth: int = 0) -> bool:
        if isinstance(value, (bool, int, float, complex, str, bytes, type(None))):
            return True
        if isinstance(value, np.ndarray):
            return value.dtype != object
        if isinstance(value, (torch.Tensor, torch.nn.Module, np.generic)):
            return True
        if isinstance(value, dict) and depth < 4:
            return all(is_data(k, depth + 1) and is_data(v, depth + 1) for k, v in value.items())
        if isinstance(value, (list, tuple, set)) and depth < 4:
            return all(is_data(v, depth + 1) for v in value)
        return False

    out = {}
    for key, value in namespace.items():
        out[key] = value
        if key != "__builtins__" and is_data(value):
            try:
                out[key] = copy.deepcopy(value)
            except Exception:  # noqa: BLE001 - not copyable: shared, as in the notebook
                pass
    return out


def run_check(ex: Exercise, namespace: dict[str, Any], replacement: Any) -> tuple[bool, str]:
    """Run the exercise's check cell with ``ex.name`` bound to ``replacement``: (passed, why)."""
    import torch

    state = torch.get_default_dtype(), torch.is_grad_enabled(), torch.get_num_threads()
    ns = _fresh(namespace)
    ns[ex.name] = replacement
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, CANDIDATE_TIMEOUT)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            run_cells(ex.notebook, start=ex.check_cell, until=ex.check_cell, namespace=ns)
        return True, ""
    except KeyboardInterrupt:
        raise
    except CandidateTimeout as err:
        return False, f"timeout: {err}"
    except BaseException as err:  # noqa: BLE001 - any failure of the check counts (SystemExit too)
        return False, f"{type(err).__name__}: {str(err)[:80]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        torch.set_default_dtype(state[0])
        torch.set_grad_enabled(state[1])
        torch.set_num_threads(state[2])


def _stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("stub")


def _with_methods(cls: type, methods: dict[str, Callable]) -> type:
    """A subclass of ``cls`` with the same name whose ``methods`` are replaced."""
    return type(cls.__name__, (cls,), {**methods, "__module__": cls.__module__,
                                        "__qualname__": cls.__qualname__})


@dataclass
class Trials:
    notebook: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # "helper passes exercise"
    inconclusive: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)  # control failures
    references: list[str] = field(default_factory=list)  # instructor objects that pass


def _replacements(ex: Exercise, solution: Any, functions: dict[str, Callable],
                  classes: dict[str, type]) -> dict[str, Any]:
    """What to put in place of the exercise: functions for a function; for a class, classes,
    and functions in place of each method that holds a region."""
    if ex.kind == "function":
        return dict(functions)
    tries: dict[str, Any] = dict(classes)
    for method in ex.methods:
        tries.update({f"{name} as {ex.name}.{method}": _with_methods(solution, {method: fn})
                      for name, fn in functions.items()})
    return tries


def try_candidates(notebook: str) -> Trials:
    functions, classes = release_candidates()
    instructor = instructor_package()
    references = helper_candidates(instructor) if instructor else ({}, {})
    trials = Trials(notebook)
    namespace: dict[str, Any] | None = None
    last = -1
    for ex in find_exercises(notebook):
        start = time.perf_counter()
        # the solved notebook up to and including this exercise cell, continuing from the last one
        namespace, _ = run_cells(notebook, start=last + 1, until=ex.cell, namespace=namespace)
        last = ex.cell
        solution = namespace[ex.name]
        tries = _replacements(ex, solution, functions, classes)
        stub = _stub if ex.kind == "function" else _with_methods(solution,
                                                                 {m: _stub for m in ex.methods})
        ok, why = run_check(ex, namespace, solution)
        if not ok:
            trials.controls.append(f"{ex.label}: the notebook's own solution fails ({why})")
        stub_ok, _ = run_check(ex, namespace, stub)
        if stub_ok:
            trials.controls.append(f"{ex.label}: a stub raising NotImplementedError passes the "
                                   f"check in cell {ex.check_cell}: it does not check {ex.name}")
        passes = []
        for name, candidate in tries.items():
            ok, why = run_check(ex, namespace, candidate)
            if ok:
                passes.append(name)
                trials.passed.append(f"{name} passes {ex.label} (check cell {ex.check_cell})")
            elif why.startswith("timeout"):
                trials.inconclusive.append(f"{name} on {ex.label}: {why}")
        # the instructor's references, which never ship, are the known answers: the same
        # harness must find them passing
        known = _replacements(ex, solution, *references)
        for name, candidate in known.items():
            if run_check(ex, namespace, candidate)[0]:
                trials.references.append(f"{name} passes {ex.label}")
        ok, why = run_check(ex, namespace, solution)
        if not ok:
            trials.controls.append(f"{ex.label}: the solution fails after the candidates ran "
                                   f"({why}): a candidate changed shared state")
        trials.rows.append(dict(exercise=ex.label, kind=ex.kind,
                                methods=",".join(ex.methods) or "-", tried=len(tries),
                                passed=passes, references=len(known),
                                reference_passes=sum(f"passes {ex.label}" in r
                                                     for r in trials.references),
                                seconds=time.perf_counter() - start))
    return trials


@pytest.fixture(scope="module", params=paths.NOTEBOOK_NAMES)
def trials(request) -> Trials:
    result = try_candidates(request.param)
    functions, classes = release_candidates()
    print(f"\n{request.param}: {len(functions)} functions and {len(classes)} classes of the release's "
          "helpers, tool and tests")
    print(f"{'exercise':<36} {'kind':<8} {'methods':<16} {'tried':>5} {'passed':>6} "
          f"{'instructor: tried':>17} {'passed':>6} {'s':>6}")
    for row in result.rows:
        print(f"{row['exercise']:<36} {row['kind']:<8} {row['methods']:<16} {row['tried']:>5} "
              f"{len(row['passed']):>6} {row['references']:>17} {row['reference_passes']:>6} "
              f"{row['seconds']:>6.1f}")
    for line in result.references:
        print(f"  known answer found: {line}")
    return result


@pytest.mark.slow
def test_the_harness_sees_a_pass_and_a_failure(trials):
    assert trials.rows, f"{trials.notebook}: no code exercises found"
    assert not trials.controls, "\n".join(trials.controls)
    if instructor_package() is not None:
        assert trials.references, (f"{trials.notebook}: none of the instructor's references "
                                   "passes a check in place of the student's code")


@pytest.mark.slow
def test_no_helper_object_passes_an_exercise_check(trials):
    assert not trials.passed, (f"{trials.notebook}: helper objects that pass a check in place of "
                               "the student's code:\n  " + "\n  ".join(trials.passed))
    assert not trials.inconclusive, ("candidates that ran out of time:\n  "
                                     + "\n  ".join(trials.inconclusive))
