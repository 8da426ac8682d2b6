"""A notebook's key figures, written to ``build/results/<name>.json``.

Tests and the benchmark read these files instead of scraping notebook output.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from . import paths


def _plain(value: Any) -> Any:
    """Turn numpy/torch scalars and arrays into JSON-ready Python values."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def save_results(name: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` to ``<build>/results/<name>.json`` atomically and return the path."""
    out_dir = paths.results_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_plain(figures), fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"key figures written to {target}")
    return target


def load_results(name: str) -> dict[str, Any]:
    """Read back what :func:`save_results` wrote."""
    return json.loads((paths.results_dir() / f"{name}.json").read_text(encoding="utf-8"))
