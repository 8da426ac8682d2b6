"""JupyterLab as a student meets it, driven in a real browser (headless Chromium).

The server is started exactly as ``make lab`` starts it (``python -m workbook lab``,
which writes the workbook's settings into the environment and prints the
address), on a free loopback port with a random token, in a temporary copy of
``notebooks/``. Its Jupyter and IPython home folders are temporary too, so only
the settings the workbook ships count, and the run leaves nothing in the
user's home. The notebooks run in quick mode: in the copy, the ``quick = False``
line of each notebook's ``parameters`` cell is rewritten to ``quick = True``
before the server starts (what papermill's ``-p quick True`` does in the build).

In one JupyterLab window at the printed address, each notebook is opened from
the file browser by double-click, checked for dialogs and its kernel, and
started with the menu Run -> Run All Cells; the notebooks then run side by
side (which keeps the whole test near a minute and a half on two cores). Each
notebook's test waits for its kernel to become idle and checks for errors,
figures and rendered math; screenshots go to ``build/screenshots/``
(``NAME.png`` at the first figure, ``NAME.math.png`` at the first formula,
``NAME.failed.png`` when a step fails). A last notebook, written by the test into a sub-folder
of the copy, checks what a student's own scratch notebook relies on: ``import
helpers`` from another folder, a ``tqdm.auto`` progress bar rendered as a
widget, an inline figure and math.

Needs Chromium: ``/usr/bin/chromium`` (Debian's ``chromium`` package) or the path
in ``WORKBOOK_CHROMIUM``; skipped, with that reason, when neither exists.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from helpers import paths
from workbook import lab
from workbook.exercises import STUB

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("WORKBOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}

SERVER_START_S = 120  # the first start imports JupyterLab and its extensions
UI_S = 60  # opening JupyterLab, a notebook, a kernel
RUN_ALL_S = 150  # one notebook in quick mode, on a slow shared machine
SHUTDOWN_S = 20

SCRATCH = "scratch/progress_and_imports.ipynb"  # written by the test, not part of the workbook

ERROR_MIME = "application/vnd.jupyter.error"
STDERR_MIME = "application/vnd.jupyter.stderr"


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (.ci/run does) "
            "or point WORKBOOK_CHROMIUM at a Chromium or Chrome binary"
        )


# --- the notebooks, copied -----------------------------------------------------------------------


def set_quick_mode(path: Path) -> None:
    """Rewrite ``quick = False`` to ``quick = True`` in the notebook's ``parameters`` cell."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected one cell tagged 'parameters', found {len(cells)}"
    source, count = re.subn(r"^quick = False$", "quick = True", cells[0].source, flags=re.MULTILINE)
    assert count == 1, f"{path.name}: the parameters cell has no line `quick = False`:\n{cells[0].source}"
    cells[0].source = source
    nbformat.write(nb, path)


