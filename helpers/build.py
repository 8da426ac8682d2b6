"""The build: execute the notebooks, check them, export them, merge the submission.

Usage (the Makefile calls exactly this; it also works without make)::

    python -m helpers.build run   [--quick=0|1] [--seed=N] [--device=auto|cpu|cuda|mps]
    python -m helpers.build check [same options]
    python -m helpers.build pdf   [same options] [--strict=0|1]
    python -m helpers.build zip   [same options] [--strict=0|1]
    python -m helpers.build blank [--force=0|1]
    python -m helpers.build lab

Work is skipped when its inputs did not change: each step records a content
hash of everything it read next to what it wrote (``*.inputs.json``), so
``make pdf`` with nothing changed does no work. Every output is written to a
temporary file in the same folder and renamed into place, so a failure or
Ctrl-C never leaves a half-written file and never destroys an earlier good one.

This module imports papermill, nbconvert and pypdf only when there is work for
them; a no-op rebuild stays well under a second.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from . import paths

#: helpers modules that notebooks never import: editing them re-runs no notebook.
BUILD_ONLY_MODULES = {"build.py", "exercises.py", "export.py", "submission.py", "lab.py", "bench.py"}
#: Packages the build needs; checked up front so a broken environment gets one clear message.
REQUIRED_MODULES = ("papermill", "nbformat", "nbconvert", "nbclient", "pypdf", "ipykernel", "matplotlib", "numpy", "torch")
CELL_TIMEOUT_S = 900

# nbformat validates notebooks with jsonschema, and jsonschema's optional checker for the "iri"
# string format imports rfc3987_syntax, which compiles a grammar on import: about 2 s in every
# build process (the build, each executing and each exporting worker), for a format that no
# notebook schema uses. Marking the module absent makes jsonschema skip that one checker; only
# this process and the workers it forks are affected (JupyterLab and the kernels are separate
# processes). tests/test_build.py checks that notebooks are still validated.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


class BuildError(RuntimeError):
    """A build step failed; the message names the problem and the fix."""


# --- small file utilities -----------------------------------------------------------------------


def file_hash(*parts: bytes | str) -> str:
    """SHA-256 over several byte strings (each length-prefixed, so boundaries count)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def atomic_write(target: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``target``, then rename it into place.

    If ``write`` fails or is interrupted, the temporary file is removed and
    ``target`` is left exactly as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix + ".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(target: Path, data: Any) -> None:
    atomic_write(target, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8"))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check_environment() -> None:
    """Fail with one clear message when the environment lacks a package the build needs."""
    def importable(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    missing = [name for name in REQUIRED_MODULES if not importable(name)]
    if missing:
        raise BuildError(
            f"the environment is missing the package(s) {', '.join(missing)} (Python: {sys.executable}).\n"
            "Fix: run `make setup` (or delete .venv/.installed and run it) to install the pinned requirements."
        )


def check_build_dir_writable(build: Path) -> None:
    try:
        build.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=build, prefix=".write-test.", delete=True)
        probe.close()
    except OSError as err:
        raise BuildError(
            f"cannot write to the build directory {build}: {err.strerror}.\n"
            f"Fix: make it writable (`chmod -R u+w {build}`) or build elsewhere with WORKBOOK_BUILD_DIR=/some/writable/dir."
        ) from err


# --- options and inputs -------------------------------------------------------------------------


@dataclass
class Options:
    quick: bool = False
    seed: int = 0
    device: str = "auto"
    strict: bool = False
    force: bool = False
    notebooks: tuple[str, ...] = paths.NOTEBOOK_NAMES

    @property
    def parameters(self) -> dict[str, Any]:
        return {"quick": self.quick, "seed": self.seed, "device": self.device}


def helpers_fingerprint() -> str:
    """Hash of the helpers modules that notebooks may import."""
    files = sorted(p for p in paths.HELPERS.glob("*.py") if p.name not in BUILD_ONLY_MODULES)
    return file_hash(*(f"{p.name}\0".encode() + p.read_bytes() for p in files))


def data_fingerprint() -> str:
    """Hash of every shipped data file (so a corrupted file re-runs, and fails, the notebooks)."""
    files = sorted(p for p in paths.DATA.iterdir() if p.is_file() and not p.name.startswith("."))
    return file_hash(*(f"{p.name}\0".encode() + p.read_bytes() for p in files))


def notebook_source(name: str) -> Path:
    return paths.NOTEBOOKS / f"{name}.ipynb"


def load_notebook_json(path: Path) -> dict[str, Any]:
    """Read a notebook as JSON, with a clear error when the file is not a notebook."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise BuildError(f"notebook missing: {path}.\nFix: restore it with `git checkout -- {path.relative_to(paths.ROOT)}`.") from err
    try:
        nb = json.loads(text)
    except ValueError as err:
        raise BuildError(
            f"{path.name} is not a valid notebook: broken JSON at line {getattr(err, 'lineno', '?')}, column {getattr(err, 'colno', '?')} ({getattr(err, 'msg', err)}).\n"
            f"Fix: open it in JupyterLab's text editor and repair it, or restore the last committed version with `git checkout -- notebooks/{path.name}` (that discards your changes to it)."
        ) from err
    if not isinstance(nb, dict) or "cells" not in nb:
        raise BuildError(f"{path.name} is JSON but not a notebook (no 'cells').\nFix: restore it with `git checkout -- notebooks/{path.name}`.")
    return nb


# --- executing --------------------------------------------------------------------------------


@dataclass
class Executed:
    """An executed notebook, ready to export."""

    name: str
    path: Path


@dataclass
class ExecutionFailure:
    name: str
    message: str


def executed_dir() -> Path:
    return paths.build_dir() / "executed"


def execution_inputs(name: str, options: Options, common: dict[str, str]) -> dict[str, Any]:
    return {
        "notebook": file_hash(notebook_source(name).read_bytes()),
        "parameters": options.parameters,
        **common,
    }


def _injected_before(executed: Path, cell_index: int) -> bool:
    """Whether papermill inserted its parameters cell before cell ``cell_index`` of ``executed``."""
    nb = read_json(executed) or {}
    for index, cell in enumerate(nb.get("cells", [])[:cell_index]):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            return True
    return False


def _describe_failure(name: str, err: Exception, failed_copy: Path) -> str:
    """One message naming the notebook, the cell and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        first_line = next((ln for ln in err.source.splitlines() if ln.strip()), "")
        # papermill counts its injected-parameters cell; number cells as the student's notebook does
        cell = err.cell_index + (0 if _injected_before(failed_copy, err.cell_index) else 1)
        message = (
            f"{name}.ipynb failed in cell {cell} (In [{err.exec_count}]: {first_line.strip()[:70]})\n"
            f"  {err.ename}: {err.evalue}"
        )
        if err.ename == "NotImplementedError":
            message += "\n  This is an exercise that is not filled in yet: write its solution, then run the build again."
        elif err.ename == "CheckFailed":
            message += "\n  A check failed: the line above says what was compared; fix the exercise before it."
        elif err.ename == "DataError":
            message += "\n  See the data error above for how to restore the file."
    else:
        message = f"{name}.ipynb could not be executed: {type(err).__name__}: {err}"
    return message + f"\n  The executed copy with the full traceback: {failed_copy}"


def execute(name: str, options: Options, inputs: dict[str, Any]) -> float:
    """Execute one notebook with papermill in a fresh kernel; returns seconds taken."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    out_dir = executed_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.ipynb"
    failed_copy = out_dir / f"{name}.failed.ipynb"
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp.ipynb")
    os.close(fd)
    tmp = Path(tmp_name)
    print(f"  {name}: executing ...", flush=True)  # from the worker, when it starts (the benchmark times from here)
    start = time.perf_counter()
    os.environ["WORKBOOK_BUILD_DIR"] = str(paths.build_dir())  # the kernel inherits it
    try:
        papermill.execute_notebook(
            str(notebook_source(name)),
            str(tmp),
            parameters=options.parameters,
            kernel_name=paths.KERNEL_NAME,
            cwd=str(paths.NOTEBOOKS),
            progress_bar=False,
            execution_timeout=CELL_TIMEOUT_S,
            # papermill would otherwise rewrite the whole notebook, images included, before and after every
            # cell: about 0.1 s a cell. It still writes the notebook once at the end, and on a cell's error.
            request_save_on_cell_execute=False,
            # Once the last cell has run, its outputs are collected and every file the notebook writes is
            # already in place (atomic writes), so the kernel is stopped at once instead of waiting for
            # Python to tear down torch and matplotlib: 3 s less per notebook (make bench, 2 cores).
            shutdown_kernel="immediate",
        )
    except NoSuchKernel as err:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"the Jupyter kernel '{paths.KERNEL_NAME}' is not installed.\nFix: run `make setup`.") from err
    except BaseException as err:
        if tmp.exists() and tmp.stat().st_size and not isinstance(err, KeyboardInterrupt):
            os.replace(tmp, failed_copy)
        tmp.unlink(missing_ok=True)
        if isinstance(err, Exception) and not isinstance(err, BuildError):
            raise BuildError(_describe_failure(name, err, failed_copy)) from err
        raise
    os.replace(tmp, target)
    failed_copy.unlink(missing_ok=True)
    write_json(out_dir / f"{name}.inputs.json", inputs)
    return time.perf_counter() - start


def parallel_jobs(count: int) -> int:
    """How many notebooks to execute at once: ``$WORKBOOK_JOBS``, else one per CPU core."""
    wanted = int(os.environ.get("WORKBOOK_JOBS", "0") or 0) or (os.cpu_count() or 1)
    return max(1, min(wanted, count))


def _timings_path() -> Path:
    return executed_dir() / "timings.json"


#: Full-mode execution seconds on 2 CPU cores (make bench, 2026-11-27): the order of a cold build,
#: before build/executed/timings.json holds this machine's own times. The slowest notebook must
#: start first, or it starts last and the whole build waits for it.
TYPICAL_SECONDS = {"03_exercise_mnist1d": 54.0, "01_inclass_pytorch": 19.0, "02_homework_linear_vs_relu": 9.0}


def slowest_first(names: Iterable[str], timings: dict[str, Any]) -> list[str]:
    """``names`` ordered by their last recorded execution time, else their typical one, slowest first."""
    def expected(name: str) -> float:
        return float(timings.get(name, TYPICAL_SECONDS.get(name, 0.0)))

    return sorted(names, key=lambda n: -expected(n))


def run(options: Options, on_executed: Callable[[Executed], None] | None = None) -> tuple[list[Executed], list[ExecutionFailure]]:
    """Execute every notebook whose inputs changed. Keeps going after a failure, so all are reported.

    Notebooks that need executing run in parallel, one per CPU core, the
    slowest (by its last recorded time) first; each kernel is then limited to
    one BLAS/OpenMP thread so that the kernels do not fight over the cores.
    ``on_executed`` is called as each notebook is ready (to start its export).
    """
    common = {
        "helpers": helpers_fingerprint(),
        "data": data_fingerprint(),
        "requirements": file_hash(paths.REQUIREMENTS.read_bytes()),
    }
    results: dict[str, Executed] = {}
    failures: dict[str, ExecutionFailure] = {}
    todo: dict[str, dict[str, Any]] = {}
    for name in options.notebooks:
        try:
            load_notebook_json(notebook_source(name))  # a broken file is reported before papermill sees it
        except BuildError as err:
            failures[name] = ExecutionFailure(name, str(err))
            print(f"  {name}: FAILED (not a valid notebook)", flush=True)
            continue
        inputs = execution_inputs(name, options, common)
        target = executed_dir() / f"{name}.ipynb"
        if target.exists() and read_json(executed_dir() / f"{name}.inputs.json") == inputs:
            results[name] = Executed(name, target)
            print(f"  {name}: up to date", flush=True)
            if on_executed:
                on_executed(results[name])
        else:
            todo[name] = inputs
    if todo:
        timings = read_json(_timings_path()) or {}
        order = slowest_first(todo, timings)
        jobs = parallel_jobs(len(order))
        if jobs > 1:
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ.setdefault(var, "1")  # inherited by every kernel
        print(f"  {len(order)} notebook(s) to execute, {jobs} at a time: {', '.join(order)}", flush=True)
        pool = ProcessPoolExecutor(max_workers=jobs)
        try:
            futures = {pool.submit(execute, name, options, todo[name]): name for name in order}
            from concurrent.futures import as_completed

            for future in as_completed(futures):
                name = futures[future]
                try:
                    seconds = future.result()
                except BuildError as err:
                    failures[name] = ExecutionFailure(name, str(err))
                    print(f"  {name}: FAILED", flush=True)
                    continue
                target = executed_dir() / f"{name}.ipynb"
                results[name] = Executed(name, target)
                timings[name] = round(seconds, 2)
                print(f"  {name}: executed in {seconds:.1f} s -> {target}", flush=True)
                if on_executed:
                    on_executed(results[name])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        write_json(_timings_path(), timings)
    done = [results[n] for n in options.notebooks if n in results]
    return done, [failures[n] for n in options.notebooks if n in failures]


# --- the commands -----------------------------------------------------------------------------


def _fail(failures: list[ExecutionFailure]) -> None:
    raise BuildError("\n\n".join(f.message for f in failures))


def _details(failures: list[ExecutionFailure]) -> str:
    return "".join(f.message + "\n\n" for f in failures)


def cmd_run(options: Options) -> None:
    print(f"executing notebooks (quick={options.quick}, seed={options.seed}, device={options.device}) into {executed_dir()}")
    _, failures = run(options)
    if failures:
        _fail(failures)


def cmd_check(options: Options) -> None:
    from . import submission

    _, failures = run(options)
    report = submission.check_notebooks(options, failures)
    print(report.table())
    if not report.ok:
        raise BuildError(_details(failures) + report.summary())


def cmd_pdf(options: Options) -> Path:
    from . import export, submission

    engine = export.choose_engine()  # fail before any work when no PDF engine exists
    print(f"PDF engine: {engine.description}")
    config = submission.load_config(strict=options.strict)
    pool = ProcessPoolExecutor(max_workers=2)
    exports: dict[str, Future] = {}

    def start_export(result: Executed) -> None:  # export a notebook while the next one executes
        exports[result.name] = pool.submit(export.export_notebook, result.path, engine.name, config.metadata())

    try:
        _, failures = run(options, on_executed=start_export)
        report = submission.check_notebooks(options, failures)
        print(report.table())
        if not report.ok:
            raise BuildError(_details(failures) + report.summary() + submission.stale_note())
        pdfs = []
        for name in options.notebooks:
            try:
                pdfs.append(exports[name].result())
            except export.ExportError as err:
                raise BuildError(str(err) + submission.stale_note()) from err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    target = submission.merge(pdfs, config, report)
    print(f"submission written: {target}")
    return target


def cmd_zip(options: Options) -> None:
    from . import submission

    pdf = cmd_pdf(options)
    target = submission.make_zip(pdf, [executed_dir() / f"{n}.ipynb" for n in options.notebooks])
    print(f"zip written: {target}")


def cmd_blank(options: Options) -> None:
    from . import submission

    submission.write_blanks(force=options.force)


def _flag(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise argparse.ArgumentTypeError(f"expected 0 or 1, got {value!r}")


def parse_args(argv: Iterable[str] | None) -> tuple[str, Options]:
    parser = argparse.ArgumentParser(prog="python -m helpers.build", description="Build the Deep Learning II workbook.")
    parser.add_argument("command", choices=["run", "check", "pdf", "zip", "blank", "lab", "configure-lab"])
    parser.add_argument("--quick", type=_flag, default=False, help="fast smoke mode (0 or 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda or mps")
    parser.add_argument("--strict", type=_flag, default=False, help="treat missing student names as an error")
    parser.add_argument("--force", type=_flag, default=False, help="blank: overwrite copies you have edited")
    parser.add_argument("--only", action="append", choices=paths.NOTEBOOK_NAMES, help="build only this notebook (repeatable)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.device not in {"auto", "cpu", "cuda", "mps"} and not args.device.startswith("cuda:"):
        parser.error(f"--device={args.device!r}: use auto, cpu, cuda, cuda:N or mps")
    options = Options(args.quick, args.seed, args.device, args.strict, args.force, tuple(args.only or paths.NOTEBOOK_NAMES))
    return args.command, options


def main(argv: Iterable[str] | None = None) -> int:
    command, options = parse_args(argv)
    if command in {"lab", "configure-lab"}:
        from . import lab

        return lab.serve() if command == "lab" else (lab.configure() or 0)
    start = time.perf_counter()
    try:
        if command != "blank":
            check_environment()
        check_build_dir_writable(paths.build_dir())
        {"run": cmd_run, "check": cmd_check, "pdf": cmd_pdf, "zip": cmd_zip, "blank": cmd_blank}[command](options)
    except BuildError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: nothing half-written was kept; earlier outputs are unchanged. Run the same command again to finish.", file=sys.stderr)
        return 130
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
