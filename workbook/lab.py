"""JupyterLab as students meet it: settings the workbook ships inside .venv.

``configure()`` writes the workbook's server, lab and kernel settings into the
environment's own prefix (``.venv/etc/jupyter``, ``.venv/etc/ipython`` and
``.venv/share/jupyter/lab/settings``), never into the user's home, so that
every notebook opens straight into the workbook kernel with no news pop-up and
no build or update prompts.

``serve()`` (``make lab``) starts JupyterLab on 127.0.0.1 with a fresh token at
the notebooks folder, waits until it answers, and prints the address to open.
Port 8888 is used when free, otherwise a free one is picked; choose one with
``python -m workbook lab --port 9000`` or ``WORKBOOK_LAB_PORT=9000 make lab``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable

from helpers import paths
from helpers.files import read_json, write_json

DEFAULT_PORT = 8888
READY_TIMEOUT_S = 180  # a first start on a slow laptop imports a lot

#: Lab settings defaults (``overrides.json``); a student's own settings still win.
LAB_OVERRIDES = {
    # No "Would you like to get notified about official Jupyter news?" toast, no update check.
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension:tracker": {
        # A notebook whose kernel is known starts it without asking which kernel to use.
        "autoStartDefaultKernel": True,
        # Closing a notebook's tab stops its kernel: three idle kernels holding torch add up.
        "kernelShutdown": True,
    },
    # The file browser's "Modified" column squeezes the notebook names to "01_inclass_pyt...".
    "@jupyterlab/filebrowser-extension:browser": {"showLastModifiedColumn": False},
}

#: Server settings (``jupyter_server_config.json``).
SERVER_CONFIG = {
    "ServerApp": {"ip": "127.0.0.1", "open_browser": False},
    "LabApp": {
        # The server fetches no news feed and checks for no new JupyterLab version.
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        # Extensions are not installed from the UI into the pinned environment.
        "extension_manager": "readonly",
    },
    "MappingKernelManager": {"default_kernel_name": paths.KERNEL_NAME},
    # One kernel to choose in the launcher: the environment's generic "Python 3 (ipykernel)"
    # runs the same interpreter under a second name. A notebook asking for another kernel
    # (e.g. one from another course) opens in the workbook kernel instead.
    "KernelSpecManager": {"ensure_native_kernel": False, "allowed_kernelspecs": [paths.KERNEL_NAME]},
}

#: Page settings (``labconfig/page_config.json``): no "Build recommended" check on
#: every page load (it takes seconds and can only offer a rebuild students must not do).
PAGE_CONFIG = {"buildCheck": False, "buildAvailable": False}

#: Kernel settings (``.venv/etc/ipython/ipython_kernel_config.json``, where IPython
#: looks for the environment's config). The kernel's own start-up and shut-down
#: chatter ("running over TCP", "KeyboardInterrupt caught in kernel" when papermill
#: stops it) says nothing to a student; errors in their code still show in the notebook.
KERNEL_CONFIG = {"IPKernelApp": {"log_level": "CRITICAL"}}


def _write_json(target: Path, data: dict[str, Any], merge: bool = False) -> None:
    """Write ``data`` as JSON, atomically; with ``merge``, keep the keys of an existing file that
    ``data`` lacks (a broken file is replaced)."""
    existing = read_json(target) if merge else None
    write_json(target, {**existing, **data} if isinstance(existing, dict) else data)


def install_kernel(prefix: Path) -> None:
    """Register this interpreter as the kernel ``paths.KERNEL_NAME`` inside ``prefix``."""
    from ipykernel.kernelspec import install

    install(kernel_name=paths.KERNEL_NAME, display_name=paths.KERNEL_DISPLAY_NAME, prefix=str(prefix))


def configure(prefix: Path | None = None, quiet: bool = False) -> None:
    """Register the workbook kernel and write the lab, server and kernel settings into the environment prefix."""
    prefix = Path(prefix or sys.prefix)
    _write_json(prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json", LAB_OVERRIDES)
    etc = prefix / "etc" / "jupyter"
    _write_json(etc / "jupyter_server_config.json", SERVER_CONFIG)
    # page_config.json is shared with `jupyter labextension disable --sys-prefix`: keep its keys
    _write_json(etc / "labconfig" / "page_config.json", PAGE_CONFIG, merge=True)
    _write_json(prefix / "etc" / "ipython" / "ipython_kernel_config.json", KERNEL_CONFIG)
    stale = etc / "ipython_kernel_config.json"  # an earlier version wrote it here, where no kernel reads it
    if stale.exists() and stale.read_text(encoding="utf-8").strip() == json.dumps(KERNEL_CONFIG, indent=2):
        stale.unlink()
    install_kernel(prefix)
    if not quiet:
        print(f"JupyterLab settings written under {prefix}")


# --- serving ------------------------------------------------------------------------------------


class LabError(RuntimeError):
    """JupyterLab could not be started; the message says why and what to do."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the operating system reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def choose_port(requested: int | None) -> tuple[int, str]:
    """The port to serve on and a note for the student ("" when nothing needs saying).

    An explicitly requested port that is taken is an error (the student asked for
    it); the default 8888 that is taken (another JupyterLab?) gives way to a free one.
    """
    if requested is None and os.environ.get("WORKBOOK_LAB_PORT"):
        try:
            requested = int(os.environ["WORKBOOK_LAB_PORT"])
        except ValueError as err:
            raise LabError(f"WORKBOOK_LAB_PORT={os.environ['WORKBOOK_LAB_PORT']!r} is not a port number.") from err
    if requested is not None:
        if not 0 < requested < 65536:
            raise LabError(f"port {requested} is not a port number (1 to 65535).")
        if not port_is_free(requested):
            raise LabError(
                f"port {requested} is already in use (another JupyterLab or program is running on it).\n"
                "Fix: stop that program, or choose another port: python -m workbook lab --port 0 picks a free one."
            )
        return requested, ""
    if port_is_free(DEFAULT_PORT):
        return DEFAULT_PORT, ""
    port = free_port()
    return port, f"port {DEFAULT_PORT} is in use (another JupyterLab?), so this one runs on port {port}."