def has_markdown_math(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return any(c.cell_type == "markdown" and "$" in c.source for c in nb.cells)


def draws_figures(path: Path) -> bool:
    """Whether the notebook's code makes a figure (matplotlib directly or through helpers.plots)."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return re.search(r"\bplt\.|\bplots\.\w+\(|\.plot\(|\bimshow\(", code) is not None


def write_scratch_notebook(path: Path) -> None:
    """A student's own notebook in another folder: imports, a progress bar, a figure, math.

    It was written elsewhere: it asks for the generic ``python3`` kernel and must
    still open in the workbook's kernel, with no kernel dialog.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Scratch\n\nThe logistic function $\\sigma(z) = 1 / (1 + e^{-z})$."),
        nbformat.v4.new_code_cell(
            "# helpers is importable from any folder\nimport os\nfrom helpers import paths, training\n"
            "print('cwd:', os.path.basename(os.getcwd()), '| helpers from', paths.ROOT.name)"
        ),
        nbformat.v4.new_code_cell(
            "# a progress bar through helpers.training.fit\nimport torch\nfrom torch import nn\n"
            "X = torch.randn(64, 4)\ny = (X[:, 0] > 0).long()\nnet = nn.Linear(4, 2)\n"
            "def one_epoch(model, loader, loss_fn, optimizer):  # one full-batch step\n"
            "    optimizer.zero_grad()\n"
            "    error = loss_fn(model(X), y)\n"
            "    error.backward()\n"
            "    optimizer.step()\n"
            "    return error.item()\n"
            "history = training.fit(net, one_epoch, training.make_loader(X, y, batch_size=16), nn.CrossEntropyLoss(),\n"
            "                       torch.optim.SGD(net.parameters(), lr=0.1), num_epochs=3, progress='bar', label='demo')"
        ),
        nbformat.v4.new_code_cell(
            "# an inline figure\nimport matplotlib.pyplot as plt\nz = torch.linspace(-5, 5, 50)\n"
            "plt.plot(z, torch.sigmoid(z), label='sigmoid')\nplt.xlabel('z')\nplt.ylabel('sigma(z)')\n"
            "plt.title('logistic function')\nplt.legend()\nplt.show()"
        ),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


# --- the server -----------------------------------------------------------------------------------


class LabServer:
    def __init__(self, process: subprocess.Popen, url: str, token: str, port: int, root: Path, home: Path, log: Path):
        self.process, self.url, self.token, self.port = process, url, token, port
        self.root, self.home, self.log = root, home, log

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _processes_mentioning(text: str) -> list[int]:
    """Process ids whose command line contains ``text`` (Linux /proc; empty elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def _stop_server(process: subprocess.Popen, runtime_dir: Path) -> list[int]:
    """Stop the server's process group (it shuts its kernels down); returns kernels left behind, killed."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=SHUTDOWN_S)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # kernels run in sessions of their own; they are found by their connection file's folder
    deadline = time.monotonic() + SHUTDOWN_S
    while (strays := _processes_mentioning(str(runtime_dir))) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in strays:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return strays


@pytest.fixture(scope="module")
def server(tmp_path_factory, request) -> LabServer:
    """``python -m workbook lab`` on a free port with a random token, in a copy of the notebooks."""
    _require_chromium()
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(paths.NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for name in paths.NOTEBOOK_NAMES:
        set_quick_mode(root / f"{name}.ipynb")
    write_scratch_notebook(root / SCRATCH)
    home = base / "home"
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"),
        WORKBOOK_BUILD_DIR=str(base / "build"),  # quick-mode results must not replace the real ones
        PYTHONUNBUFFERED="1",
    )
    env.pop("WORKBOOK_LAB_PORT", None)
    port, token = lab.free_port(), secrets.token_hex(16)
    log = base / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbook", "lab", f"--port={port}", f"--token={token}", f"--root={root}"],
            cwd=paths.ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the finalizer stops it and its children
        )
    server = LabServer(process, "", token, port, root, home, log)

    def finish() -> None:
        strays = _stop_server(process, home / "runtime")
        assert not strays, f"kernels still running after the server stopped (killed): {strays}"

    request.addfinalizer(finish)
    # `make lab` prints the address once the server answers: wait for that line
    expected = f"http://127.0.0.1:{port}/lab?token={token}"
    deadline = time.monotonic() + SERVER_START_S
    while expected not in server.log_text():
        assert process.poll() is None, f"workbook lab exited with {process.returncode}:\n{server.log_text()}"
        assert time.monotonic() < deadline, f"no address printed within {SERVER_START_S} s:\n{server.log_text()}"
        time.sleep(0.2)
    server.url = expected
    print(f"\nworkbook lab printed its address after {time.monotonic() - deadline + SERVER_START_S:.1f} s")
    return server


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except BaseException:
        playwright.stop()
        raise
    yield chromium
    try:
        chromium.close()
    finally:
        playwright.stop()


# --- driving JupyterLab -----------------------------------------------------------------------------


def assert_no_dialog(page, when: str) -> None:
    dialogs = page.locator(".jp-Dialog")
    if dialogs.count():
        pytest.fail(f"{when}: a dialog is open: {dialogs.first.inner_text()[:300]!r}")
    toasts = page.locator(".Toastify__toast")
    if toasts.count():
        pytest.fail(f"{when}: a notification pops up: {toasts.first.inner_text()[:300]!r}")


