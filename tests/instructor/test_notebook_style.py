"""The solved notebooks' style: code lines of at most 100 characters, and no pyflakes error.

On the instructor's side: in a student's copy the blanked exercises leave imports unused
and the student's own lines are theirs to format.
"""

from __future__ import annotations

import subprocess
import sys

from helpers import paths


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=paths.ROOT,
                          capture_output=True, text=True)


def test_notebook_code_fits_100_characters_and_lints_clean():
    result = _ruff("notebooks")
    print(result.stdout[-3000:])
    assert result.returncode == 0, "ruff found problems in the notebooks (line length 100, pyflakes):\n" + result.stdout
