"""The Chromium engine: nbconvert's HTML, printed to PDF by a Chromium driven with playwright.

For a machine with a browser but neither Typst's packages nor TeX. The HTML is
nbconvert's ``lab`` template; playwright starts the system's Chromium (never a
browser of its own) with the flags below.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None. ``$WORKBOOK_CHROMIUM`` wins."""
    override = os.environ.get("WORKBOOK_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_pdf(nb, resources: dict, executable: str, config) -> bytes:
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright

    html, _ = HTMLExporter(config=config, template_name="lab").from_notebook_node(nb, resources=resources)
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "notebook.html"
        page_file.write_text(html, encoding="utf-8")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page()
                page.goto(page_file.as_uri(), wait_until="load")
                return page.pdf(format="A4", print_background=True, margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
            finally:
                browser.close()