def wait_for_kernel(page, panel: str, when: str, idle: bool = True) -> None:
    """Wait until the panel's toolbar shows the workbook's kernel (and, with ``idle``, that it is
    idle), or until a dialog asks something; then fail if there is a dialog."""
    try:
        page.wait_for_function(
            """([panel, kernel, idle]) => {
                if (document.querySelector('.jp-Dialog')) return true;
                const name = document.querySelector(`${panel} .jp-KernelName`)?.textContent.trim();
                const status = document.querySelector(`${panel} .jp-Notebook-ExecutionIndicator`);
                return name === kernel && (!idle || status?.dataset.status === 'idle');
            }""",
            arg=[panel, paths.KERNEL_DISPLAY_NAME, idle], timeout=UI_S * 1000, polling=250,
        )
    except Exception as err:
        shown = page.locator(f"{panel} .jp-KernelName").text_content()
        raise AssertionError(f"{when}: the toolbar shows the kernel {shown!r}, not {paths.KERNEL_DISPLAY_NAME!r}"
                             + (" idle" if idle else "")) from err
    assert_no_dialog(page, when)


def run_finished(page, panel: str, timeout_s: float) -> None:
    """Wait until no cell is queued or running ([*]) and the run reached the last cell or stopped at an error."""
    page.wait_for_function(
        r"""([panel, errorMime]) => {
            const prompts = [...document.querySelectorAll(`${panel} .jp-CodeCell .jp-InputPrompt`)]
                .map(p => p.textContent.trim());
            if (prompts.length === 0 || prompts.some(t => t.includes('*'))) return false;
            const error = document.querySelector(`${panel} [data-mime-type="${errorMime}"]`);
            return /\[\d+\]/.test(prompts[prompts.length - 1]) || error !== null;
        }""",
        arg=[panel, ERROR_MIME], timeout=timeout_s * 1000, polling=250,
    )


def scroll_into_view(page, element) -> None:
    """Scroll until the element is on screen; off-screen cells are laid out only once near the
    viewport, so the first scroll may land short of it."""
    for _ in range(10):
        element.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        box = element.bounding_box()
        if box and box["y"] >= 0 and box["y"] + min(box["height"], 200) <= VIEWPORT["height"]:
            return


def screenshot(page, stem: str) -> Path:
    folder = paths.build_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{stem}.png"))
    return folder / f"{stem}.png"


