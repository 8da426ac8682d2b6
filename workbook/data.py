"""``make data``: rebuild ``data/mnist1d.npz`` from the ``mnist1d`` package and compare it
with the shipped arrays (within :data:`REBUILD_RTOL`, relative), or replace it with ``--write``.
A missing or corrupted shipped file is restored from the rebuild when the rebuild's bytes are the
recorded ones (on the kind of CPU that made them).

Build tooling: notebooks only load the shipped file (:mod:`helpers.data`).
"""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

from helpers import paths
from helpers.data import (
    CHECKSUM_FILE, MNIST1D_ARRAYS, MNIST1D_FILE, DataError, expected_checksums, load_mnist1d, verified_path,
)
from helpers.files import atomic_write, sha256


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as an uncompressed .npz whose bytes depend only on the arrays.

    (Fixed member order and ZIP timestamps, so a rebuild is byte-identical and
    its checksum can be compared with the shipped one.)
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in MNIST1D_ARRAYS:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())
    return out.getvalue()


def make_mnist1d() -> dict[str, np.ndarray]:
    """Build MNIST-1D with the ``mnist1d`` package's default arguments (seed 42)."""
    from mnist1d.data import get_dataset_args, make_dataset  # builds locally, never downloads

    dataset = make_dataset(get_dataset_args())
    return {
        "x": dataset["x"].astype(np.float64),
        "y": dataset["y"].astype(np.int64),
        "x_test": dataset["x_test"].astype(np.float64),
        "y_test": dataset["y_test"].astype(np.int64),
        "t": np.asarray(dataset["t"], dtype=np.float64),
    }


#: How far a rebuild may differ from the shipped arrays. The generator's floating-point
#: arithmetic differs in the last bits between CPUs (vector width, BLAS kernels), so a
#: rebuild on another machine is not byte-identical; 1e-12 relative is far below anything
#: a model could notice and far above those last-bit differences (2e-14 seen between an
#: AMD and an Intel CPU).
REBUILD_RTOL = 1e-12


def max_rel_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|b|, tiny) over all entries; 0.0 for identical integer arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = np.maximum(np.abs(b), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0


def compare_with_shipped(arrays: dict[str, np.ndarray], data_dir: Path | None = None) -> dict[str, float]:
    """Max relative difference, per array, between ``arrays`` and the shipped (checksum-verified) file."""
    shipped = load_mnist1d(data_dir)
    return {key: max_rel_difference(arrays[key], shipped[key]) for key in MNIST1D_ARRAYS}


def rebuild_mnist1d(data_dir: Path | None = None, *, write: bool = False) -> int:
    """Rebuild MNIST-1D and compare it with the shipped file. Returns an exit code.

    The rebuild passes when every array agrees with the shipped one within
    :data:`REBUILD_RTOL` (relative), not byte for byte: see that constant. With
    ``write=True`` the rebuild replaces the shipped file (atomically) and the
    checksum file is updated; use this only when changing how the data is made.
    """
    data_dir = data_dir or paths.DATA
    target = data_dir / MNIST1D_FILE
    arrays = make_mnist1d()
    shapes = ", ".join(f"{k} {arrays[k].shape}" for k in MNIST1D_ARRAYS)
    print(f"rebuilt MNIST-1D from the mnist1d package: {shapes}")
    if write:
        blob = _npz_bytes(arrays)
        atomic_write(target, lambda tmp: tmp.write_bytes(blob))
        sums_path = data_dir / CHECKSUM_FILE
        sums = expected_checksums(data_dir) if sums_path.is_file() else {}
        sums[MNIST1D_FILE] = sha256(target)
        text = "".join(f"{v}  {k}\n" for k, v in sorted(sums.items()))
        atomic_write(sums_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        print(f"wrote {target} and {sums_path}")
        return 0
    try:
        verified_path(MNIST1D_FILE, data_dir)
    except DataError as err:  # missing or corrupted: nothing to compare with; restore it if we can
        return _restore(target, arrays, data_dir, str(err).splitlines()[0])
    differences = compare_with_shipped(arrays, data_dir)
    worst = max(differences, key=differences.get)
    verdict = differences[worst] <= REBUILD_RTOL
    print(f"{'[PASS]' if verdict else '[FAIL]'} rebuild vs {target.name}: max relative difference "
          f"{differences[worst]:.1e} (in {worst!r}) <= {REBUILD_RTOL:.0e}")
    if verdict:
        return 0
    print(
        f"The rebuild differs from {target.name} by more than rounding. "
        "A different numpy/scipy/mnist1d version can change the generated signals; "
        "install the pinned environment (`make setup`) and run `make data` again.",
        file=sys.stderr,
    )
    return 1


def _restore(target: Path, arrays: dict[str, np.ndarray], data_dir: Path, problem: str) -> int:
    """Put the rebuild in place of a missing or corrupted shipped file, but only when its bytes
    are the recorded ones (its SHA-256 matches ``SHA256SUMS``): then it *is* the shipped file.

    A rebuild on another kind of CPU differs in the last bits, so its checksum differs; it is
    not written (the checksum guards the shipped file, not this machine's rebuild).
    """
    sums = data_dir / CHECKSUM_FILE
    expected = expected_checksums(data_dir).get(MNIST1D_FILE) if sums.is_file() else None
    if expected is None:  # nothing says which bytes are the right ones
        print(f"{problem}\nFix: restore data/ (both {MNIST1D_FILE} and {CHECKSUM_FILE}) with "
              "`git checkout -- data`, or copy it from the workbook you downloaded.", file=sys.stderr)
        return 1
    blob = _npz_bytes(arrays)  # in memory: nothing is written unless it is the recorded file
    actual = hashlib.sha256(blob).hexdigest()
    if actual == expected:
        try:
            atomic_write(target, lambda tmp: tmp.write_bytes(blob))
        except OSError as err:
            print(f"{problem}\nThe rebuild is the recorded file, but it cannot be written: {err}\n"
                  f"Fix: make {data_dir} writable and run `make data` again, or restore the file with "
                  f"`git checkout -- data/{MNIST1D_FILE}`.", file=sys.stderr)
            return 1
        print(f"{problem}\nrestored {target}: the rebuild's SHA-256 is the recorded one ({expected})")
        return 0
    print(
        f"{problem}\n"
        f"The rebuild on this machine cannot replace it: its SHA-256 ({actual}) is not the recorded\n"
        f"one ({expected}). Generating the signals on another kind of CPU changes their last bits.\n"
        f"Nothing was written. Fix: restore the file with `git checkout -- data/{MNIST1D_FILE}`, or copy\n"
        f"data/{MNIST1D_FILE} from the workbook you downloaded.",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m workbook data", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the shipped file with the rebuild")
    args = parser.parse_args(argv)
    return rebuild_mnist1d(write=args.write)

