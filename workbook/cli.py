"""The command line: ``python -m workbook COMMAND [options]`` (the Makefile calls exactly this).

Arguments only: each command is carried out by its module, and every error a
user can cause arrives here as a :class:`~workbook.errors.WorkbookError` and is
printed as one ``error:`` block with the fix, with a non-zero exit and no traceback.

    python -m workbook run    [--quick=0|1] [--seed=N] [--device=auto|cpu|cuda|mps] [--only NAME]
    python -m workbook check  [same options]
    python -m workbook pdf    [same options] [--strict=0|1] [--partial=0|1]
    python -m workbook zip    [same options] [--strict=0|1] [--partial=0|1]
    python -m workbook blank  [--force=0|1]
    python -m workbook lab    [--port N] [--token T] [--root DIR]
    python -m workbook configure-lab
    python -m workbook bench  [bench options; --help lists them]
    python -m workbook portability [grid options; --help lists them]
    python -m workbook release
    python -m workbook data   [--write]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from typing import Iterable

from helpers import paths

from .errors import WorkbookError
from .options import Options

BUILD_COMMANDS = ("run", "check", "pdf", "zip", "blank")
PASS_THROUGH = ("lab", "configure-lab", "bench", "release", "portability", "data")


def _flag(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise argparse.ArgumentTypeError(f"expected 0 or 1, got {value!r}")


def parse_args(argv: list[str]) -> tuple[str, Options]:
    parser = argparse.ArgumentParser(prog="python -m workbook", description="Build the Deep Learning II workbook.")
    parser.add_argument("command", choices=BUILD_COMMANDS + PASS_THROUGH)
    parser.add_argument("--quick", type=_flag, default=False, help="fast smoke mode (0 or 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda or mps")
    parser.add_argument("--strict", type=_flag, default=False, help="treat missing student names as an error")
    parser.add_argument("--force", type=_flag, default=False, help="blank: overwrite copies you have edited")
    parser.add_argument("--partial", type=_flag, default=False,
                        help="pdf/zip: hand in what there is; unfinished exercises are marked in the PDF")
    parser.add_argument("--only", action="append", choices=paths.NOTEBOOK_NAMES, help="build only this notebook (repeatable)")
    args = parser.parse_args(argv)
    if args.device not in {"auto", "cpu", "cuda", "mps"} and not args.device.startswith("cuda:"):
        parser.error(f"--device={args.device!r}: use auto, cpu, cuda, cuda:N or mps")
    only = tuple(args.only or paths.NOTEBOOK_NAMES)
    return args.command, Options(args.quick, args.seed, args.device, args.strict, args.force, args.partial, only)


def main(argv: Iterable[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASS_THROUGH:
        command, rest = argv[0], argv[1:]
        if command == "bench":
            from . import bench

            return bench.main(rest)
        if command == "portability":
            from . import portability

            return portability.main(rest)
        if command == "release":
            from . import release

            return release.main(rest)
        if command == "data":
            from . import data

            return data.main(rest)
        from . import lab

        return lab.main(rest + (["--configure"] if command == "configure-lab" else []))
    command, options = parse_args(argv)
    from . import commands
    from .events import Reporter

    reporter = Reporter()
    start = time.perf_counter()
    try:
        if command != "blank":
            commands.check_environment()
            commands.check_folder(reporter)
        commands.check_build_dir_writable(paths.build_dir())
        commands.COMMANDS[command](options, reporter)
    except WorkbookError as err:
        reporter.close()
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # a bug, not the user's doing: one message, the details in a file
        reporter.close()
        log = paths.build_dir() / "internal-error.txt"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc(), encoding="utf-8")
            where = f"The details are in {log}; please send that file to your course's staff."
        except OSError:
            where = "Run the command again with PYTHONDEVMODE=1 to see the details."
        print(f"\nerror: the build stopped on an internal error ({type(err).__name__}: {err}).\n{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        reporter.close()
        print("\ninterrupted: nothing half-written was kept; earlier outputs are unchanged. "
              "Run the same command again to finish.", file=sys.stderr)
        return 130
    finally:
        if command != "blank" and reporter.events:
            commands.save_record(command, options, reporter)
    reporter.close()
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