class Lab:
    """One JupyterLab window, as a student uses it: every notebook opened in its own tab and
    started with Run -> Run All Cells, so the notebooks run side by side; each test then
    waits for its own notebook and inspects it."""

    def __init__(self, server: LabServer, page):
        self.server, self.page = server, page
        self.panels: dict[str, str] = {}  # notebook path -> CSS selector of its panel
        self.started: dict[str, float] = {}
        self.failed_to_start: dict[str, BaseException] = {}

    def open_lab(self) -> None:
        """The printed address opens JupyterLab at the notebooks folder, every name readable."""
        self.page.goto(self.server.url)
        listing = self.page.locator(".jp-DirListing-content")
        for name in paths.NOTEBOOK_NAMES:
            listing.get_by_text(f"{name}.ipynb", exact=True).wait_for()
        # every name reads in full, up to at most its extension (no "01_inclass_pyt..."),
        # so a student sees which notebook is which
        truncated = listing.locator(".jp-DirListing-itemText").evaluate_all(
            """items => items.filter(e => {
                const context = document.createElement('canvas').getContext('2d');
                context.font = getComputedStyle(e).font;
                return e.scrollWidth - e.clientWidth > context.measureText('.ipynb').width;
            }).map(e => e.textContent)""")
        assert not truncated, f"file names cut off in the file browser: {truncated}"
        assert_no_dialog(self.page, "JupyterLab opened")

    def start(self, relpath: str) -> None:
        """Double-click the notebook in the file browser (through its folders) and Run All Cells."""
        listing = self.page.locator(".jp-DirListing-content")
        *folders, name = relpath.split("/")
        for folder in folders:
            listing.get_by_text(folder, exact=True).dblclick()
        before = set(self.page.locator(".jp-NotebookPanel").evaluate_all("ps => ps.map(p => p.id)"))
        listing.get_by_text(name, exact=True).dblclick()
        self.page.wait_for_function(
            "n => document.querySelectorAll('.jp-NotebookPanel').length > n", arg=len(before))
        (new,) = set(self.page.locator(".jp-NotebookPanel").evaluate_all("ps => ps.map(p => p.id)")) - before
        panel = self.panels[relpath] = f"#{new}"
        self.page.locator(f"{panel} .jp-Notebook").wait_for()
        # the kernel shown is the workbook's, with no dialog; Run All Cells may then be chosen
        # while it still starts (the cells wait for it), so the notebooks start side by side
        wait_for_kernel(self.page, panel, f"{relpath} opened", idle=False)
        self.run_all_cells(panel, relpath)
        self.started[relpath] = time.perf_counter()
        for _ in folders:  # back to the notebooks folder
            self.page.locator(".jp-BreadCrumbs-home").click()

    def run_all_cells(self, panel: str, relpath: str) -> None:
        """Menu Run -> Run All Cells, once the notebook is ready for it: the item is greyed out
        while JupyterLab still sets the notebook up, and a click on it then does nothing."""
        page = self.page
        deadline = time.monotonic() + UI_S
        while True:
            page.locator(".lm-MenuBar").get_by_role("menuitem", name="Run", exact=True).click()
            item = page.locator(".lm-Menu").get_by_role("menuitem", name="Run All Cells", exact=True)
            if "lm-mod-disabled" not in (item.get_attribute("class") or ""):
                item.click()
                try:  # a run that started shows [*] (queued or running) or a count at once
                    page.wait_for_function(
                        r"""panel => [...document.querySelectorAll(`${panel} .jp-CodeCell .jp-InputPrompt`)]
                                .some(p => /\[(\*|\d+)\]/.test(p.textContent))""",
                        arg=panel, timeout=5000, polling=100,
                    )
                    return
                except Exception:
                    pass
            else:
                page.keyboard.press("Escape")
            assert time.monotonic() < deadline, f"{relpath}: Run -> Run All Cells did not start the notebook"
            page.wait_for_timeout(250)  # poll again: the item's state has no event to wait on

    def start_all(self, relpaths: list[str]) -> None:
        for relpath in relpaths:
            if relpath in self.panels or relpath in self.failed_to_start:
                continue
            try:
                self.start(relpath)
            except Exception as err:  # reported by that notebook's test; the others go on
                self.failed_to_start[relpath] = err
                screenshot(self.page, Path(relpath).stem + ".failed")

    def show(self, relpath: str) -> str:
        """Bring the notebook's tab to the front; returns its panel's selector."""
        if relpath in self.failed_to_start:
            raise self.failed_to_start[relpath]
        panel = self.panels[relpath]
        self.page.locator(f'.lm-TabBar-tab[data-id="{panel[1:]}"]').click()
        self.page.locator(panel).wait_for(state="visible")
        return panel


ALL_NOTEBOOKS = [f"{name}.ipynb" for name in paths.NOTEBOOK_NAMES] + [SCRATCH]


@pytest.fixture(scope="module")
def jupyterlab(server, browser):
    """The student's JupyterLab window at the printed address, all notebooks started."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(UI_S * 1000)
    lab_window = Lab(server, page)
    try:
        started = time.perf_counter()
        lab_window.open_lab()
        opened = time.perf_counter()
        lab_window.start_all(ALL_NOTEBOOKS)
        print(f"\nJupyterLab opened in {opened - started:.1f} s; {len(ALL_NOTEBOOKS)} notebooks opened and "
              f"started in {time.perf_counter() - opened:.1f} s")
        yield lab_window
    finally:
        context.close()


def check_notebook(lab_window: Lab, relpath: str, *, figure: bool, math: bool) -> dict:
    """Wait for the notebook's run, inspect it, save a screenshot (``NAME.failed.png`` on failure)."""
    try:
        return _check_notebook(lab_window, relpath, figure=figure, math=math)
    except BaseException:
        try:
            print(f"screenshot of the failure: {screenshot(lab_window.page, Path(relpath).stem + '.failed')}")
        except Exception:  # the page may be gone; the original error matters
            pass
        raise


