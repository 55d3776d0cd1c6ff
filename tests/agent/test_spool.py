"""The spool of `tiebreak scan --send` (issue 10, items 8 and 9), against a loopback HTTP server.

The server here is a small real one on 127.0.0.1 that answers each inventory with the status the
test chose for its id, so that one inventory can fail while the others go.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


class FakeServer:
    """Answers POST /api/v1/inventories: `statuses[id]`, else 201 with a receipt."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.received: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                inventory_id = str(json.loads(gzip.decompress(body))["id"])
                fake.received.append(inventory_id)
                status = fake.statuses.get(inventory_id, 201)
                answer = {"detail": f"status {status}"}
                if status == 201:
                    answer = {"id": inventory_id, "page": f"/inventaires/{inventory_id}"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A FakeServer running in a thread."""
    fake = FakeServer()
    thread = threading.Thread(target=fake.http.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.http.shutdown()
    fake.http.server_close()


def _config(tmp_path: Path, url: str) -> Path:
    token_file = tmp_path / "agent-token"
    token_file.write_text("tb_test-token\n")
    token_file.chmod(0o600)
    config = tmp_path / "tiebreak.toml"
    config.write_text(
        f"""
[organisation]
name = "Commune de Test"

[scope]
networks = ["127.0.0.1/32"]

[server]
url = "{url}"
token_file = "{token_file}"
retries = 2
retry_base = 0.01
"""
    )
    return config


def _waiting(spool: Path, age: int) -> str:
    """Put an inventory in the spool, `age` seconds old; its id."""
    inventory_id = str(uuid.uuid4())
    path = spool / f"{inventory_id}.json"
    path.write_text(json.dumps({"schema": "1.0", "id": inventory_id}))
    path.chmod(0o600)
    stamp = 1_700_000_000 - age
    os.utime(path, (stamp, stamp))
    return inventory_id


def _scan(
    tmp_path: Path, tiebreak_cmd: list[str], env: dict[str, str], config: Path
) -> subprocess.CompletedProcess[str]:
    output = tmp_path / "inventaire.json"
    return subprocess.run(
        [
            *tiebreak_cmd,
            *("scan", "--config", str(config), "--probe", "system", "-q", "--send"),
            *("--output", str(output)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_temporary_failure_of_one_inventory_does_not_stop_the_others(
    tmp_path: Path,
    fake_server: FakeServer,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    failing = _waiting(spool, 200)
    fine = _waiting(spool, 100)
    fake_server.statuses[failing] = 500
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}

    result = _scan(tmp_path, tiebreak_cmd, env, _config(tmp_path, fake_server.url))
    assert result.returncode in (0, 1), result.stderr
    current = json.loads((tmp_path / "inventaire.json").read_text())["id"]
    # Oldest first (tried three times: `retries = 2`), this scan last.
    assert fake_server.received == [failing, failing, failing, fine, current]
    assert [p.stem for p in spool.glob("*.json")] == [failing]  # kept for the next run
    assert "500" in result.stderr and failing in result.stderr and "3 tentatives" in result.stderr
    assert not (spool / "rejected").exists()


def test_a_refused_inventory_never_moves_through_a_rejected_symlink(
    tmp_path: Path,
    fake_server: FakeServer,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (spool / "rejected").symlink_to(elsewhere)
    refused = _waiting(spool, 100)
    fake_server.statuses[refused] = 422
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}

    result = _scan(tmp_path, tiebreak_cmd, env, _config(tmp_path, fake_server.url))
    assert result.returncode in (0, 1), result.stderr
    current = json.loads((tmp_path / "inventaire.json").read_text())["id"]
    assert fake_server.received == [refused, current]
    assert list(elsewhere.iterdir()) == []
    assert (spool / f"{refused}.json").is_file()  # still in the spool, and said so
    assert "rejected" in result.stderr
    assert (spool / "rejected").is_symlink()


def test_the_spool_is_created_private_and_a_fifo_is_skipped(
    tmp_path: Path,
    fake_server: FakeServer,
    tiebreak_cmd: list[str],
    subprocess_env: dict[str, str],
) -> None:
    spool = tmp_path / "state" / "spool"
    env = subprocess_env | {"TIEBREAK_SPOOL": str(spool)}
    config = _config(tmp_path, fake_server.url)
    assert _scan(tmp_path, tiebreak_cmd, env, config).returncode in (0, 1)
    assert spool.stat().st_mode & 0o777 == 0o700
    os.mkfifo(spool / "pipe.json")  # read through, it would block the agent for ever
    result = _scan(tmp_path, tiebreak_cmd, env, config)
    assert result.returncode in (0, 1), result.stderr
    assert "pipe.json" in result.stderr
    assert len(fake_server.received) == 2


def test_open_spool_refuses_shared_directories_and_symlinks(tmp_path: Path) -> None:
    from agent.sender import SpoolError, open_spool

    with pytest.raises(SpoolError, match="/tmp"):
        open_spool(Path("/tmp"))
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(SpoolError, match="link"):
        open_spool(tmp_path / "link")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(SpoolError, match="shared"):
        open_spool(shared / "below" / "spool")
    assert not (shared / "below").exists()
    with open_spool(real) as spool:
        spool.put("abc", b"{}")
    assert (real / "abc.json").read_bytes() == b"{}"
    assert (real / "abc.json").stat().st_mode & 0o777 == 0o600
