"""Data: checksums verified on load, clear errors, a rebuild that matches the shipped file."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from helpers import data, paths
from workbook import data as rebuild_tool


def test_mnist1d_loads_with_the_documented_shapes():
    d = data.load_mnist1d()
    assert d["x"].shape == (4000, 40) and d["x_test"].shape == (1000, 40) and d["t"].shape == (40,)
    assert d["y"].dtype == np.int64 and set(np.unique(d["y"])) == set(range(10))
    assert d["x"].dtype == np.float64  # stored at full precision


def test_readme_records_the_same_checksums_as_sha256sums():
    readme = (paths.DATA / "README.md").read_text(encoding="utf-8")
    for name, digest in data.expected_checksums().items():
        assert digest in readme, f"data/README.md does not record the checksum of {name}"
        assert data.sha256(paths.DATA / name) == digest


def test_missing_file_names_file_checksum_and_fix(tmp_path):
    shutil.copy(paths.DATA / data.CHECKSUM_FILE, tmp_path)
    with pytest.raises(data.DataError) as err:
        data.load_mnist1d(tmp_path)
    message = str(err.value)
    assert f"data file missing: {tmp_path / 'mnist1d.npz'}" in message
    assert data.expected_checksums()["mnist1d.npz"] in message and "make data" in message


def test_corrupted_file_names_both_checksums(tmp_path):
    shutil.copy(paths.DATA / data.CHECKSUM_FILE, tmp_path)
    blob = bytearray((paths.DATA / "mnist1d.npz").read_bytes())
    blob[1000] ^= 1
    (tmp_path / "mnist1d.npz").write_bytes(bytes(blob))
    with pytest.raises(data.DataError) as err:
        data.load_mnist1d(tmp_path)
    expected, actual = re.findall(r"SHA-256:\s+([0-9a-f]{64})", str(err.value))
    assert expected == data.expected_checksums()["mnist1d.npz"] and actual == data.sha256(tmp_path / "mnist1d.npz")


def test_npz_holds_no_pickled_objects():
    with np.load(paths.DATA / "mnist1d.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(data.MNIST1D_ARRAYS)


@pytest.mark.slow
@pytest.mark.machine  # the rebuild's last bits depend on the CPU
def test_rebuild_from_the_package_matches_the_shipped_file(capsys):
    """The arrays, not the bytes: another CPU rebuilds them with different last bits."""
    assert rebuild_tool.rebuild_mnist1d() == 0
    out = capsys.readouterr().out
    assert re.search(r"\[PASS\] rebuild vs mnist1d.npz: max relative difference \S+ \(in '\w+'\) <= 1e-12", out), out


def _perturbed_rebuild(monkeypatch, relative: float) -> None:
    shipped = data.load_mnist1d()

    def rebuild():
        arrays = dict(shipped)
        arrays["x"] = shipped["x"] * (1 + relative)
        return arrays

    monkeypatch.setattr(rebuild_tool, "make_mnist1d", rebuild)


def test_rebuild_tolerates_last_bit_differences(monkeypatch, capsys):
    _perturbed_rebuild(monkeypatch, 3e-14)  # what another CPU's arithmetic changes
    assert rebuild_tool.rebuild_mnist1d() == 0
    assert "[PASS]" in capsys.readouterr().out


def test_rebuild_that_really_differs_fails(monkeypatch, capsys):
    _perturbed_rebuild(monkeypatch, 1e-9)
    assert rebuild_tool.rebuild_mnist1d() == 1
    captured = capsys.readouterr()
    assert "[FAIL] rebuild vs mnist1d.npz: max relative difference 1.0e-09 (in 'x')" in captured.out
    assert "make setup" in captured.err


def test_rebuild_with_write_replaces_file_and_checksum(monkeypatch, tmp_path):
    shutil.copytree(paths.DATA, tmp_path, dirs_exist_ok=True)
    _perturbed_rebuild(monkeypatch, 1e-9)
    assert rebuild_tool.rebuild_mnist1d(tmp_path, write=True) == 0
    assert data.load_mnist1d(tmp_path)["x"][0, 0] != data.load_mnist1d()["x"][0, 0]
    assert data.expected_checksums(tmp_path)["mnist1d.npz"] == data.sha256(tmp_path / "mnist1d.npz")


def _broken_copy(tmp_path, how: str):
    """A copy of data/ whose mnist1d.npz is missing or has one bit flipped; returns its bytes (or None)."""
    shutil.copytree(paths.DATA, tmp_path, dirs_exist_ok=True)
    target = tmp_path / "mnist1d.npz"
    if how == "missing":
        target.unlink()
        return None
    blob = bytearray(target.read_bytes())
    blob[1000] ^= 1
    target.write_bytes(bytes(blob))
    return bytes(blob)


@pytest.mark.parametrize("how", ["missing", "corrupted"])
def test_make_data_restores_a_broken_file_from_a_byte_identical_rebuild(monkeypatch, tmp_path, capsys, how):
    _perturbed_rebuild(monkeypatch, 0.0)  # the rebuild of the machine that made the file: the same bytes
    _broken_copy(tmp_path, how)
    assert rebuild_tool.rebuild_mnist1d(tmp_path) == 0
    assert data.sha256(tmp_path / "mnist1d.npz") == data.expected_checksums()["mnist1d.npz"]
    out = capsys.readouterr().out
    assert f"data file {how}" in out and f"restored {tmp_path / 'mnist1d.npz'}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.DATA.iterdir())


@pytest.mark.parametrize("how", ["missing", "corrupted"])
def test_make_data_writes_nothing_when_the_rebuild_is_not_byte_identical(monkeypatch, tmp_path, capsys, how):
    _perturbed_rebuild(monkeypatch, 3e-14)  # another CPU's last bits: close, but not the recorded bytes
    before = _broken_copy(tmp_path, how)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert rebuild_tool.rebuild_mnist1d(tmp_path) == 1
    err = capsys.readouterr().err
    assert f"data file {how}" in err and "cannot replace it" in err and "Nothing was written" in err
    assert "git checkout -- data/mnist1d.npz" in err
    target = tmp_path / "mnist1d.npz"
    assert (target.read_bytes() if target.exists() else None) == before  # left as it was
    assert data.expected_checksums(tmp_path) == data.expected_checksums()  # the checksum untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary file left behind


def test_make_data_with_a_checksum_file_that_does_not_list_the_data_names_the_fix(monkeypatch, tmp_path, capsys):
    _perturbed_rebuild(monkeypatch, 0.0)
    before = _broken_copy(tmp_path, "corrupted")
    (tmp_path / data.CHECKSUM_FILE).write_text("", encoding="utf-8")  # mnist1d.npz no longer listed
    names = sorted(p.name for p in tmp_path.iterdir())
    assert rebuild_tool.rebuild_mnist1d(tmp_path) == 1
    err = capsys.readouterr().err
    assert "mnist1d.npz is not listed in" in err
    assert "restore data/ (both mnist1d.npz and SHA256SUMS) with `git checkout -- data`" in err
    assert (tmp_path / "mnist1d.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_make_data_that_cannot_write_says_so_and_leaves_the_file(monkeypatch, tmp_path, capsys):
    _perturbed_rebuild(monkeypatch, 0.0)
    before = _broken_copy(tmp_path, "corrupted")

    def read_only(target, write):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(rebuild_tool, "atomic_write", read_only)
    assert rebuild_tool.rebuild_mnist1d(tmp_path) == 1
    err = capsys.readouterr().err
    assert "cannot be written: [Errno 13] Permission denied" in err and f"make {tmp_path} writable" in err
    assert (tmp_path / "mnist1d.npz").read_bytes() == before


def test_missing_checksum_file_is_a_data_error_with_its_fix(monkeypatch, tmp_path, capsys):
    shutil.copy(paths.DATA / "mnist1d.npz", tmp_path)  # the data, without SHA256SUMS
    with pytest.raises(data.DataError) as err:
        data.load_mnist1d(tmp_path)
    assert f"checksum file missing: {tmp_path / 'SHA256SUMS'}" in str(err.value)
    assert "git checkout -- data/SHA256SUMS" in str(err.value)
    _perturbed_rebuild(monkeypatch, 0.0)
    assert rebuild_tool.rebuild_mnist1d(tmp_path) == 1  # make data: the same message, no traceback
    assert "checksum file missing" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist1d.npz"]
