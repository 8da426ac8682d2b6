"""``make portability``: the same checks on many machines, simulated on this one.

Floating-point results differ between CPUs (vector width, BLAS kernels),
thread counts, torch builds and GPUs. PyTorch's ``ATEN_CPU_CAPABILITY``
(``default``, ``avx2``, ``avx512``) makes it run other vectorised kernels, so
one machine stands in for several. This command executes the notebooks in full
mode over the grid

    every capability this CPU supports x seeds (0-4) x torch threads (1 and 2)

each grid point in its own build directory (``build/portability/<point>/``,
incremental like every build), and writes ``build/portability.json`` and
``build/portability.md``: for every check (figure, bound, relation, as the
notebooks record them, :data:`helpers.checks.RECORDED`) and every number in the
notebooks' key figures, the min, median and max over the grid, and each
check's margin to its bound at the worst grid point.

    python -m workbook portability [--seeds 0-4] [--threads 1,2] [--capabilities default,avx2]
                                   [--device cpu] [--only NAME] [--parallel 2] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable

from helpers import paths

from .iorw import atomic_write, read_json, write_json

CAPABILITY_ORDER = ("default", "avx2", "avx512")
#: A check holds robustly when its worst margin is at least this many standard deviations of its figure.
SIGMAS = 3.0


@dataclass(frozen=True)
class Point:
    capability: str
    seed: int
    threads: int

    @property
    def label(self) -> str:
        return f"{self.capability}-seed{self.seed}-threads{self.threads}"


def native_capability() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability().lower()


def supported_capabilities() -> list[str]:
    """``default`` and every capability up to the CPU's own (``ATEN_CPU_CAPABILITY`` cannot go above it)."""
    native = native_capability()
    if native in CAPABILITY_ORDER:
        return list(CAPABILITY_ORDER[: CAPABILITY_ORDER.index(native) + 1])
    return ["default", native] if native != "default" else ["default"]


def _int_list(text: str) -> list[int]:
    values: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            values += range(int(lo), int(hi) + 1)
        elif part.strip():
            values.append(int(part))
    return values


def run_point(point: Point, options: argparse.Namespace) -> dict[str, Any]:
    """Execute the notebooks at one grid point; its outcome and every notebook's results."""
    build = paths.build_dir() / "portability" / point.label
    env = dict(os.environ, WORKBOOK_BUILD_DIR=str(build), ATEN_CPU_CAPABILITY=point.capability,
               OMP_NUM_THREADS=str(point.threads), MKL_NUM_THREADS=str(point.threads),
               OPENBLAS_NUM_THREADS=str(point.threads), WORKBOOK_JOBS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "workbook", "run", f"--quick={int(options.quick)}", f"--seed={point.seed}",
           f"--device={options.device}", *[f"--only={n}" for n in options.names]]
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=paths.ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    results = {name: read_json(build / "results" / f"{name}.json") for name in options.names}
    return {
        "point": point.__dict__, "label": point.label, "ok": result.returncode == 0, "seconds": round(seconds, 1),
        "error": None if result.returncode == 0 else (result.stderr.strip().splitlines() or ["(no message)"])[-12:],
        "results": {k: v for k, v in results.items() if v is not None},
    }


