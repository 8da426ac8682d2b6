"""Reading and writing files safely: the one place for atomic writes, hashes and JSON.

Used by :mod:`helpers.results` and :mod:`helpers.data` inside notebooks, and by
the build tool (:mod:`workbook`), which imports it from here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(*parts: bytes | str) -> str:
    """SHA-256 over several byte strings, each length-prefixed so that boundaries count."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def tree_hash(root: Path, pattern: str = "*") -> str:
    """SHA-256 over the files under ``root`` matching ``pattern``: their paths and their bytes.

    Hidden files (temporaries among them) and ``__pycache__`` do not count.
    """
    root = Path(root)
    files = sorted(p for p in root.rglob(pattern)
                   if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."))
    return content_hash(*(f"{p.relative_to(root).as_posix()}\0".encode() + p.read_bytes() for p in files))


def atomic_write(target: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``target``, then rename it into place.

    If ``write`` fails or is interrupted, the temporary file is removed and
    ``target`` is left exactly as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # ".name.<random>.tmp.ipynb": hidden, marked as temporary, and still ending in the file's suffix
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp" + target.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def plain(value: Any) -> Any:
    """Turn numpy/torch scalars and arrays into JSON-ready Python values (non-finite floats as strings)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(target: Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(plain(data), indent=2, sort_keys=True) + "\n"
    atomic_write(Path(target), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when the file is missing or broken."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
