"""`pip install tiebreak` and `pipx install tiebreak` give a working agent without the server.

Both install from the session's wheelhouse with no index, as a machine would from the package
index: pip resolves tiebreak's requirements itself, so a dependency missing from the wheel's
metadata fails here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agent import __version__
from inventory.models import Inventory

pytestmark = pytest.mark.slow


def _check_agent(bin_dir: Path, python: Path, run: Any, env: dict[str, str], tmp: Path) -> None:
    """The installed `tiebreak` answers, scans this machine, and points to `tiebreak[server]`."""
    tiebreak = bin_dir / "tiebreak"
    helped = run([tiebreak, "--help"], env, tmp)
    assert helped.returncode == 0, helped.stderr
    assert "scan" in helped.stdout and "probes" in helped.stdout

    probes = run([tiebreak, "probes"], env, tmp)
    assert probes.returncode == 0, probes.stderr
    assert {"system", "host", "processes", "dns", "nmap", "http", "directory"} <= {
        line.split()[0] for line in probes.stdout.splitlines() if line.strip()
    }

    (tmp / "tiebreak.toml").write_text('[organisation]\nname = "Commune de Test"\n')
    output = tmp / "x.json"
    scanned = run([tiebreak, "scan", "--probe", "system", "-q", "-o", output], env, tmp)
    assert scanned.returncode == 0, scanned.stderr
    assert scanned.stdout == ""  # --quiet: errors only
    inventory = Inventory.model_validate_json(output.read_text(encoding="utf-8"))
    assert [(p.name, p.status) for p in inventory.probes] == [("system", "ok")]
    assert any(o.channel == "os" for o in inventory.observations)

    tui = run([python, "-c", "import textual.app, agent"], env, tmp)
    assert tui.returncode == 0, tui.stderr
    fastapi = run([python, "-c", "import fastapi"], env, tmp)
    assert fastapi.returncode == 1 and "No module named 'fastapi'" in fastapi.stderr

    server = run([tiebreak, "server", "migrate", "--data-dir", tmp / "data"], env, tmp)
    assert server.returncode == 2
    assert "pip install 'tiebreak[server]'" in server.stderr
    assert "Traceback" not in server.stderr


def test_pip_install_gives_the_agent_without_the_server(
    built: Any, clean_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    created = run([sys.executable, "-m", "venv", "--without-pip", venv], clean_env, tmp_path)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    # The project's pip drives the new environment; no index, only the wheelhouse.
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q"]
    installed = run(
        [*pip, "--no-index", "--find-links", built.wheelhouse, "tiebreak"], clean_env, tmp_path
    )
    assert installed.returncode == 0, installed.stderr
    listed = run([python, "-m", "pip", "--version"], clean_env, tmp_path)
    assert listed.returncode != 0  # nothing but tiebreak and its dependencies went in
    _check_agent(venv / "bin", python, run, clean_env, tmp_path)
    # The example configuration is read from the installed package, not from the repository.
    initialised = run(
        [venv / "bin" / "tiebreak", "config", "init", "neuf.toml"], clean_env, tmp_path
    )
    assert initialised.returncode == 0, initialised.stderr
    assert "[organisation]" in (tmp_path / "neuf.toml").read_text(encoding="utf-8")


def test_pipx_install_works_offline(
    built: Any, clean_env: dict[str, str], run: Any, tmp_path: Path
) -> None:
    pipx = Path(sys.executable).parent / "pipx"
    if not pipx.exists():
        pytest.skip("pipx n'est pas installé (extra dev) / pipx is not installed (dev extra)")
    env = {
        **clean_env,
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
        "PIP_FIND_LINKS": str(built.wheelhouse),
    }
    installed = run([pipx, "install", built.wheel], env, tmp_path, timeout=180)
    assert installed.returncode == 0, installed.stderr
    python = tmp_path / "pipx" / "venvs" / "tiebreak" / "bin" / "python"
    _check_agent(tmp_path / "bin", python, run, env, tmp_path)
    listed = run([pipx, "list", "--json"], env, tmp_path)
    venvs = json.loads(listed.stdout)["venvs"]
    assert venvs["tiebreak"]["metadata"]["main_package"]["package_version"] == __version__
