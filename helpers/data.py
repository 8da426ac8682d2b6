"""The shipped data sets, loaded only after their SHA-256 checksum is verified.

Every file in ``data/`` is listed in ``data/SHA256SUMS`` (the format of
``sha256sum``, so ``cd data && sha256sum -c SHA256SUMS`` works too). Loading
never uses pickle: arrays are read with ``allow_pickle=False``.

``make data`` (``python -m workbook data``, the build tool's :mod:`workbook.data`)
rebuilds ``data/mnist1d.npz`` from the ``mnist1d`` package and checks that the
rebuild matches the shipped arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import paths
from .files import sha256

MNIST1D_FILE = "mnist1d.npz"
MNIST1D_ARRAYS = ("x", "y", "x_test", "y_test", "t")
CHECKSUM_FILE = "SHA256SUMS"


class DataError(RuntimeError):
    """A data file is missing or is not the file the workbook was built with."""


def expected_checksums(data_dir: Path | None = None) -> dict[str, str]:
    """File name -> SHA-256, as recorded in ``data/SHA256SUMS``."""
    sums_file = (data_dir or paths.DATA) / CHECKSUM_FILE
    if not sums_file.is_file():
        raise DataError(
            f"checksum file missing: {sums_file} (it records which data files are the right ones)\n"
            f"Fix: restore it with `git checkout -- data/{CHECKSUM_FILE}`, or copy it from the workbook you downloaded."
        )
    sums = {}
    for line in sums_file.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def verified_path(name: str, data_dir: Path | None = None) -> Path:
    """Return ``data/<name>`` after checking that it exists and its checksum matches.

    Raises :class:`DataError` naming the file, the expected and the actual
    checksum, and the command that restores it.
    """
    data_dir = data_dir or paths.DATA
    path = data_dir / name
    expected = expected_checksums(data_dir).get(name)
    if expected is None:
        raise DataError(f"{name} is not listed in {data_dir / CHECKSUM_FILE}; only listed files can be loaded.")
    if not path.is_file():
        raise DataError(
            f"data file missing: {path}\n"
            f"  expected SHA-256: {expected}\n"
            f"  actual:           (no file)\n"
            f"Fix: restore it with `git checkout -- data/{name}` (or copy it from the workbook you downloaded);\n"
            "  or run `make data`, which restores it when this machine rebuilds the recorded bytes."
        )
    actual = sha256(path)
    if actual != expected:
        raise DataError(
            f"data file corrupted: {path} does not match its recorded checksum\n"
            f"  expected SHA-256: {expected}\n"
            f"  actual SHA-256:   {actual}\n"
            f"Fix: restore it with `git checkout -- data/{name}` (or copy it from the workbook you downloaded);\n"
            "  or run `make data`, which restores it when this machine rebuilds the recorded bytes."
        )
    return path


def load_mnist1d(data_dir: Path | None = None) -> dict[str, np.ndarray]:
    """Load MNIST-1D (Greydanus and Kobak, ICML 2024) from ``data/mnist1d.npz``.

    Returns a dict of NumPy arrays:

    - ``x``      (4000, 40) float64, training signals
    - ``y``      (4000,)    int64, training labels 0..9
    - ``x_test`` (1000, 40) float64, test signals
    - ``y_test`` (1000,)    int64, test labels
    - ``t``      (40,)      float64, the positions the signals are sampled at
    """
    path = verified_path(MNIST1D_FILE, data_dir)
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in MNIST1D_ARRAYS}
