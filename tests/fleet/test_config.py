"""`[fleet]`: errors name the key, secrets come from files of mode 600 or the environment, the
pseudonym key is created once and kept, and `tiebreak scan` hands the section to the probe."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config

helpers = sys.modules["tiebreak_test_fleet_helpers"]

HEAD = '[organisation]\nname = "Commune d\'Exemple"\n\n'


def _load(tmp_path: Path, fleet: str) -> object:
    path = tmp_path / "tiebreak.toml"
    path.write_text(HEAD + "[fleet]\n" + fleet, encoding="utf-8")
    return load_config(path)[1]


def _problems(tmp_path: Path, fleet: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, fleet)
    return str(caught.value)


@pytest.mark.parametrize(
    ("fleet", "expected"),
    [
        ("", "[fleet]: ni folders ni glpi_url : rien à lire"),
        ('folders = ["/nulle/part"]\n', "[fleet] folders[0]: dossier introuvable"),
        (
            'glpi_url = "http://127.0.0.1/glpi/apirest.php"\nglpi_user_token_env = "T"\n',
            "[fleet] glpi_url: URL invalide",
        ),
        (
            'glpi_url = "https://127.0.0.1/glpi/apirest.php"\n',
            "glpi_url demande glpi_user_token_file (fichier en mode 600) ou glpi_user_token_env",
        ),
        (
            'glpi_url = "https://127.0.0.1/apirest.php"\nglpi_user_token_env = "A"\n'
            'glpi_user_token_file = "/x"\n',
            "glpi_user_token_file et glpi_user_token_env s'excluent",
        ),
        (
            'glpi_url = "https://127.0.0.1/apirest.php"\nglpi_user_token_env = "A"\n'
            "page_size = 0\n",
            "[fleet] page_size: 0 hors de / out of 1..1000",
        ),
        (
            'folders = ["/tmp"]\nmax_machine = 10\n',
            "vouliez-vous dire / did you mean 'max_machines'",
        ),
        ('folders = ["/tmp"]\nglpi_user_token_env = "T"\n', "un jeton GLPI sans glpi_url"),
        ('folders = ["/tmp"]\ntimeout = 0\n', "[fleet] timeout: durée invalide"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, fleet: str, expected: str) -> None:
    assert expected in _problems(tmp_path, fleet)


def test_tokens_come_from_private_files_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "glpi-user-token"
    user.write_text("jeton-secret\n", encoding="utf-8")
    user.chmod(0o600)
    monkeypatch.setenv("TIEBREAK_GLPI_APP_TOKEN", "jeton-app")
    key = tmp_path / "state" / "fleet.key"
    config = _load(
        tmp_path,
        f'glpi_url = "https://127.0.0.1/glpi/apirest.php"\nglpi_user_token_file = "{user}"\n'
        f'glpi_app_token_env = "TIEBREAK_GLPI_APP_TOKEN"\npseudonym_key_file = "{key}"\n',
    )
    settings = config.fleet.settings()  # type: ignore[attr-defined]
    assert settings.setup_error is None
    assert (settings.user_token, settings.app_token) == ("jeton-secret", "jeton-app")
    assert "jeton" not in repr(settings) and "pseudonym_key" not in repr(settings)
    # The key was created on first use, private, and is the same the next time.
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64
    assert config.fleet.settings().pseudonym_key == settings.pseudonym_key  # type: ignore[attr-defined]

    user.chmod(0o644)
    refused = config.fleet.settings()  # type: ignore[attr-defined]
    assert "[fleet] glpi_user_token_file" in refused.setup_error
    assert "chmod 600" in refused.setup_error
    monkeypatch.delenv("TIEBREAK_GLPI_APP_TOKEN")
    user.chmod(0o600)
    missing = config.fleet.settings()  # type: ignore[attr-defined]
    assert "[fleet] glpi_app_token_env" in missing.setup_error


def test_a_setup_error_fails_only_the_fleet_probe(tmp_path: Path) -> None:
    scan = helpers.scan(
        folders=(tmp_path,), setup_error="[fleet] glpi_user_token_file: fichier introuvable"
    )
    assert scan.run.status == "failed"
    assert "[fleet] glpi_user_token_file" in scan.run.error


def test_tiebreak_scan_reads_the_fleet_section(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    for sample in helpers.PUBLISHED.iterdir():
        shutil.copy(sample, exports / sample.name)
    key = tmp_path / "fleet.key"
    config = tmp_path / "tiebreak.toml"
    config.write_text(
        HEAD + f'[fleet]\nname = "postes de la mairie"\nfolders = ["{exports}"]\n'
        f'pseudonym_key_file = "{key}"\n',
        encoding="utf-8",
    )
    output = tmp_path / "inventaire.json"
    done = subprocess.run(
        [*tiebreak_cmd, "scan", "--config", str(config), "--probe", "fleet", "--quiet",
         "--output", str(output)],
        capture_output=True, text=True, env=subprocess_env, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    inventory = json.loads(output.read_text(encoding="utf-8"))
    (run,) = inventory["probes"]
    assert (run["name"], run["status"]) == ("fleet", "ok")
    windows = [f for f in inventory["findings"] if f["product"] == "microsoft-windows"]
    assert [f["locus"] for f in windows] == ["postes de la mairie"]
    assert windows[0]["attributes"]["devices"] == 3
    assert "pc-arg-23" not in output.read_text(encoding="utf-8")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_the_probe_is_skipped_without_a_fleet_section() -> None:
    from probes.base import ProbeContext
    from probes.fleet.probe import FleetProbe

    reason = FleetProbe().unavailable(ProbeContext())
    assert reason is not None and "[fleet]" in reason


def test_without_a_key_file_the_pseudonym_key_lives_in_the_agents_state_directory(
    tmp_path: Path, private_state: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    config = _load(tmp_path, f'folders = ["{folder}"]\n')
    first = config.fleet.settings()  # type: ignore[attr-defined]
    key = private_state / "fleet-pseudonym.key"
    assert first.setup_error is None
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # The same key next time: the same machines keep the same pseudonyms.
    assert config.fleet.settings().pseudonym_key == first.pseudonym_key  # type: ignore[attr-defined]