def _numbers(node: Any, prefix: str = "") -> Iterable[tuple[str, float]]:
    """Every number in a results file, by its key path (``table/original/cnn``); the check records excluded."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not prefix and key == "checks":
                continue
            yield from _numbers(value, f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield prefix, float(node)


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "mean": statistics.fmean(values),
            "max": max(values), "std": statistics.pstdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def paper_table(points: list[dict[str, Any]], names: tuple[str, ...], band: float) -> dict[str, Any]:
    """The published table over the grid: each entry's mean, spread and distance to the paper.

    Reads every notebook's ``table/<version>/<model>`` = ``{"ours": .., "paper": ..}``. An entry is
    *within* when every single grid point is within ``band`` points of the paper's figure (then so
    are the mean and the mean over the seeds of each capability, reported beside it).
    """
    out: dict[str, Any] = {}
    for name in names:
        entries: dict[str, dict[str, Any]] = {}
        for point in points:
            table = (point["results"].get(name) or {}).get("table")
            if not isinstance(table, dict):
                continue
            capability = point.get("point", {}).get("capability", "?")
            for version, models in table.items():
                for model, cell in models.items():
                    if isinstance(cell, dict) and "ours" in cell and "paper" in cell:
                        entry = entries.setdefault(f"{version}/{model}", {"paper": cell["paper"], "values": [], "by": {}})
                        entry["values"].append(float(cell["ours"]))
                        entry["by"].setdefault(capability, []).append(float(cell["ours"]))
        if not entries:
            continue
        rows = {}
        for key, entry in entries.items():
            spread = _spread(entry["values"])
            paper = float(entry["paper"])
            worst = max(abs(v - paper) for v in entry["values"])
            by_capability = {c: statistics.fmean(v) for c, v in entry["by"].items()}
            rows[key] = {"paper": paper, **spread, "mean_distance": spread["mean"] - paper, "worst_distance": worst,
                         "mean_by_capability": by_capability,
                         "points_within": sum(abs(v - paper) <= band for v in entry["values"]),
                         "within": worst <= band}
        out[name] = {"band": band, "entries": rows}
    return out


def summarise(points: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    """Per notebook: every check over the grid (spread, worst margin, robust or not) and every figure."""
    checks: dict[str, dict[str, Any]] = {}
    figures: dict[str, dict[str, Any]] = {}
    for name in names:
        per_check: dict[str, list[dict[str, Any]]] = {}
        per_figure: dict[str, list[float]] = {}
        for point in points:
            results = point["results"].get(name)
            if not results:
                continue
            for entry in results.get("checks", []):
                per_check.setdefault(entry["name"], []).append(entry)
            for key, value in _numbers(results):
                per_figure.setdefault(key, []).append(value)
        checks[name] = {}
        for check, entries in per_check.items():
            summary: dict[str, Any] = {"runs": len(entries), "passed": sum(e["passed"] for e in entries)}
            numeric = [e for e in entries if "value" in e]
            if numeric:
                spread = _spread([e["value"] for e in numeric])
                worst = min(e["margin"] for e in numeric)
                bounds = sorted({e["bound"] for e in numeric})
                # robust: a positive margin of at least SIGMAS standard deviations at the worst point; or an
                # exact figure (no spread at all) that meets an inclusive bound, e.g. "reloaded outputs differ by <= 0"
                exact = spread["std"] == 0 and worst >= 0 and numeric[0]["relation"] in {"<=", ">="}
                summary.update(value=spread, relation=numeric[0]["relation"], bound=bounds[0] if len(bounds) == 1 else bounds,
                               worst_margin=worst, robust=summary["passed"] == summary["runs"] and (
                                   exact or (worst > 0 and worst >= SIGMAS * spread["std"])))
            else:
                summary["robust"] = summary["passed"] == summary["runs"]
            checks[name][check] = summary
        figures[name] = {key: _spread(values) for key, values in sorted(per_figure.items())}
    return {"checks": checks, "figures": figures}


def _fmt(x: Any) -> str:
    if isinstance(x, list):
        return " / ".join(_fmt(v) for v in x)
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def markdown(report: dict[str, Any]) -> str:
    grid = report["grid"]
    lines = [
        "# Portability: the same checks over many simulated machines", "",
        f"Measured {report['date']} on {report['machine']}.",
        f"Grid: ATEN_CPU_CAPABILITY in {grid['capabilities']} x seeds {grid['seeds']} x torch threads {grid['threads']}"
        f" = {len(report['points'])} points, {'quick' if grid['quick'] else 'full'} mode, device {grid['device']};"
        f" {sum(p['ok'] for p in report['points'])} of them ran every notebook without a failed check.", "",
        f"A check is **robust** when it passed at every grid point with a margin to its bound, at the worst point, that "
        f"is positive and at least {SIGMAS:g} standard deviations of its figure over the grid (or, for an exact "
        "figure with no spread at all, that meets an inclusive bound).", "",
    ]
    failed = [p for p in report["points"] if not p["ok"]]
    if failed:
        lines += ["## Grid points that failed", ""]
        for p in failed:
            lines += [f"- `{p['label']}`: " + " / ".join(p["error"][-3:])]
        lines.append("")
    for name, table in report["summary"].get("paper_table", {}).items():
        lines += [f"## {name}: the published table over the grid", "",
                  "Test accuracy (%) of each entry over the grid points that ran to the end, beside the paper's figure. "
                  f"*Within* means: every single point is within ±{table['band']:g} points of the paper (and with it the "
                  "mean and the mean over the seeds of each capability).", "",
                  "| entry | paper | mean ± std | mean by capability | min | max | worst distance | points within | within |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for key, r in table["entries"].items():
            by = ", ".join(f"{c} {m:.1f}" for c, m in r["mean_by_capability"].items())
            lines.append(f"| {key} | {r['paper']:g} | {r['mean']:.1f} ± {r['std']:.1f} | {by} | {r['min']:.1f} | "
                         f"{r['max']:.1f} | {r['worst_distance']:.1f} | {r['points_within']}/{r['n']} | "
                         f"{'yes' if r['within'] else '**NO**'} |")
        lines.append("")
    for name, checks in report["summary"]["checks"].items():
        lines += [f"## {name}", "", "| check | relation | bound | min | median | max | std | worst margin | passed | robust |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for check, s in checks.items():
            value = s.get("value")
            cells = [check.replace("|", "\\|"), s.get("relation", ""), _fmt(s.get("bound", "")),
                     *([_fmt(value["min"]), _fmt(value["median"]), _fmt(value["max"]), _fmt(value["std"])] if value else ["", "", "", ""]),
                     _fmt(s.get("worst_margin", "")), f"{s['passed']}/{s['runs']}", "yes" if s["robust"] else "**NO**"]
            lines.append("| " + " | ".join(cells) + " |")
        figures = report["summary"]["figures"].get(name, {})
        if figures:
            lines += ["", "Key figures (min / median / max over the grid):", "", "| figure | min | median | max | std |",
                      "|---|---|---|---|---|"]
            lines += [f"| {k} | {_fmt(v['min'])} | {_fmt(v['median'])} | {_fmt(v['max'])} | {_fmt(v['std'])} |"
                      for k, v in figures.items()]
        lines.append("")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workbook portability", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 0,3 (default 0-4)")
    parser.add_argument("--threads", default="1,2", help="torch thread counts (default 1,2)")
    parser.add_argument("--capabilities", default=None,
                        help="ATEN_CPU_CAPABILITY values (default: every one this CPU supports)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps: run the grid on a GPU too")
    parser.add_argument("--only", action="append", choices=paths.NOTEBOOK_NAMES, help="only this notebook (repeatable)")
    parser.add_argument("--parallel", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="grid points at a time (default: 2, or 1 on a one-core machine)")
    parser.add_argument("--quick", action="store_true", help="quick mode: proves the command runs; its figures mean little")
    args = parser.parse_args(argv)
    args.names = tuple(n for n in paths.NOTEBOOK_NAMES if n in (args.only or paths.NOTEBOOK_NAMES))
    args.seed_list, args.thread_list = _int_list(args.seeds), _int_list(args.threads)
    supported = supported_capabilities()
    args.capability_list = [c.strip() for c in args.capabilities.split(",")] if args.capabilities else supported
    unknown = [c for c in args.capability_list if c not in supported]
    if unknown:
        parser.error(f"this CPU cannot run ATEN_CPU_CAPABILITY={','.join(unknown)}; it supports {','.join(supported)}")
    return args


def unfinished_exercises(names: tuple[str, ...]) -> list[str]:
    """Exercises still blank in the notebooks (read from their sources, nothing executed): a grid over
    unfinished notebooks would fail at every point, so it does not start."""
    from . import exercises
    from .iorw import load_notebook_json, notebook_source

    found = []
    for name in names:
        try:
            found += [f"{name}: {u}" for u in exercises.unfilled(load_notebook_json(notebook_source(name)), name)]
        except exercises.RegionError as err:
            found.append(str(err).splitlines()[0])
    return found


def main(argv: Iterable[str] | None = None) -> int:
    from helpers.mnist1d import PAPER_BAND  # the published table's band (imports torch)

    from .bench import describe_machine, machine

    args = parse_args(list(argv) if argv is not None else sys.argv[1:])
    unfinished = unfinished_exercises(args.names)
    if unfinished:
        print(f"portability measures finished notebooks, and {len(unfinished)} exercise(s) are not filled in "
              f"(first: {unfinished[0]}): every grid point would fail.\nFix: finish them (`make check` lists "
              "each one), then run `make portability` again.", file=sys.stderr)
        return 1
    grid = [Point(c, s, t) for c in args.capability_list for s in args.seed_list for t in args.thread_list]
    print(f"portability grid: {len(grid)} points ({', '.join(args.capability_list)} x seeds {args.seeds} x "
          f"threads {args.threads}), {args.parallel} at a time", flush=True)
    start = time.perf_counter()
    points = []
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        for outcome in pool.map(lambda p: run_point(p, args), grid):
            points.append(outcome)
            print(f"  {outcome['label']}: {'ok' if outcome['ok'] else 'FAILED'} in {outcome['seconds']:.0f} s "
                  f"({len(points)}/{len(grid)}, {time.perf_counter() - start:.0f} s so far)", flush=True)
    report = {
        "date": dt.date.today().isoformat(),
        "machine": describe_machine(machine()),
        "grid": {"capabilities": args.capability_list, "seeds": args.seed_list, "threads": args.thread_list,
                 "quick": args.quick, "device": args.device, "notebooks": list(args.names)},
        "points": [{k: v for k, v in p.items() if k != "results"} for p in points],
        "summary": {**summarise(points, args.names), "paper_table": paper_table(points, args.names, PAPER_BAND)},
    }
    out = paths.build_dir()
    write_json(out / "portability.json", report)
    text = markdown(report)
    atomic_write(out / "portability.md", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    fragile = [f"{n}: {c}" for n, cs in report["summary"]["checks"].items() for c, s in cs.items() if not s["robust"]]
    outside = [f"{n}: {k}" for n, t in report["summary"]["paper_table"].items() for k, r in t["entries"].items()
               if not r["within"]]
    failed = [p["label"] for p in points if not p["ok"]]
    print(f"written {out / 'portability.json'} and {out / 'portability.md'} in {time.perf_counter() - start:.0f} s")
    if failed:
        print(f"FAILED grid points: {', '.join(failed)}", file=sys.stderr)
    if fragile:
        print("checks without a robust margin:\n  " + "\n  ".join(fragile), file=sys.stderr)
    if outside:
        print(f"table entries not within ±{PAPER_BAND:g} of the paper everywhere:\n  " + "\n  ".join(outside), file=sys.stderr)
    return 1 if failed or fragile or outside else 0