def _check_notebook(lab_window: Lab, relpath: str, *, figure: bool, math: bool) -> dict:
    page = lab_window.page
    panel = lab_window.show(relpath)
    run_finished(page, panel, RUN_ALL_S - (time.perf_counter() - lab_window.started[relpath]))
    seconds = time.perf_counter() - lab_window.started[relpath]
    wait_for_kernel(page, panel, f"{relpath} after Run All Cells")

    def outputs(mime: str) -> list[str]:
        return page.locator(f'{panel} .jp-OutputArea-output[data-mime-type="{mime}"]').all_text_contents()

    errors = outputs(ERROR_MIME)
    assert not errors, f"{relpath}: error output:\n" + "\n---\n".join(e[-1500:] for e in errors)
    # warnings and tracebacks on stderr are what a student stumbles over (e.g. tqdm's
    # "IProgress not found"); plain progress text on stderr is fine
    alarming = [t for t in outputs(STDERR_MIME) if re.search(r"Warning|Error|Traceback", t)]
    assert not alarming, f"{relpath}: warnings on stderr:\n" + "\n---\n".join(t[-800:] for t in alarming)
    prompts = page.locator(f"{panel} .jp-CodeCell .jp-InputPrompt").all_text_contents()
    not_run = [i for i, t in enumerate(prompts) if not re.search(r"\[\d+\]", t)]
    assert not not_run, f"{relpath}: code cells {not_run} (counting code cells from 0) did not run"

    images = page.locator(f"{panel} .jp-OutputArea-output img")
    if figure:
        assert images.count() >= 1, f"{relpath}: no figure rendered"
        # a figure that rendered has a size; a broken image has none
        assert images.first.evaluate("img => img.complete && img.naturalWidth > 0"), f"{relpath}: broken figure"
    formulas = page.locator(f"{panel} .jp-MarkdownCell mjx-container")
    if math:
        formulas.first.wait_for(state="attached")
        assert page.locator(f"{panel} mjx-merror").count() == 0, f"{relpath}: MathJax could not typeset some math"
    found = {
        "seconds": seconds,
        "figures": images.count(),
        "math": formulas.count(),
        "widgets": page.locator(f"{panel} .jp-OutputArea-output .widget-hprogress").count(),
        "text": "\n".join(outputs("application/vnd.jupyter.stdout")),
    }
    # the screenshot shows the first figure where there is one, the end of the run otherwise
    if images.count():
        scroll_into_view(page, images.first)
    (paths.build_dir() / "screenshots" / f"{Path(relpath).stem}.failed.png").unlink(missing_ok=True)
    screenshot(page, Path(relpath).stem)
    if formulas.count():  # and a second one of the first formula, to see the math as students do
        scroll_into_view(page, formulas.first)
        screenshot(page, Path(relpath).stem + ".math")
    print(f"{relpath}: ran in {seconds:.1f} s (Run All Cells to idle), {found['figures']} figures, "
          f"{found['math']} formulas, {found['widgets']} progress widgets")
    return found


# --- the tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", paths.NOTEBOOK_NAMES)
def test_notebook_runs_in_jupyterlab(name, server, jupyterlab):
    """Run All on the solved notebook. (A student's blank copy stops at its first exercise by design;
    there the scratch notebook below checks the lab: kernel, helpers, figures, math, widgets.)"""
    path = server.root / f"{name}.ipynb"
    cells = nbformat.read(path, as_version=4).cells
    if any(STUB.search(cell.source) for cell in cells if cell.cell_type == "code"):
        pytest.skip(f"{name} is a blank copy: Run All stops at its first exercise until it is filled in")
    check_notebook(jupyterlab, path.name, figure=draws_figures(path), math=has_markdown_math(path))


def test_scratch_notebook_in_another_folder(jupyterlab):
    found = check_notebook(jupyterlab, SCRATCH, figure=True, math=True)
    assert "cwd: scratch | helpers from" in found["text"], found["text"]
    panel = jupyterlab.panels[SCRATCH]
    widget = jupyterlab.page.locator(f"{panel} .jp-OutputArea-output .widget-hprogress")
    assert widget.count() == 1, "the tqdm.auto progress bar did not render as a widget"
    bar_text = jupyterlab.page.locator(f"{panel} .jp-OutputArea-output .widget-hbox").first.text_content()
    assert "demo" in bar_text and "3/3" in bar_text, f"progress bar reads {bar_text!r}"
