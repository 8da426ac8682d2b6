"""The environment: pins agree, the kernel exists, set-up re-runs only when requirements change."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from helpers import paths

PIN = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = PIN.match(line)
        if m and not line.lstrip().startswith("#"):
            found[m.group(1).lower()] = m.group(2)
    return found


def test_requirements_and_environment_yml_agree():
    req, env = pins(paths.REQUIREMENTS), pins(paths.ROOT / "environment.yml")
    assert req, "no pins found in requirements.txt"
    assert req == env, f"only in requirements.txt: {set(req.items()) - set(env.items())}; only in environment.yml: {set(env.items()) - set(req.items())}"


def test_every_requirement_is_pinned_exactly_and_torch_is_2_13_0():
    lines = [ln.strip() for ln in paths.REQUIREMENTS.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert all("==" in ln for ln in lines), [ln for ln in lines if "==" not in ln]
    assert pins(paths.REQUIREMENTS)["torch"] == "2.13.0"


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pinned in pins(paths.REQUIREMENTS).items():
        installed = version(name)
        assert installed.split("+")[0] == pinned, f"{name}: installed {installed}, pinned {pinned}; run `make setup`"


def test_workbook_kernel_is_registered_and_notebooks_use_it():
    spec = KernelSpecManager().get_kernel_spec(paths.KERNEL_NAME)
    assert Path(spec.argv[0]).resolve().parent == Path(sys.executable).resolve().parent or spec.argv[0] in {"python", "python3"}
    import json

    for name in paths.NOTEBOOK_NAMES:
        meta = json.loads((paths.NOTEBOOKS / f"{name}.ipynb").read_text())["metadata"]
        assert meta["kernelspec"]["name"] == paths.KERNEL_NAME, name
        assert meta.get("title"), f"{name} has no title in its metadata"


def _make_dry_run(folder: Path) -> str:
    return subprocess.run(["make", "-n", "setup"], cwd=folder, capture_output=True, text=True).stdout


def test_setup_is_a_no_op_until_requirements_change(tmp_path):
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy(paths.ROOT / name, tmp_path)
    (tmp_path / ".venv").mkdir()
    stamp = tmp_path / ".venv" / ".installed"
    stamp.write_text(f"{tmp_path}\n", encoding="utf-8")  # set up for this folder
    assert "pip install" not in _make_dry_run(tmp_path)
    import os, time

    later = time.time() + 5
    os.utime(tmp_path / "requirements.txt", (later, later))
    assert "pip install" in _make_dry_run(tmp_path)
