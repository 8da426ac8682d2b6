"""The benchmark behind ``make bench``: how fast the workbook builds and trains, against baselines.

Usage::

    python -m workbook bench [--repeats N] [--quick] [--only NAME ...] [--changed NAME]
                            [--skip-cold] [--skip-training] [--skip-profile] [--fresh-setup]

Everything is measured in one run on one machine and written, atomically, to
``build/bench.json`` (every figure) and ``build/bench.md`` (the same, readable):

1. **Cold build**: ``make pdf`` (that is ``python -m workbook pdf``) from an
   empty build directory, against the baseline a student would otherwise use,
   ``jupyter nbconvert --execute --to pdf`` on each notebook one after
   another. The two alternate (ours first on even repeats, the baseline first
   on odd ones); medians over ``--repeats`` runs, in total and per notebook.
2. **Rebuilds**: the same build again with nothing changed, then with one
   notebook edited (a Markdown cell appended), which must re-execute only it.
3. **Training**: the best CNN of Problem 3 as the notebook trained it in the
   cold build, against the published MNIST-1D CNN setup
   (:mod:`instructor.mnist1d_reference`) trained in this process; plus
   every model's accuracy and training time as the notebook of Problem 3
   recorded them during the cold build (``results/03_exercise_mnist1d.json``).
4. **Profile**: where a cold build's time goes (interpreter, imports, kernel
   start-up, executing each notebook, exporting it to PDF).
5. **Fresh set-up** (only with ``--fresh-setup``; minutes, and pip downloads
   the pinned packages): ``git clone`` of the committed workbook and
   ``make pdf`` in the clone, without ``.venv``. The TeX installation is not
   part of it (it is a system prerequisite).

The builds run on temporary copies of the notebooks with temporary build
directories, so neither ``notebooks/`` nor an existing ``build/`` is touched,
except for the two report files. ``--quick`` builds in the notebooks' quick
mode and trains for a few steps only: it proves the benchmark runs (the smoke
test uses it), its figures mean nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from helpers import paths

from .events import notebook_times
from .iorw import atomic_write, read_json, write_json

#: The targets of the benchmark (issue 8).
TARGETS = {"cold_ratio": 0.6, "noop_s": 1.0, "train_time_ratio": 0.4, "critical_path_overhead_s": 2.0,
           "typst_export_ratio": 0.15}
#: The notebook of Problem 3 and the results file it writes.
MNIST1D_NOTEBOOK = "03_exercise_mnist1d"
#: In ``--quick`` mode: training steps of the published setup.
QUICK_REFERENCE_STEPS = 40


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and shows the end of its output."""


# --- the machine ----------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """CPU model, cores, torch's thread count and versions: printed and stored with the figures."""
    import torch

    from helpers.training import cpu_cores

    usable = cpu_cores()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def describe_machine(m: dict[str, Any]) -> str:
    gpu = f", GPU {m['cuda']}" if m.get("cuda") else ", no GPU"
    load = m.get("load_average_at_start")
    load_text = f"; load average {load[0]:.2f} at the start" if load else ""
    return f"{m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), torch {m['torch']} with {m['torch_threads']} threads{gpu}, Python {m['python']}{load_text}"


# --- running commands ----------------------------------------------------------------------------


@dataclass
class Timed:
    """A finished command: wall-clock seconds and each output line with the time.time() it arrived."""

    seconds: float
    lines: list[tuple[float, str]]

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def run_timed(cmd: list[str], *, env: dict[str, str], cwd: Path, what: str) -> Timed:
    """Run ``cmd``, timing it and timestamping its output lines; raise :class:`BenchError` on failure."""
    lines: list[tuple[float, str]] = []
    start = time.perf_counter()
    with subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.time(), line.rstrip("\n")))
        returncode = proc.wait()
    seconds = time.perf_counter() - start
    if returncode != 0:
        tail = "\n    ".join(line for _, line in lines[-25:])
        raise BenchError(f"{what} failed (exit code {returncode}): {' '.join(cmd)}\n    {tail}")
    return Timed(seconds, lines)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def jupyter_command() -> list[str]:
    """``jupyter`` of this environment (the baseline a student types), else ``python -m jupyter``."""
    script = Path(sys.executable).with_name("jupyter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jupyter"]


# --- the workspace: copies of the notebooks, one empty build directory per build --------------------


