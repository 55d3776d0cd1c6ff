"""`tiebreak scan --send` against a real server: delivery, spool when the server is down, resend."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from server import admin, db

pytestmark = [pytest.mark.service, pytest.mark.slow]


def _config(tmp_path: Path, url: str, token: str) -> Path:
    token_file = tmp_path / "agent-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    config = tmp_path / "tiebreak.toml"
    config.write_text(
        f"""
[organisation]
name = "Commune de Test"
siren = "213105554"

[scope]
networks = ["127.0.0.1/32"]

[server]
url = "{url}"
token_file = "{token_file}"
"""
    )
    return config


def _scan(tmp_path: Path, cmd: list[str], env: dict[str, str], config: Path, n: int) -> Any:
    return subprocess.run(
        [
            *cmd,
            "scan",
            "--config",
            str(config),
            "--probe",
            "system",
            "--quiet",
            "--send",
            "--output",
            str(tmp_path / f"inventaire-{n}.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(db.inventories)) or 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unsent_inventory_waits_in_the_spool_and_goes_with_the_next_scan(
    tmp_path: Path,
    engine: Engine,
    server_process: Any,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
) -> None:
    _org, token = admin.create_organisation(engine, "Commune de Test", "213105554")
    config = _config(tmp_path, server_process.url, token)
    spool = tmp_path / "spool"
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}

    down = _scan(tmp_path, tiebreak_cmd, env, config, 1)
    assert down.returncode == 3, down.stderr
    assert "en attente" in down.stderr
    waiting = list(spool.glob("*.json"))
    assert len(waiting) == 1
    first_id = json.loads((tmp_path / "inventaire-1.json").read_text())["id"]
    assert waiting[0].stem == first_id
    assert token not in down.stdout + down.stderr

    server_process.start()
    up = _scan(tmp_path, tiebreak_cmd, env, config, 2)
    assert up.returncode in (0, 1), up.stderr
    assert up.stdout.count("envoyé") == 0  # --quiet prints errors only
    assert list(spool.glob("*.json")) == []
    assert _stored(engine) == 2
    assert token not in up.stdout + up.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_inventory_moves_to_rejected_with_the_reason(
    tmp_path: Path, engine: Engine, server_process: Any, french: None
) -> None:
    from agent.config import ServerConfig
    from agent.sender import deliver

    admin.create_organisation(engine, "Commune de Test", "213105554")
    _org, other_token = admin.create_organisation(engine, "Autre", "200046977")
    server_process.start()
    token_file = tmp_path / "token"
    token_file.write_text(other_token)
    server = ServerConfig(url=server_process.url, token_file=token_file)
    document = json.dumps({"schema": "1.0", "id": "nope"}).encode()
    outcomes = deliver(document, "bad", server, tmp_path / "spool")
    assert [(name, o.sent, o.permanent) for name, o in outcomes] == [("bad", False, True)]
    assert (tmp_path / "spool" / "rejected" / "bad.json").read_bytes() == document
    assert "422" in (tmp_path / "spool" / "rejected" / "bad.reason.txt").read_text()
    assert _stored(engine) == 0


def test_send_without_a_server_section_stops_before_scanning(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    config = tmp_path / "tiebreak.toml"
    config.write_text('[organisation]\nname = "Commune de Test"\n')
    output = tmp_path / "inventaire.json"
    result = subprocess.run(
        [*tiebreak_cmd, "scan", "--config", str(config), "--send", "-q", "-o", str(output)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "[server]" in result.stderr
    assert not output.exists()


def test_an_unreadable_token_keeps_the_inventory_in_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.config import ServerConfig
    from agent.sender import send_inventory

    monkeypatch.setenv("TIEBREAK_SPOOL", str(tmp_path / "spool"))
    server = ServerConfig(url="http://127.0.0.1:9", token_file=tmp_path / "gone")
    assert send_inventory(b"{}", "abc", server, quiet=True) is False
    assert (tmp_path / "spool" / "abc.json").read_bytes() == b"{}"
    assert "gone" in capsys.readouterr().err
