"""JupyterLab as students meet it: settings the workbook ships inside .venv.

``configure()`` writes the workbook's server and lab settings into the
environment's own prefix (``.venv/etc/jupyter`` and
``.venv/share/jupyter/lab/settings``), never into the user's home, so that
every notebook opens straight into the workbook kernel with no news pop-up.
``serve()`` starts JupyterLab on 127.0.0.1 at the notebooks folder.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

from . import paths

LAB_OVERRIDES = {
    # No "Would you like to get notified about official Jupyter news?" toast, no update check.
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # Keep kernels running quietly; do not ask which kernel to use when one is recorded.
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
}

SERVER_CONFIG = {
    "ServerApp": {"ip": "127.0.0.1", "open_browser": False},
    "MappingKernelManager": {"default_kernel_name": paths.KERNEL_NAME},
    "KernelSpecManager": {"ensure_native_kernel": False},
}


KERNEL_CONFIG = {"IPKernelApp": {"log_level": "CRITICAL"}}


def configure(prefix: Path | None = None) -> None:
    """Write the lab and server settings into the environment prefix."""
    prefix = Path(prefix or sys.prefix)
    settings = prefix / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "overrides.json").write_text(json.dumps(LAB_OVERRIDES, indent=2) + "\n", encoding="utf-8")
    etc = prefix / "etc" / "jupyter"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG, indent=2) + "\n", encoding="utf-8")
    # The kernel's own start-up/shut-down chatter ("running over TCP", "KeyboardInterrupt
    # caught in kernel" when papermill stops it) says nothing to a student; errors in
    # their code still show in the notebook as usual.
    (etc / "ipython_kernel_config.json").write_text(json.dumps(KERNEL_CONFIG, indent=2) + "\n", encoding="utf-8")
    print(f"JupyterLab settings written under {prefix}")


def serve(root: Path | None = None, port: int = 8888) -> int:
    """Start JupyterLab on 127.0.0.1 with a fresh token, at the notebooks folder."""
    token = secrets.token_hex(16)
    root = Path(root or paths.NOTEBOOKS)
    print(f"JupyterLab: http://127.0.0.1:{port}/lab?token={token}  (Ctrl-C to stop)", flush=True)
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
    ]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0
