"""``make blank``: the student copies of the solved notebooks, in ``build/blank/``.

Never writes into ``notebooks/``; a copy edited since it was generated is not
overwritten unless forced.
"""

from __future__ import annotations

from pathlib import Path

from helpers import paths

from . import exercises
from .errors import BuildError
from .iorw import atomic_write, content_hash, load_notebook_json, notebook_text, read_json, write_json


def write_blanks(force: bool = False, names: tuple[str, ...] = paths.NOTEBOOK_NAMES) -> list[Path]:
    """Write the student copies to ``build/blank/``. Never into ``notebooks/``.

    A copy that was edited since it was generated is not overwritten unless
    ``force``: all edited copies are listed and nothing is written.
    """
    out_dir = paths.build_dir() / "blank"
    record_path = out_dir / ".generated.json"
    record = read_json(record_path) or {}
    plans, edited = [], []
    for name in names:
        source = load_notebook_json(paths.NOTEBOOKS / f"{name}.ipynb")
        try:
            blank = exercises.blank_notebook(source, name)
        except exercises.RegionError as err:
            raise BuildError(f"cannot make the blank copy: {err}") from err
        text = notebook_text(blank)
        target = out_dir / f"{name}.ipynb"
        if target.exists() and not force:
            current = content_hash(target.read_bytes())
            if current not in {record.get(name), content_hash(text.encode("utf-8"))}:
                edited.append(target)
        plans.append((name, target, text))
    if edited:
        raise BuildError(
            "these blank copies were edited since they were generated, so they are left as they are:\n  "
            + "\n  ".join(str(p) for p in edited)
            + "\nFix: move your edits elsewhere, or overwrite them with `make blank FORCE=1`."
        )
    written = []
    for name, target, text in plans:
        atomic_write(target, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
        record[name] = content_hash(text.encode("utf-8"))
        written.append(target)
    write_json(record_path, record)
    return written
