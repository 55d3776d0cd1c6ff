"""The single-file agent runs on a Python that has nothing installed but the standard library."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from inventory.models import Inventory

pytestmark = pytest.mark.slow

DEBIAN_PYTHON = Path("/usr/bin/python3")


def _same_abi(python: Path) -> str | None:
    """Why `python` cannot run this build's .pyz, or None when it can."""
    if not python.exists():
        return f"{python} absent"
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != str(sys.version_info[:2]):
        built_for = sys.version_info[:2]
        return f"{python} est / is {version}, le .pyz est pour / the .pyz is for {built_for}"
    return None


def _python(kind: str, bare_python: Path) -> Path:
    if kind == "bare-venv":
        return bare_python
    if (why := _same_abi(DEBIAN_PYTHON)) is not None:
        pytest.skip(why)
    return DEBIAN_PYTHON


@pytest.mark.parametrize("kind", ["bare-venv", "debian-python3"])
def test_pyz_lists_probes_and_scans_without_pip(
    kind: str,
    built: Any,
    bare_python: Path,
    clean_env: dict[str, str],
    config_file: Path,
    run: Any,
    tmp_path: Path,
) -> None:
    python = _python(kind, bare_python)
    assert run([python, "-c", "import pydantic"], clean_env, tmp_path).returncode == 1
    env = {**clean_env, "SHIV_ROOT": str(tmp_path / "shiv")}

    probes = run([python, built.pyz, "probes"], env, tmp_path)
    assert probes.returncode == 0, probes.stderr
    assert "system" in probes.stdout and "directory" in probes.stdout
    assert list((tmp_path / "shiv").iterdir()), "shiv unpacks into $SHIV_ROOT"
    assert not (Path(env["HOME"]) / ".shiv").exists()

    output = tmp_path / "x.json"
    argv = [python, built.pyz, "scan", "--probe", "system", "-q", "--config", config_file]
    scanned = run([*argv, "-o", output], env, tmp_path)
    assert scanned.returncode == 0, scanned.stderr
    inventory = Inventory.model_validate_json(output.read_text(encoding="utf-8"))
    assert [(p.name, p.status) for p in inventory.probes] == [("system", "ok")]
    assert inventory.organisation.name == "Commune de Test"

    server = run(
        [python, built.pyz, "server", "migrate", "--data-dir", tmp_path / "d"], env, tmp_path
    )
    assert server.returncode == 2 and "pip install 'tiebreak[server]'" in server.stderr


def test_pyz_holds_the_agent_and_none_of_the_servers_dependencies(built: Any) -> None:
    assert built.pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert built.pyz.stat().st_size < 20 * 2**20
    with zipfile.ZipFile(built.pyz) as archive:
        tops = {
            name.split("/")[1] for name in archive.namelist() if name.startswith("site-packages/")
        }
    assert {"agent", "probes", "fingerprints", "inventory", "psutil", "pydantic_core"} <= tops
    assert not tops & {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "jinja2"}