def lab_command(root: Path, port: int, token: str) -> list[str]:
    """The command line that starts JupyterLab from this environment."""
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0",  # never move silently to another port than the one printed
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        # keep the terminal to the address, warnings and errors
        "--ServerApp.log_level=WARN", "--LabApp.log_level=WARN",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; JupyterLab refuses that otherwise
    return cmd


def wait_until_ready(url: str, token: str, process: subprocess.Popen, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll the server's status API until it answers; raise if it exits or takes too long."""
    # no proxy: a student's http_proxy setting must not catch requests to 127.0.0.1
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{url}api/status", headers={"Authorization": f"token {token}"})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(f"JupyterLab stopped while starting (exit code {process.returncode}); its messages are above.")
        try:
            with opener.open(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.2)
    raise LabError(f"JupyterLab did not answer at {url} within {timeout_s:.0f} s.")


def _stop(process: subprocess.Popen, timeout_s: float = 20) -> None:
    """Ask JupyterLab to shut down (it stops its kernels), kill it if it does not."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(root: Path | None = None, port: int | None = None, token: str | None = None) -> int:
    """Start JupyterLab on 127.0.0.1 with a fresh token at ``root`` (the notebooks folder).

    Prints the address once the server answers and runs until Ctrl-C. Returns the
    exit code for ``python -m workbook lab``.
    """
    try:
        configure(quiet=True)  # an environment set up by an older version gets the current settings
        root = Path(root or paths.NOTEBOOKS).resolve()
        if not root.is_dir():
            raise LabError(f"no folder {root} to open.")
        port, note = choose_port(port)
        token = token or secrets.token_hex(16)
        url = f"http://127.0.0.1:{port}/"
        print(f"starting JupyterLab in {root} ...", flush=True)
        # stdin from /dev/null: Ctrl-C then stops the server at once instead of asking
        # "Shutdown this Jupyter server (y/[n])?" on a terminal it shares with us.
        from .environment import use_this_folder

        # kernels inherit the server's environment: this folder's helpers and data, also in a copied folder
        process = subprocess.Popen(lab_command(root, port, token), stdin=subprocess.DEVNULL,
                                   env=use_this_folder(dict(os.environ)))
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        wait_until_ready(url, token, process)
        if note:
            print(note)
        print(
            "\nJupyterLab is running. Open this address in your browser:\n\n"
            f"    {url}lab?token={token}\n\n"
            "Stop it with Ctrl-C in this terminal (save your notebooks first: Ctrl-S).\n",
            flush=True,
        )
        return process.wait()
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping JupyterLab ...", flush=True)
        return 0
    finally:
        _stop(process)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbook lab", description="Start the workbook's JupyterLab.")
    parser.add_argument("--port", type=int, default=None,
                        help=f"port to serve on (default: {DEFAULT_PORT}, or a free one when it is taken; 0: any free port)")
    parser.add_argument("--token", default=None, help="access token (default: a fresh random one)")
    parser.add_argument("--root", type=Path, default=None, help="folder to open (default: the notebooks folder)")
    parser.add_argument("--configure", action="store_true", help="only write the settings into the environment")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.configure:
        configure()
        return 0
    port = free_port() if args.port == 0 else args.port
    return serve(args.root, port, args.token)


if __name__ == "__main__":
    raise SystemExit(main())
