"""`tiebreak scan --send` against a real server: delivery, spool when the server is down, resend."""

from __future__ import annotations

import json
import os
import signal
import socket
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
retry_base = 0.05
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


# Issue 10, items 7 to 9: write-ahead spool, one bad item never blocks the queue, spool trust.


def _stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {str(row) for row in connection.scalars(select(db.inventories.c.id))}


def _receive_one_request(connection: socket.socket) -> bytes:
    """Read a whole HTTP request (headers and body) from the agent; never answer."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, "the agent closed the connection before sending its request"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "the agent closed the connection in the middle of its request"
        body += chunk
    return head


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["KILL", "TERM"])
def test_an_inventory_survives_a_kill_while_the_server_does_not_answer(
    tmp_path: Path,
    engine: Engine,
    server_process: Any,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
    signal_number: int,
) -> None:
    _org, token = admin.create_organisation(engine, "Commune de Test", "213105554")
    spool = tmp_path / "spool"
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent.settimeout(120)
        (tmp_path / "silent").mkdir()
        hanging = _config(tmp_path / "silent", f"http://127.0.0.1:{silent.getsockname()[1]}", token)
        output = tmp_path / "inventaire-1.json"
        agent = subprocess.Popen(
            [
                *tiebreak_cmd,
                *("scan", "--config", str(hanging), "--probe", "system", "--quiet"),
                *("--send", "--output", str(output)),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            connection, _ = silent.accept()
            with connection:
                head = _receive_one_request(connection)
                assert head.startswith(b"POST /api/v1/inventories ")
                # The agent now waits for an answer that never comes: kill it there.
                agent.send_signal(signal_number)
                assert agent.wait(30) != 0
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    first_id = json.loads(output.read_text())["id"]

    server_process.start()
    config = _config(tmp_path, server_process.url, token)
    again = _scan(tmp_path, tiebreak_cmd, env, config, 2)
    assert again.returncode in (0, 1), again.stderr
    second_id = json.loads((tmp_path / "inventaire-2.json").read_text())["id"]
    assert _stored_ids(engine) == {first_id, second_id}
    assert list(spool.glob("*.json")) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_inventory_of_another_organisation_is_rejected_and_never_blocks_the_queue(
    tmp_path: Path,
    engine: Engine,
    server_process: Any,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
    make_inventory: Any,
) -> None:
    _org, token = admin.create_organisation(engine, "Commune de Test", "213105554")
    admin.create_organisation(engine, "Autre", "200046977")
    config = _config(tmp_path, server_process.url, token)
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    foreign = make_inventory("Autre", "200046977")
    waiting = spool / f"{foreign.id}.json"
    waiting.write_text(foreign.to_json())
    os.utime(waiting, (1_000_000_000, 1_000_000_000))  # the oldest: head of the queue
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}
    server_process.start()

    first = _scan(tmp_path, tiebreak_cmd, env, config, 1)
    assert first.returncode in (0, 1), first.stderr
    assert "403" in first.stderr and "rejected" in first.stderr
    second = _scan(tmp_path, tiebreak_cmd, env, config, 2)
    assert second.returncode in (0, 1), second.stderr
    assert _stored(engine) == 2
    assert str(foreign.id) not in _stored_ids(engine)
    assert not waiting.exists()
    assert (spool / "rejected" / waiting.name).read_text() == foreign.to_json()
    reason = (spool / "rejected" / f"{foreign.id}.reason.txt").read_text()
    assert "403" in reason and "Autre" in reason
    assert list(spool.glob("*.json")) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bad_token_keeps_every_inventory_and_stops(
    tmp_path: Path,
    engine: Engine,
    server_process: Any,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
    make_inventory: Any,
) -> None:
    admin.create_organisation(engine, "Commune de Test", "213105554")
    config = _config(tmp_path, server_process.url, "tb_not-a-token")
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    older = make_inventory("Commune de Test", "213105554")
    (spool / f"{older.id}.json").write_text(older.to_json())
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}
    server_process.start()

    result = _scan(tmp_path, tiebreak_cmd, env, config, 1)
    assert result.returncode == 3, result.stderr
    assert "401" in result.stderr
    current = json.loads((tmp_path / "inventaire-1.json").read_text())["id"]
    assert sorted(p.stem for p in spool.glob("*.json")) == sorted([str(older.id), current])
    assert not (spool / "rejected").exists()
    assert _stored(engine) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_spool_entries_that_are_not_regular_files_are_skipped_never_followed(
    tmp_path: Path,
    engine: Engine,
    server_process: Any,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
    make_inventory: Any,
) -> None:
    _org, token = admin.create_organisation(engine, "Commune de Test", "213105554")
    config = _config(tmp_path, server_process.url, token)
    # A root-only file the server would accept if the agent read it through a link.
    secret = make_inventory("Commune de Test", "213105554")
    shadow = tmp_path / "shadow"
    shadow.write_text(secret.to_json())
    shadow.chmod(0o600)
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    (spool / "x.json").symlink_to(shadow)
    (spool / "dangling.json").symlink_to(tmp_path / "nowhere")
    (spool / "directory.json").mkdir()
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}
    server_process.start()

    for n in (1, 2):
        result = _scan(tmp_path, tiebreak_cmd, env, config, n)
        assert result.returncode in (0, 1), result.stderr
        for name in ("x.json", "dangling.json", "directory.json"):
            assert name in result.stderr
    assert str(secret.id) not in _stored_ids(engine)
    assert _stored(engine) == 2
    assert shadow.read_text() == secret.to_json()
    assert (spool / "x.json").is_symlink() and not (spool / "rejected").exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("unsafe", ["other-owner", "mode-0777", "sticky-1777", "/tmp"])
def test_an_unsafe_spool_directory_is_refused_before_scanning(
    tmp_path: Path,
    engine: Engine,
    server_process: Any,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
    unsafe: str,
) -> None:
    _org, token = admin.create_organisation(engine, "Commune de Test", "213105554")
    config = _config(tmp_path, server_process.url, token)
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    if unsafe == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("changing a directory's owner needs root")
        os.chown(spool, 65534, 65534)
    elif unsafe == "mode-0777":
        spool.chmod(0o777)
    elif unsafe == "sticky-1777":
        spool.chmod(0o1777)
    else:
        spool = Path(unsafe)
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}
    server_process.start()

    result = _scan(tmp_path, tiebreak_cmd, env, config, 1)
    assert result.returncode == 2, result.stderr
    assert str(spool) in result.stderr and "refusé" in result.stderr
    assert not (tmp_path / "inventaire-1.json").exists()
    assert _stored(engine) == 0
    if unsafe != "/tmp":
        assert list(spool.iterdir()) == []
