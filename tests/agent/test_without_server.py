"""The agent installs and scans without the central server's dependencies (`tiebreak[server]`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SERVER_ONLY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "jinja2", "argon2")

# Run tiebreak with the server's dependencies made unimportable, as on a machine where only the
# agent was installed.
_BLOCKER = f"""
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {SERVER_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from agent.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _tiebreak(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BLOCKER, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_scan_runs_and_server_says_what_to_install(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    assert _tiebreak(["config", "init", "tiebreak.toml"], subprocess_env, tmp_path).returncode == 0
    output = tmp_path / "inventaire.json"
    scanned = _tiebreak(
        ["scan", "--probe", "system", "-q", "-o", str(output)], subprocess_env, tmp_path
    )
    assert scanned.returncode == 0, scanned.stderr
    assert '"findings"' in output.read_text()

    server = _tiebreak(
        ["server", "migrate", "--data-dir", str(tmp_path / "d")], subprocess_env, tmp_path
    )
    assert server.returncode == 2
    assert "pip install 'tiebreak[server]'" in server.stderr
    assert "Traceback" not in server.stderr