class Workspace:
    """A temporary folder: a frozen copy of the workbook's code, the notebook copies, every build directory.

    The builds run the frozen copy of ``helpers`` (first on ``PYTHONPATH``, so
    the build and the notebooks' kernels import it instead of the working
    tree): an edit made in the working tree while the benchmark runs changes
    no fingerprint, so a no-op rebuild stays a no-op. Data and
    ``submission.toml`` are read where they are.
    """

    def __init__(self, names: tuple[str, ...], quick: bool):
        import nbformat

        self.root = Path(tempfile.mkdtemp(prefix="workbook-bench-"))
        self.names = names
        self.quick = quick
        self.code = self.root / "workbook"
        for package in ("helpers", "workbook", "instructor"):
            if (paths.ROOT / package).is_dir():
                shutil.copytree(paths.ROOT / package, self.code / package, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("requirements.txt", "pyproject.toml", "Makefile"):
            shutil.copy2(paths.ROOT / name, self.code / name)
        self.notebooks = self.root / "notebooks"  # what our build executes (papermill sets the parameters)
        self.baseline_notebooks = self.root / "notebooks-baseline"  # what nbconvert executes as they are
        for folder in (self.notebooks, self.baseline_notebooks):
            folder.mkdir()
            for name in names:
                shutil.copy2(paths.NOTEBOOKS / f"{name}.ipynb", folder / f"{name}.ipynb")
        if quick:  # nbconvert cannot set parameters: write quick mode into the baseline's copies
            for name in names:
                path = self.baseline_notebooks / f"{name}.ipynb"
                nb = nbformat.read(path, as_version=4)
                for cell in nb.cells:
                    if "parameters" in cell.get("metadata", {}).get("tags", []):
                        cell.source = re.sub(r"(?m)^quick\s*=.*$", "quick = True", cell.source)
                nbformat.write(nb, path)
        self._count = 0

    def new_build_dir(self, label: str) -> Path:
        self._count += 1
        path = self.root / f"build-{self._count:02d}-{label}"
        path.mkdir()
        return path

    def env(self, build: Path, notebooks: Path | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            WORKBOOK_BUILD_DIR=str(build),
            WORKBOOK_NOTEBOOKS_DIR=str(notebooks or self.notebooks),
            WORKBOOK_DATA_DIR=str(paths.DATA),
            WORKBOOK_CONFIG=str(paths.CONFIG),
            PYTHONPATH=os.pathsep.join(filter(None, [str(self.code), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        return env

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# --- 1. cold build ----------------------------------------------------------------------------------


def build_command(names: tuple[str, ...], quick: bool) -> list[str]:
    """What ``make pdf`` runs (``--only`` when the benchmark covers a subset of the notebooks)."""
    cmd = [sys.executable, "-m", "workbook", "pdf", f"--quick={int(quick)}", "--seed=0", "--device=auto"]
    if set(names) != set(paths.NOTEBOOK_NAMES):
        for name in names:
            cmd.append(f"--only={name}")
    return cmd


def build_record(build: Path) -> dict[str, Any]:
    """The events the last build in ``build`` saved (``executed/timings.json``), never its log."""
    record = (read_json(build / "executed" / "timings.json") or {}).get("last_build")
    if not record:
        raise BenchError(f"the build in {build} saved no record of its events (executed/timings.json)")
    return record


def executed_notebooks(build: Path) -> list[str]:
    """Names of the notebooks the last build in ``build`` executed, from its saved events."""
    return [e["notebook"] for e in build_record(build)["events"] if e["kind"] == "executed"]


def ours_cold(ws: Workspace) -> tuple[dict[str, Any], Path]:
    """One cold ``make pdf``; per notebook, the seconds from its start to its PDF written (from the build's events)."""
    build = ws.new_build_dir("ours")
    timed = run_timed(build_command(ws.names, ws.quick), env=ws.env(build), cwd=ws.code, what="cold build (ours)")
    times = notebook_times(build_record(build))
    per_notebook = {}
    for name in ws.names:
        entry = times.get(name, {})
        if not {"started_at", "executed_at", "exported_at"} <= set(entry) or not (build / "pdf" / f"{name}.pdf").exists():
            raise BenchError(f"cold build (ours): no execution record or PDF for {name}: {entry}\n{timed.text[-2000:]}")
        per_notebook[name] = {
            "seconds": entry["exported_at"] - entry["started_at"],
            "execute_s": entry["execute_s"],
            "export_s": entry["export_s"],  # the export overlaps the next notebook's execution
            "exported_at": entry["exported_at"],
        }
    if not (build / "submission.pdf").exists():
        raise BenchError(f"cold build (ours) wrote no submission.pdf:\n{timed.text[-2000:]}")
    return {"seconds": timed.seconds, "notebooks": per_notebook}, build


def baseline_cold(ws: Workspace) -> dict[str, Any]:
    """``jupyter nbconvert --execute --to pdf`` on each notebook, one after another."""
    build = ws.new_build_dir("baseline")
    out = build / "pdf"
    per_notebook = {}
    start = time.perf_counter()
    for name in ws.names:
        cmd = [*jupyter_command(), "nbconvert", "--execute", "--to", "pdf", str(ws.baseline_notebooks / f"{name}.ipynb"), "--output-dir", str(out)]
        timed = run_timed(cmd, env=ws.env(build, ws.baseline_notebooks), cwd=ws.baseline_notebooks, what=f"baseline nbconvert of {name}")
        if not (out / f"{name}.pdf").exists():
            raise BenchError(f"baseline nbconvert wrote no PDF for {name}:\n{timed.text[-2000:]}")
        per_notebook[name] = {"seconds": timed.seconds}
    return {"seconds": time.perf_counter() - start, "notebooks": per_notebook}


def cold_builds(ws: Workspace, repeats: int, log: Callable[[str], None]) -> tuple[dict[str, Any], Path]:
    """Alternate our cold build and the baseline ``repeats`` times; medians, ratios, per notebook."""
    ours_runs, base_runs, last_build = [], [], None
    for r in range(repeats):
        order = ("ours", "baseline") if r % 2 == 0 else ("baseline", "ours")
        for which in order:
            if which == "ours":
                result, last_build = ours_cold(ws)
                ours_runs.append(result)
            else:
                result = baseline_cold(ws)
                base_runs.append(result)
            log(f"  cold build {r + 1}/{repeats}, {which:8s}: {result['seconds']:7.1f} s")
    ours_s = median(run["seconds"] for run in ours_runs)
    base_s = median(run["seconds"] for run in base_runs)
    notebooks = {}
    for name in ws.names:
        o = median(run["notebooks"][name]["seconds"] for run in ours_runs)
        b = median(run["notebooks"][name]["seconds"] for run in base_runs)
        notebooks[name] = {
            "ours_s": o,
            "baseline_s": b,
            "ratio": o / b,
            "ours_execute_s": median(run["notebooks"][name]["execute_s"] for run in ours_runs),
            "ours_export_s": median(run["notebooks"][name]["export_s"] for run in ours_runs),
        }
    # The limit of a parallel build: the slowest notebook's execution. What the build adds on top of it
    # (start-up, the export of the last notebook, the merge) is the overhead (target <= 2 s).
    slowest = max(ws.names, key=lambda n: notebooks[n]["ours_execute_s"])
    overhead = median(run["seconds"] - run["notebooks"][slowest]["execute_s"] for run in ours_runs)
    result = {
        "critical_path": {"notebook": slowest, "execute_s": notebooks[slowest]["ours_execute_s"], "overhead_s": overhead,
                          "target_overhead_s": TARGETS["critical_path_overhead_s"],
                          "met": overhead <= TARGETS["critical_path_overhead_s"]},
        "ours_s": ours_s,
        "baseline_s": base_s,
        "ratio": ours_s / base_s,
        "target_ratio": TARGETS["cold_ratio"],
        "met": ours_s / base_s <= TARGETS["cold_ratio"],
        "ours_runs_s": [run["seconds"] for run in ours_runs],
        "baseline_runs_s": [run["seconds"] for run in base_runs],
        "notebooks": notebooks,
    }
    assert last_build is not None
    return result, last_build


# --- 2. rebuilds -------------------------------------------------------------------------------------


def rebuilds(ws: Workspace, build: Path, changed: str, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """No-op rebuilds of a complete build, then rebuilds after editing ``changed`` (each time anew)."""
    import nbformat

    cmd = build_command(ws.names, ws.quick)
    noop = []
    for r in range(repeats):
        timed = run_timed(cmd, env=ws.env(build), cwd=ws.code, what="no-op rebuild")
        if executed_notebooks(build):
            raise BenchError(f"the no-op rebuild executed {executed_notebooks(build)}; it should execute nothing:\n{timed.text[-2000:]}")
        noop.append(timed.seconds)
        log(f"  no-op rebuild {r + 1}/{repeats}: {timed.seconds:.2f} s")
    one_changed, reexecuted = [], []
    path = ws.notebooks / f"{changed}.ipynb"
    for r in range(repeats):
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_markdown_cell(f"An edit made by the benchmark ({r + 1})."))
        nbformat.write(nb, path)
        timed = run_timed(cmd, env=ws.env(build), cwd=ws.code, what="rebuild after one edit")
        reexecuted = executed_notebooks(build)
        if reexecuted != [changed]:
            raise BenchError(f"after editing {changed} the rebuild executed {reexecuted}; it should execute only {changed}:\n{timed.text[-2000:]}")
        one_changed.append(timed.seconds)
        log(f"  rebuild after editing {changed} {r + 1}/{repeats}: {timed.seconds:.1f} s")
    return {
        "noop": {"median_s": median(noop), "runs_s": noop, "target_s": TARGETS["noop_s"], "met": median(noop) < TARGETS["noop_s"]},
        "one_changed": {"notebook": changed, "reexecuted": reexecuted, "median_s": median(one_changed), "runs_s": one_changed},
    }


# --- 3. training --------------------------------------------------------------------------------------


def training(repeats: int, quick: bool, device_name: str, seed: int, log: Callable[[str], None],
             notebook_results: Path | None, threads: int | None = None) -> dict[str, Any]:
    """The best CNN as the notebook of Problem 3 trained it (cold build) against the published setup, trained here.

    The best CNN and its training loop live in the notebook (they are what it
    teaches), so its figures are read from the notebook's results of this run's
    cold build; the published setup (:mod:`instructor.mnist1d_reference`) is
    trained in this process with the notebook's thread count (one, unless
    ``threads``), ``repeats`` times.
    """
    import torch

    from helpers.data import load_mnist1d
    from helpers.mnist1d import BEST_CNN_TARGET
    from helpers.runtime import pick_device

    try:
        from instructor.mnist1d_reference import REFERENCE_RECIPE, train_reference_cnn
    except ImportError as err:
        raise BenchError("the training part needs the instructor package (not part of the student release); "
                         "run the benchmark with --skip-training") from err
    results = read_json(notebook_results) if notebook_results is not None else None
    if not results or "best_cnn_train_s" not in results:
        raise BenchError("the training part reads the best CNN's figures from Problem 3's results of the cold build; "
                         "run it without --skip-cold")
    torch.set_num_threads(threads or 1)
    device = pick_device(device_name)
    data = load_mnist1d()
    runs = []
    for r in range(repeats):
        _, figures = train_reference_cnn(data, seed=seed, device=device, steps=QUICK_REFERENCE_STEPS if quick else None)
        runs.append(figures)
        log(f"  published CNN setup {r + 1}/{repeats}: {figures['train_s']:6.1f} s, test accuracy {figures['test_accuracy']:.1f}%")
    reference = {
        "test_accuracy": median(f["test_accuracy"] for f in runs), "train_s": median(f["train_s"] for f in runs),
        "runs_s": [f["train_s"] for f in runs], "steps": int(runs[0]["steps"]), "params": int(runs[0]["params"]),
        "recipe": {**REFERENCE_RECIPE, **({"steps": QUICK_REFERENCE_STEPS} if quick else {})},
    }
    best = {"test_accuracy": float(results["best_cnn_test_accuracy"]), "train_s": float(results["best_cnn_train_s"]),
            "params": results.get("best_cnn_params")}
    ratio = best["train_s"] / reference["train_s"]
    return {
        "device": str(device), "torch_threads": torch.get_num_threads(), "seed": seed,
        "best": best, "reference": reference, "time_ratio": ratio,
        "targets": {"best_test_accuracy": BEST_CNN_TARGET, "time_ratio": TARGETS["train_time_ratio"]},
        "met": best["test_accuracy"] >= BEST_CNN_TARGET and ratio <= TARGETS["train_time_ratio"],
        "notebook_tested": {name: float(acc) for name, acc in results.get("tested", {}).items()},
        "notebook_results": notebook_results.name,
    }


# --- 3b. the PDF engines on the same executed notebooks ------------------------------------------------


def _engine_pdf(engine: str, executed: Path) -> bytes:
    """One export of ``executed`` with ``engine``, as the build does it but without its caches."""
    import nbformat
    from traitlets.config import Config

    from . import export

    nb = nbformat.read(executed, as_version=4)
    resources = {"metadata": {"name": nb.metadata.get("title", executed.stem), "path": str(paths.NOTEBOOKS)}}
    if engine == "typst":
        from .typst import export_pdf

        return export_pdf(nb, resources, config=Config({"TypstExporter": {"cache_markdown": False}}))
    export._clean_text(nb)
    if engine == "latex":
        return export._latex_pdf(nb, resources)
    from .chromium import chromium_pdf, find_chromium

    return chromium_pdf(nb, resources, find_chromium() or "chromium", export._exporter_config())


def available_engines() -> list[str]:
    from .chromium import find_chromium

    engines = ["typst"]
    if shutil.which("xelatex") and shutil.which("pandoc"):
        engines.append("latex")
    if find_chromium():
        engines.append("chromium")
    return engines


def engines(build: Path, names: tuple[str, ...], repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Each engine exports each executed notebook of the cold build, alternating, ``repeats`` times; medians.

    Also renders page 2 of the first notebook's PDF for every engine (``build/bench-page2-<engine>.png``)
    and puts them side by side (``build/bench-page2.png``), for a person to look at.
    """
    available = available_engines()
    seconds: dict[str, dict[str, list[float]]] = {e: {n: [] for n in names} for e in available}
    pdfs: dict[str, bytes] = {}
    for engine in available:  # one untimed export each: imports and compiled templates are not the notebook's cost
        _engine_pdf(engine, build / "executed" / f"{names[0]}.ipynb")
    for r in range(repeats):
        for name in names:
            order = available if r % 2 == 0 else list(reversed(available))
            for engine in order:
                start = time.perf_counter()
                body = _engine_pdf(engine, build / "executed" / f"{name}.ipynb")
                seconds[engine][name].append(time.perf_counter() - start)
                if name == names[0]:
                    pdfs[engine] = body
        log(f"  engines {r + 1}/{repeats}: " + ", ".join(f"{e} {sum(v[-1] for v in seconds[e].values()):.1f} s" for e in available))
    result: dict[str, Any] = {"engines": available, "notebooks": {}, "target_ratio": TARGETS["typst_export_ratio"]}
    for name in names:
        entry = {e: median(seconds[e][name]) for e in available}
        if "latex" in entry:
            entry["typst_over_latex"] = entry["typst"] / entry["latex"]
            entry["met"] = entry["typst_over_latex"] <= TARGETS["typst_export_ratio"]
        result["notebooks"][name] = entry
    result["page2"] = _page2_images(pdfs, paths.build_dir())
    return result


def _page2_images(pdfs: dict[str, bytes], out: Path) -> dict[str, str]:
    """Page 2 of each engine's PDF as PNG, and all of them side by side; {} without pdftoppm."""
    if not shutil.which("pdftoppm"):
        return {}
    from PIL import Image
    from pypdf import PdfReader

    images = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine, body in pdfs.items():
            pdf = Path(tmp) / f"{engine}.pdf"
            pdf.write_bytes(body)
            page = str(min(2, len(PdfReader(pdf).pages)))  # a one-page notebook shows its only page
            subprocess.run(["pdftoppm", "-r", "70", "-png", "-f", page, "-l", page, "-singlefile", str(pdf),
                            str(Path(tmp) / engine)], check=True)
            target = out / f"bench-page2-{engine}.png"
            atomic_write(target, lambda t, src=Path(tmp) / f"{engine}.png": t.write_bytes(src.read_bytes()))
            images[engine] = target.name
        pictures = [Image.open(out / f) for f in images.values()]
        if pictures:
            sheet = Image.new("RGB", (sum(p.width for p in pictures) + 10 * (len(pictures) - 1), max(p.height for p in pictures)), "white")
            x = 0
            for picture in pictures:
                sheet.paste(picture, (x, 0))
                x += picture.width + 10
            atomic_write(out / "bench-page2.png", lambda t: sheet.save(t, format="PNG"))
            images["side_by_side"] = "bench-page2.png"
    return images


# --- 4. where the time goes ---------------------------------------------------------------------------


def _seconds_of(cmd: list[str], env: dict[str, str], cwd: Path, repeats: int = 3) -> float:
    return median(run_timed(cmd, env=env, cwd=cwd, what=" ".join(cmd[-2:])).seconds for _ in range(repeats))


def kernel_start_seconds() -> float:
    """Seconds from asking for a fresh ``dl2-workbook`` kernel to its first executed statement."""
    from jupyter_client.manager import start_new_kernel

    start = time.perf_counter()
    km, kc = start_new_kernel(kernel_name=paths.KERNEL_NAME)
    try:
        kc.execute_interactive("pass", timeout=60)
        return time.perf_counter() - start
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def profile(ws: Workspace, build: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Interpreter and import times, kernel start-up, and the baseline's PDF export alone per notebook."""
    env = ws.env(build)
    python = _seconds_of([sys.executable, "-c", "pass"], env, ws.code)
    science = _seconds_of([sys.executable, "-c", "import numpy, torch, matplotlib.pyplot, helpers.checks"], env, ws.code)
    tooling = _seconds_of([sys.executable, "-c", "import papermill, nbconvert, nbclient"], env, ws.code)
    kernel = median(kernel_start_seconds() for _ in range(3))
    log(f"  python {python:.2f} s, notebook imports +{science - python:.2f} s, papermill/nbconvert imports +{tooling - python:.2f} s, kernel start {kernel:.2f} s")
    export_only = {}
    out = ws.root / "profile-export"
    for name in ws.names:  # nbconvert's default LaTeX export (3 passes) of the executed notebook, no execution
        cmd = [*jupyter_command(), "nbconvert", "--to", "pdf", str(build / "executed" / f"{name}.ipynb"), "--output-dir", str(out)]
        export_only[name] = run_timed(cmd, env=env, cwd=ws.notebooks, what=f"nbconvert --to pdf of {name}").seconds
        log(f"  baseline export alone, {name}: {export_only[name]:.1f} s")
    return {
        "python_start_s": python,
        "notebook_imports_s": science - python,
        "build_tool_imports_s": tooling - python,
        "kernel_start_s": kernel,
        "baseline_export_only_s": export_only,
    }


# --- 5. fresh set-up ----------------------------------------------------------------------------------


def fresh_setup(log: Callable[[str], None]) -> dict[str, Any]:
    """``git clone`` the committed workbook into a temporary folder, then ``make setup`` and ``make pdf`` there."""
    base_python = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBOOK_") and k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PYTHONUNBUFFERED"] = "1"
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.ROOT, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="workbook-fresh-") as tmp:
        clone = Path(tmp) / "workbook"
        start = time.perf_counter()
        run_timed(["git", "clone", "--quiet", str(paths.ROOT), str(clone)], env=env, cwd=Path(tmp), what="git clone")
        cloned = time.perf_counter() - start
        setup = run_timed(["make", "setup", f"PYTHON={base_python}"], env=env, cwd=clone,
                          what="make setup in a fresh clone").seconds
        run_timed(["make", "pdf"], env=env, cwd=clone, what="make pdf in a fresh clone")
        total = time.perf_counter() - start
    log(f"  fresh clone to finished make pdf: {total:.0f} s")
    return {"commit": commit, "python": base_python, "clone_s": cloned, "setup_s": setup, "total_s": total}


# --- the report ---------------------------------------------------------------------------------------


def _ok(met: bool) -> str:
    return "met" if met else "NOT met"


def markdown(report: dict[str, Any]) -> str:
    """``build/bench.md``: the figures of ``report`` as short tables."""
    s = report["settings"]
    lines = [
        "# Benchmark of the workbook",
        "",
        f"Measured {report['finished']} on {describe_machine(report['machine'])}.",
        f"Repeats: {s['repeats']} (medians); notebooks: {', '.join(s['notebooks'])}; mode: {'QUICK (smoke run, figures meaningless)' if s['quick'] else 'full'}.",
        "",
    ]
    cold = report.get("cold_build")
    if cold:
        lines += [
            "## Cold build: `make pdf` against `jupyter nbconvert --execute --to pdf` per notebook",
            "",
            "| notebook | ours (s) | baseline (s) | ours / baseline | ours: execute (s) | ours: export (s) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, n in cold["notebooks"].items():
            lines.append(f"| {name} | {n['ours_s']:.1f} | {n['baseline_s']:.1f} | {n['ratio']:.2f} | {n['ours_execute_s']:.1f} | {n['ours_export_s']:.1f} |")
        lines += [
            f"| **total** | **{cold['ours_s']:.1f}** | **{cold['baseline_s']:.1f}** | **{cold['ratio']:.2f}** | | |",
            "",
            f"Target ours / baseline <= {cold['target_ratio']}: {_ok(cold['met'])}. Runs (s): ours {', '.join(f'{x:.1f}' for x in cold['ours_runs_s'])}; "
            f"baseline {', '.join(f'{x:.1f}' for x in cold['baseline_runs_s'])}. A notebook's time in our build runs from its execution start to its PDF; "
            "its export overlaps the next notebook's execution, so the rows add up to more than the total.",
            "",
        ]
    if cold and cold.get("critical_path"):
        cp = cold["critical_path"]
        lines += [f"Critical path: {cp['notebook']} executes in {cp['execute_s']:.1f} s; the whole cold build takes "
                  f"{cp['overhead_s']:.1f} s more (start-up, the last export, the merge; target <= {cp['target_overhead_s']:.0f} s: "
                  f"{_ok(cp['met'])}).", ""]
    en = report.get("engines")
    if en:
        lines += ["## PDF engines on the same executed notebooks (seconds per export, medians)", "",
                  "| notebook | " + " | ".join(en["engines"]) + (" | typst / latex |" if "latex" in en["engines"] else " |"),
                  "|---|" + "---:|" * (len(en["engines"]) + ("latex" in en["engines"]))]
        for name, entry in en["notebooks"].items():
            ratio = f" | {entry['typst_over_latex']:.3f} ({_ok(entry['met'])})" if "typst_over_latex" in entry else ""
            lines.append(f"| {name} | " + " | ".join(f"{entry[e]:.2f}" for e in en["engines"]) + ratio + " |")
        lines += ["", f"Target: the Typst engine's export <= {en['target_ratio']} x the LaTeX engine's, per notebook. "
                  "Each export reads the executed notebook and builds a fresh exporter, after one untimed export per engine "
                  "(imports, compiled templates); the Typst engine's Markdown cache is off.", ""]
        if en.get("page2", {}).get("side_by_side"):
            lines += [f"Page 2 of the first notebook, engine by engine ({', '.join(e for e in en['page2'] if e != 'side_by_side')}):", "",
                      f"![page 2 by engine]({en['page2']['side_by_side']})", ""]
    rb = report.get("rebuild")
    if rb:
        lines += [
            "## Rebuilds",
            "",
            f"- Nothing changed: {rb['noop']['median_s']:.2f} s (target < {rb['noop']['target_s']:.0f} s: {_ok(rb['noop']['met'])}).",
            f"- One notebook edited ({rb['one_changed']['notebook']}): {rb['one_changed']['median_s']:.1f} s; re-executed: {', '.join(rb['one_changed']['reexecuted'])}.",
            "",
        ]
    if report.get("training_skipped"):
        lines += ["## Training", "", f"Skipped: {report['training_skipped']}.", ""]
    tr = report.get("training")
    if tr:
        best, ref = tr["best"], tr["reference"]
        lines += [
            f"## Training (Problem 3, on {tr['device']}, torch threads: {tr['torch_threads']}, seed {tr['seed']})",
            "",
            "| model | test accuracy | training time (s) | steps | parameters |",
            "|---|---:|---:|---:|---:|",
            f"| best CNN (the notebook's, in the cold build) | {best['test_accuracy']:.1f}% | {best['train_s']:.1f} | | "
            f"{best['params'] if best['params'] is not None else ''} |",
            f"| published CNN setup (`train_reference_cnn`) | {ref['test_accuracy']:.1f}% | {ref['train_s']:.1f} | "
            f"{ref['steps']} | {ref['params']:,} |",
            "",
            f"Best CNN's training time / the published setup's: {tr['time_ratio']:.2f}. Target: test accuracy >= "
            f"{tr['targets']['best_test_accuracy']:.1f}% in <= {tr['targets']['time_ratio']} of the published setup's time: "
            f"{_ok(tr['met'])}.",
            "",
        ]
        if tr["notebook_tested"]:
            lines += [
                f"Every final model of Problem 3, tested once in the (last) cold build ({tr['notebook_results']}):",
                "",
                "| final model | test accuracy |",
                "|---|---:|",
            ]
            lines += [f"| {name} | {acc:.1f}% |" for name, acc in tr["notebook_tested"].items()]
            lines.append("")
    pr = report.get("profile")
    if pr:
        lines += [
            "## Where a cold build's time goes",
            "",
            f"- Python start: {pr['python_start_s']:.2f} s; importing numpy, torch, matplotlib and helpers: {pr['notebook_imports_s']:.2f} s (once per kernel); "
            f"importing papermill and nbconvert: {pr['build_tool_imports_s']:.2f} s (once per process).",
            f"- Starting a fresh kernel up to its first statement: {pr['kernel_start_s']:.2f} s (once per notebook, in both builds).",
            "- The baseline's PDF export alone (nbconvert's default template, three LaTeX passes): "
            + ", ".join(f"{n} {v:.1f} s" for n, v in pr["baseline_export_only_s"].items()) + ".",
            "",
        ]
    fs = report.get("fresh_setup")
    lines += ["## Fresh set-up", ""]
    if fs:
        setup = f"; of which set-up (`make setup`) {fs['setup_s']:.0f} s" if fs.get("setup_s") else ""
        lines += [f"From `git clone` (commit {fs['commit'][:10]}) without `.venv` to a finished `make pdf`: {fs['total_s']:.0f} s{setup}. "
                  "TeX is not included (a system prerequisite); pip downloads count unless they were cached.", ""]
    else:
        lines += ["Not measured in this run (`python -m workbook bench --fresh-setup` measures it; it takes minutes).", ""]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------


def parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workbook bench", description="Measure how fast the workbook builds and trains, against its baselines.")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each measurement (medians are reported; default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: notebooks in quick mode, a few training steps (figures meaningless)")
    parser.add_argument("--only", action="append", choices=paths.NOTEBOOK_NAMES, help="benchmark only this notebook (repeatable)")
    parser.add_argument("--changed", choices=paths.NOTEBOOK_NAMES, help="the notebook to edit for the one-changed rebuild (default: the first one benchmarked)")
    parser.add_argument("--device", default="auto", help="device for the training part (auto, cpu, cuda, mps)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training part")
    parser.add_argument("--threads", type=int, help="torch threads of the training part (default: torch's own choice, usually the core count)")
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold builds, rebuilds and profile")
    parser.add_argument("--skip-training", action="store_true", help="skip the training part")
    parser.add_argument("--skip-profile", action="store_true", help="skip the profile of where a cold build's time goes")
    parser.add_argument("--fresh-setup", action="store_true", help="also time a fresh clone without .venv to a finished make pdf (minutes)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.names = tuple(n for n in paths.NOTEBOOK_NAMES if n in (args.only or paths.NOTEBOOK_NAMES))
    if args.changed and args.changed not in args.names:
        parser.error(f"--changed={args.changed} is not among the notebooks benchmarked")
    args.changed = args.changed or args.names[0]
    return args


def log(message: str) -> None:
    print(message, flush=True)


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"repeats": args.repeats, "quick": args.quick, "notebooks": list(args.names), "seed": args.seed, "device": args.device, "threads": args.threads},
    }
    log(f"machine: {describe_machine(report['machine'])}")
    ws = Workspace(args.names, args.quick)
    try:
        notebook_results = None
        if not args.skip_cold:
            log(f"cold builds ({args.repeats} of each, alternating) of {', '.join(args.names)}")
            report["cold_build"], build = cold_builds(ws, args.repeats, log)
            notebook_results = build / "results" / f"{MNIST1D_NOTEBOOK}.json"
            log("rebuilds")
            report["rebuild"] = rebuilds(ws, build, args.changed, args.repeats, log)
            if not args.skip_profile:
                log("profile")
                report["profile"] = profile(ws, build, log)
        if not args.skip_cold:
            log(f"PDF engines on the cold build's executed notebooks ({args.repeats} of each, alternating)")
            report["engines"] = engines(build, args.names, args.repeats, log)
        if not args.skip_training and importlib.util.find_spec("instructor") is None:
            # the student release has no instructor package, so no published setup to train against
            log("training: skipped (the published setup is in the instructor package, which is not here)")
            report["training_skipped"] = "the instructor package (the published setup) is not in this folder"
        elif not args.skip_training:
            log(f"training ({args.repeats} of each, alternating)")
            report["training"] = training(args.repeats, args.quick, args.device, args.seed, log, notebook_results, args.threads)
        if args.fresh_setup:
            log("fresh set-up")
            report["fresh_setup"] = fresh_setup(log)
    except BenchError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: no report written", file=sys.stderr)
        return 130
    finally:
        ws.cleanup()
    report["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    out = paths.build_dir()
    text = markdown(report)
    write_json(out / "bench.json", report)
    atomic_write(out / "bench.md", lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    log("\n" + text)
    log(f"written: {out / 'bench.json'} and {out / 'bench.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
