"""What people install: the wheel, an offline wheelhouse of the agent's dependencies, the .pyz.

`scripts/build-agent-pyz` builds all three once per session, without network: the dependencies
come from this environment's installed distributions, packed back into wheels. Each install
test then runs in a clean environment: its own HOME, no PIP_* or PYTHON* variable from outside,
no index (pip may only use the wheelhouse).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-agent-pyz"
CONFIG = '[organisation]\nname = "Commune de Test"\n'


@dataclass(frozen=True)
class Built:
    """The files `scripts/build-agent-pyz` produced."""

    wheel: Path
    wheelhouse: Path
    pyz: Path
    started: float  # time.time() when the build began: later files cannot be in it


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Wheel, wheelhouse and single-file agent, built once by the project's own script."""
    out = tmp_path_factory.mktemp("built")
    pyz = out / "tiebreak-agent.pyz"
    wheels = out / "wheels"
    started = time.time()
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--output", str(pyz), "--wheelhouse", str(wheels)],
        env=_clean_env(out),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = wheels.glob("tiebreak-*.whl")
    return Built(wheel, wheels, pyz, started)


def _clean_env(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "PYTHON", "TIEBREAK_", "PIPX_", "SHIV_", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        PATH="/usr/local/bin:/usr/bin:/bin",
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONNOUSERSITE="1",
        TIEBREAK_LANG="fr",
    )
    return env


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """An environment like a fresh login's: HOME in tmp_path, no pip configuration, no index."""
    home = tmp_path / "home"
    home.mkdir()
    return _clean_env(home)


Run = Callable[..., subprocess.CompletedProcess[str]]


def _run(
    argv: list[str | Path], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def run() -> Run:
    """Run a command, capture its output as text; never raises on a non-zero exit."""
    return _run


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The smallest valid configuration: an organisation name."""
    path = tmp_path / "tiebreak.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def bare_python(tmp_path: Path) -> Path:
    """A new virtual environment without pip or any package: only the standard library."""
    directory = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    return directory / "bin" / "python"
