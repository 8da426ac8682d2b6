"""A notebook's key figures, written to ``build/results/<name>.json``.

Tests and the benchmark read these files instead of scraping notebook output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import paths
from .files import write_json


def save_results(name: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` to ``<build>/results/<name>.json`` atomically and return the path.

    Every check the notebook ran (:data:`helpers.checks.RECORDED`) is saved with
    them under ``"checks"``: figure, bound and margin, for the portability report.
    """
    from .checks import RECORDED

    target = paths.results_dir() / f"{name}.json"
    write_json(target, {**figures, "checks": list(RECORDED)})
    print(f"key figures written to {target}")
    return target


def load_results(name: str) -> dict[str, Any]:
    """Read back what :func:`save_results` wrote."""
    return json.loads((paths.results_dir() / f"{name}.json").read_text(encoding="utf-8"))
