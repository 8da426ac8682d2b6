"""The JupyterLab settings the workbook ships, and how `make lab` picks its port (no browser needed)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import jsonschema
import pytest

from helpers import paths
from workbook import lab

SCHEMAS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"


def test_configure_writes_into_the_prefix_only(tmp_path):
    lab.configure(tmp_path, quiet=True)
    overrides = json.loads((tmp_path / "share/jupyter/lab/settings/overrides.json").read_text())
    server = json.loads((tmp_path / "etc/jupyter/jupyter_server_config.json").read_text())
    page = json.loads((tmp_path / "etc/jupyter/labconfig/page_config.json").read_text())
    kernel = json.loads((tmp_path / "etc/ipython/ipython_kernel_config.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert overrides["@jupyterlab/notebook-extension:tracker"]["autoStartDefaultKernel"] is True
    assert server["MappingKernelManager"]["default_kernel_name"] == paths.KERNEL_NAME
    assert server["KernelSpecManager"]["allowed_kernelspecs"] == [paths.KERNEL_NAME]
    assert server["LabApp"]["news_url"] is None
    assert page == {"buildCheck": False, "buildAvailable": False}
    assert kernel == lab.KERNEL_CONFIG
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert all(p.startswith(("etc/", "share/")) for p in written), written


def test_configure_keeps_other_page_config_keys(tmp_path):
    page_config = tmp_path / "etc/jupyter/labconfig/page_config.json"
    page_config.parent.mkdir(parents=True)
    page_config.write_text(json.dumps({"disabledExtensions": {"some-extension": True}, "buildCheck": True}))
    lab.configure(tmp_path, quiet=True)
    assert json.loads(page_config.read_text()) == {
        "disabledExtensions": {"some-extension": True}, "buildCheck": False, "buildAvailable": False,
    }


def test_configure_removes_the_kernel_config_where_no_kernel_reads_it(tmp_path):
    stale = tmp_path / "etc/jupyter/ipython_kernel_config.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps(lab.KERNEL_CONFIG, indent=2) + "\n")
    lab.configure(tmp_path, quiet=True)
    assert not stale.exists()


@pytest.mark.parametrize("plugin", sorted(lab.LAB_OVERRIDES))
def test_lab_overrides_match_jupyterlab_schemas(plugin):
    """A misspelt setting or a wrong type (fetchNews is the string "false") is silently ignored by
    JupyterLab; checking against its own schemas catches that."""
    package, name = plugin.split(":")
    schema = json.loads((SCHEMAS / package / f"{name}.json").read_text(encoding="utf-8"))
    settings = lab.LAB_OVERRIDES[plugin]
    assert set(settings) <= set(schema["properties"]), f"unknown settings for {plugin}: {set(settings) - set(schema['properties'])}"
    jsonschema.validate(settings, schema)


def test_server_config_names_existing_options():
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyterlab.labapp import LabApp

    classes = {"ServerApp": ServerApp, "LabApp": LabApp, "MappingKernelManager": MappingKernelManager,
               "KernelSpecManager": KernelSpecManager}
    for section, options in lab.SERVER_CONFIG.items():
        traits = classes[section].class_traits(config=True)
        assert set(options) <= set(traits), f"{section}: unknown options {set(options) - set(traits)}"


def _occupied_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_default_port_taken_gives_way_to_a_free_one(monkeypatch):
    sock, port = _occupied_port()
    with sock:
        monkeypatch.setattr(lab, "DEFAULT_PORT", port)
        monkeypatch.delenv("WORKBOOK_LAB_PORT", raising=False)
        chosen, note = lab.choose_port(None)
        assert chosen != port and lab.port_is_free(chosen)
        assert str(port) in note and str(chosen) in note


def test_requested_port_taken_is_an_error(monkeypatch):
    sock, port = _occupied_port()
    with sock:
        with pytest.raises(lab.LabError, match=f"port {port} is already in use"):
            lab.choose_port(port)
        monkeypatch.setenv("WORKBOOK_LAB_PORT", str(port))
        with pytest.raises(lab.LabError, match="already in use"):
            lab.choose_port(None)


def test_lab_command_serves_loopback_on_exactly_that_port(tmp_path):
    cmd = lab.lab_command(tmp_path, 9123, "secret")
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert {"--ip=127.0.0.1", "--port=9123", "--ServerApp.port_retries=0",
            "--IdentityProvider.token=secret", f"--ServerApp.root_dir={tmp_path}"} <= set(cmd)
