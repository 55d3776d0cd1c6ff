"""Delivery that never loses an inventory (issue 15, items 3 and 5), against real servers.

The central server is a real `tiebreak server run` subprocess on 127.0.0.1 with a real
organisation and agent token; TLS goes through a real nginx with a test CA made by openssl;
answers the real server never gives on demand (500, 429 with Retry-After) come from a small real
HTTP server on 127.0.0.1 that plays a script and counts requests. The agent runs as `tiebreak`
subprocesses, except where the waits are observed through the injected `Pacing`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import tiebreak_test_server
from sqlalchemy import Engine, select

from inventory import Agent, Finding, Inventory, Observation, Organisation

pytestmark = [pytest.mark.service, pytest.mark.slow]

ORGANISATION = "Commune de Test"
SIREN = "213105554"
PASSWORD = "MotDePasse-Annuaire-7Qx42"


_free_port = tiebreak_test_server.free_port


# -- the real central server ---------------------------------------------------------------------


@dataclass
class RealServer:
    """A `tiebreak server run` subprocess on its own SQLite database, with one organisation."""

    command: list[str]
    env: dict[str, str]
    data: Path
    engine: Engine
    token: str
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        """Start the server and wait until it answers."""
        self.process = subprocess.Popen(
            [
                *(*self.command, "server", "run", "--host", "127.0.0.1"),
                *("--port", str(self.port), "--data-dir", str(self.data), *extra),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        tiebreak_test_server.wait_until_up(
            self.process, self.url, tiebreak_test_server.stderr_of(self.process)
        )

    def stop(self) -> None:
        tiebreak_test_server.stop(self.process)
        self.process = None

    def documents(self) -> dict[str, dict[str, Any]]:
        """Every inventory the server stored, by id, as stored."""
        from server import db
        from server.store import inventories

        with self.engine.connect() as connection:
            ids = [str(row) for row in connection.scalars(select(db.inventories.c.id))]
            return {i: json.loads(inventories.document(connection, i) or "{}") for i in ids}


def _real_server(tmp: Path, command: list[str], env: dict[str, str]) -> RealServer:
    from server import admin, db, migrations

    data = tmp / "server-data"
    data.mkdir()
    engine = db.make_engine(f"sqlite:///{data / 'tiebreak.sqlite3'}")
    migrations.migrate(engine)
    _org, token = admin.create_organisation(engine, ORGANISATION, SIREN)
    return RealServer(command, env, data, engine, token)


@pytest.fixture
def server(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> Iterator[RealServer]:
    """A real server for this test, not started yet (call .start())."""
    made = _real_server(tmp_path, tiebreak_cmd, subprocess_env)
    yield made
    made.stop()
    made.engine.dispose()


@pytest.fixture(scope="module")
def running_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RealServer]:
    """One real server started for the tests that only need it up (inflated limit 1 MB)."""
    env = dict(os.environ) | {"PYTHONPATH": str(Path(__file__).parents[2]), "TIEBREAK_LANG": "fr"}
    made = _real_server(tmp_path_factory.mktemp("server"), [sys.executable, "-m", "agent"], env)
    made.start("--max-inflated-mb", "1")
    yield made
    made.stop()
    made.engine.dispose()


# -- a scripted HTTP server ----------------------------------------------------------------------


@dataclass
class Scripted:
    """Answers POST /api/v1/inventories from a script of (status, headers), then 201."""

    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    received: list[tuple[float, str]] = field(default_factory=list)
    url: str = ""

    def answer(self, status: int, detail: str = "", **headers: str) -> None:
        self.script.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, detail))


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    """A Scripted server running in a thread on 127.0.0.1."""
    state = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            inventory_id = str(json.loads(gzip.decompress(body))["id"])
            state.received.append((time.monotonic(), inventory_id))
            status, headers, detail = state.script.pop(0) if state.script else (201, {}, "")
            answer: dict[str, Any] = {"detail": detail or f"statut {status}"}
            if status == 201:
                answer = {"id": inventory_id, "page": f"/inventaires/{inventory_id}"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{http.server_address[1]}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield state
    http.shutdown()
    http.server_close()


# -- the agent -----------------------------------------------------------------------------------


@dataclass
class AgentRun:
    """Where one agent keeps its files, and how to run it."""

    tmp: Path
    command: list[str]
    env: dict[str, str]

    @property
    def spool(self) -> Path:
        return self.tmp / "spool"

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    def config(self, url: str, token: str, **server: Any) -> Path:
        """Write the configuration (token in a file) and return its path."""
        token_file = self.tmp / "agent-token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        lines = [f'url = "{url}"', f'token_file = "{token_file}"']
        lines += [f"{key} = {json.dumps(value)}" for key, value in server.items()]
        path = self.tmp / "tiebreak.toml"
        path.write_text(
            f'[organisation]\nname = "{ORGANISATION}"\nsiren = "{SIREN}"\n\n'
            '[scope]\nnetworks = ["127.0.0.1/32"]\n\n[server]\n' + "\n".join(lines) + "\n"
        )
        return path

    def __call__(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *(str(a) for a in args)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def waiting(self) -> list[str]:
        return sorted(p.stem for p in self.spool.glob("*.json"))


@pytest.fixture
def agent(tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]) -> AgentRun:
    """The agent of this test: its own spool and state directories."""
    run = AgentRun(tmp_path, tiebreak_cmd, subprocess_env)
    run.env = subprocess_env | {"TIEBREAK_SPOOL": str(run.spool), "TIEBREAK_STATE": str(run.state)}
    return run


def _inventory(observations: int = 1, noise: int = 0) -> Inventory:
    """An inventory of the test organisation; `noise` bytes of random hex per observation."""
    now = datetime.now(UTC)
    values = [
        f"paquet-{n} {os.urandom(noise // 2).hex()}" if noise else f"paquet-{n}"
        for n in range(observations)
    ]
    found = [Observation.make("system", "package", "127.0.0.1", value) for value in values]
    return Inventory(
        organisation=Organisation(name=ORGANISATION, siren=SIREN),
        agent=Agent(version="0.1.0", hostname="poste-test"),
        started_at=now,
        finished_at=now,
        observations=found,
        findings=[
            Finding(
                id="f-00000000000000aa",
                product="microsoft-exchange",
                product_name="Microsoft Exchange Server",
                vendor="microsoft",
                vendor_name="Microsoft",
                jurisdiction="non-eu",
                category="infrastructure",
                domain="messagerie",
                locus="127.0.0.1",
                confidence="strong",
                evidence=[found[0].id],
            )
        ],
    )


def _write(tmp: Path, inventory: Inventory, compact: bool = False) -> Path:
    path = tmp / f"inventaire-{inventory.id}.json"
    path.write_text(inventory.to_json(indent=None if compact else 2))
    return path


def _tree_text(*roots: Path) -> str:
    """Everything in these directories (files of any name, recursively), as text."""
    chunks = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


# -- server down, then back -----------------------------------------------------------------------


def test_server_down_spools_then_send_delivers_exactly_once(
    agent: AgentRun, server: RealServer
) -> None:
    config = agent.config(server.url, server.token, retries=1, retry_base=0.05)
    output = agent.tmp / "inventaire.json"
    down = agent("scan", "-c", config, "-p", "system", "-q", "--send", "-o", output)
    assert down.returncode == 3, down.stderr
    assert "serveur injoignable" in down.stderr and "connexion refusée" in down.stderr
    assert "Error" not in down.stderr  # a sentence, not an exception class
    inventory_id = json.loads(output.read_text())["id"]
    assert agent.waiting() == [inventory_id]

    status = agent("status", "-c", config)
    assert status.returncode == 0, status.stderr
    assert "1 inventaire(s)" in status.stdout and inventory_id in status.stdout
    assert "non envoyé" in status.stdout and "injoignable" in status.stdout

    server.start()
    sent = agent("send", "-c", config)
    assert sent.returncode == 0, sent.stderr
    assert f"Inventaire {inventory_id} envoyé" in sent.stdout
    assert agent.waiting() == []
    again = agent("send", "-c", config)
    assert again.returncode == 0 and "Rien en attente" in again.stdout
    assert list(server.documents()) == [inventory_id]  # once

    status = agent("status", "-c", config, "--check")
    assert status.returncode == 0, status.stderr
    assert f"à valider sur {server.url}/" in status.stdout
    assert f"jeton accepté (organisation : {ORGANISATION})" in status.stdout
    assert "0 inventaire(s)" in status.stdout


def test_a_wrong_token_stops_with_a_clear_message_and_keeps_everything(
    agent: AgentRun, running_server: RealServer
) -> None:
    config = agent.config(running_server.url, "tb_pas-le-bon-jeton")
    inventory = _inventory()
    result = agent("send", "-c", config, _write(agent.tmp, inventory))
    assert result.returncode == 3
    assert "jeton refusé" in result.stderr and "[server] token_file" in result.stderr
    assert agent.waiting() == [str(inventory.id)]
    checked = agent("status", "-c", config, "--check")
    assert checked.returncode == 3 and "jeton refusé" in checked.stdout
    assert str(inventory.id) not in running_server.documents()


def test_check_server_and_the_agent_endpoint(running_server: RealServer, tmp_path: Path) -> None:
    import requests

    from agent.config import ServerConfig
    from agent.sender import check_server

    token_file = tmp_path / "token"
    token_file.write_text(running_server.token)
    good = ServerConfig(url=running_server.url, token_file=token_file)
    assert check_server(good) == (
        True,
        f"serveur joignable, jeton accepté (organisation : {ORGANISATION})",
    )
    answer = requests.get(
        f"{running_server.url}/api/v1/agent",
        headers={"Authorization": f"Bearer {running_server.token}"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["organisation"]["name"] == ORGANISATION
    assert isinstance(answer.json()["organisation"]["id"], int)
    assert requests.get(f"{running_server.url}/api/v1/agent", timeout=10).status_code == 401
    token_file.write_text("tb_inconnu")
    accepted, message = check_server(good)
    assert not accepted and message.startswith("jeton refusé")
    down = ServerConfig(url=f"http://127.0.0.1:{_free_port()}", token_file=token_file)
    accepted, message = check_server(down)
    assert not accepted and "connexion refusée" in message


# -- refusals and retries ------------------------------------------------------------------------


def test_a_too_large_inventory_goes_to_rejected_with_the_servers_413(
    agent: AgentRun, running_server: RealServer
) -> None:
    config = agent.config(running_server.url, running_server.token)
    big = _inventory(observations=2500, noise=400)  # some 1.7 MB inflated; the server takes 1
    small = _inventory()
    result = agent("send", "-c", config, _write(agent.tmp, big), _write(agent.tmp, small))
    assert result.returncode == 0, result.stderr  # nothing left waiting
    assert "413" in result.stderr and "refusé" in result.stderr
    rejected = agent.spool / "rejected"
    assert json.loads((rejected / f"{big.id}.json").read_text())["id"] == str(big.id)
    assert "413" in (rejected / f"{big.id}.reason.txt").read_text()
    stored = running_server.documents()
    assert str(small.id) in stored and str(big.id) not in stored


def test_500_is_retried_with_backoff_until_it_succeeds(agent: AgentRun, scripted: Scripted) -> None:
    scripted.answer(500)
    scripted.answer(502)
    config = agent.config(scripted.url, "tb_x", retries=3, retry_base=0.05, retry_cap=0.1)
    inventory = _inventory()
    result = agent("send", "-c", config, _write(agent.tmp, inventory))
    assert result.returncode == 0, result.stderr
    assert [name for _at, name in scripted.received] == [str(inventory.id)] * 3
    assert agent.waiting() == []


def test_retries_are_bounded_and_the_inventory_waits(agent: AgentRun, scripted: Scripted) -> None:
    for _ in range(5):
        scripted.answer(500, "panne\x1b[2J\x07 interne")
    config = agent.config(scripted.url, "tb_x", retries=2, retry_base=0.01)
    inventory = _inventory()
    result = agent("send", "-c", config, _write(agent.tmp, inventory))
    assert result.returncode == 3
    assert len(scripted.received) == 3
    assert "HTTP 500" in result.stderr and "3 tentatives" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr  # hostile text defused
    assert agent.waiting() == [str(inventory.id)]


def test_429_retry_after_is_waited_for(agent: AgentRun, scripted: Scripted) -> None:
    scripted.answer(429, Retry_After="1")
    # The backoff alone would wait at most 0.01 s: a 1 s gap can only be the Retry-After.
    config = agent.config(scripted.url, "tb_x", retry_base=0.01, retry_cap=0.01)
    inventory = _inventory()
    result = agent("send", "-c", config, _write(agent.tmp, inventory))
    assert result.returncode == 0, result.stderr
    (first, _), (second, _) = scripted.received
    assert 0.95 <= second - first < 5
    assert agent.waiting() == []


def test_retry_after_as_an_http_date_and_the_backoff_through_the_injected_pacing(
    tmp_path: Path, scripted: Scripted, french: None
) -> None:
    from agent.config import ServerConfig
    from agent.sender import Pacing, deliver

    now = datetime.now(UTC).replace(microsecond=0)
    scripted.answer(503, Retry_After=format_datetime(now + timedelta(seconds=7), usegmt=True))
    scripted.answer(500)
    scripted.answer(504)
    waits: list[float] = []
    pacing = Pacing(sleep=waits.append, random=lambda: 0.5, now=lambda: now)
    token = tmp_path / "token"
    token.write_text("tb_x")
    server = ServerConfig(url=scripted.url, token_file=token, retry_base=2, retry_cap=3)
    outcomes = deliver(b'{"id": "a"}', "a", server, tmp_path / "spool", pacing=pacing)
    assert [(name, outcome.sent, outcome.attempts) for name, outcome in outcomes] == [
        ("a", True, 4)
    ]
    # Retry-After to the second; then half (random 0.5) of min(cap, base × 2^attempt).
    assert waits == [7.0, 0.5 * 3, 0.5 * 3]


def test_retry_after_above_the_cap_stops_and_says_when(agent: AgentRun, scripted: Scripted) -> None:
    scripted.answer(503, Retry_After="3600")
    config = agent.config(scripted.url, "tb_x", retry_after_max=30)
    older, newer = _inventory(), _inventory()
    agent.spool.mkdir(mode=0o700)
    (agent.spool / f"{older.id}.json").write_text(older.to_json())
    os.utime(agent.spool / f"{older.id}.json", (1_000_000_000, 1_000_000_000))
    started = time.monotonic()
    result = agent("send", "-c", config, _write(agent.tmp, newer))
    assert time.monotonic() - started < 30
    assert result.returncode == 3
    assert len(scripted.received) == 1  # the run stopped at the first answer
    assert "3600 s" in result.stderr and "réessayez après" in result.stderr
    assert agent.waiting() == sorted([str(older.id), str(newer.id)])


# -- addresses and certificates ------------------------------------------------------------------


def test_http_to_a_non_loopback_address_is_a_configuration_error(agent: AgentRun) -> None:
    from agent.config import ConfigError, parse_config

    config = agent.config("http://serveur.example", "tb_x")
    checked = agent("config", "check", "-c", config)
    assert checked.returncode == 2
    assert "[server] url: http:// seulement vers l'adresse de bouclage" in checked.stderr
    assert "serveur.example" in checked.stderr
    sent = agent("send", "-c", config)
    assert sent.returncode == 2 and "[server] url" in sent.stderr
    for url in ("http://192.0.2.1:8750", "http://[::ffff:127.0.0.1]/", "http://127.1/"):
        with pytest.raises(ConfigError, match=r"\[server\] url: http://"):
            parse_config({"organisation": {"name": "X"}, "server": {"url": url}})
    for url in (
        "https://serveur.example",
        "http://127.0.0.1:8750",
        "http://127.8.9.10",
        "http://[::1]:8750/",
        "http://LocalHost:8750",
    ):
        parsed = parse_config({"organisation": {"name": "X"}, "server": {"url": url}})
        assert parsed.server is not None and parsed.server.url == url


def test_server_settings_are_validated_with_clear_messages(agent: AgentRun) -> None:
    config = agent.config(
        "https://serveur.example", "tb_x", spool_max_mb=0, retries=-1, retry_after_max="long"
    )
    checked = agent("config", "check", "-c", config)
    assert checked.returncode == 2
    assert "[server] spool_max_mb: taille invalide" in checked.stderr
    assert "[server] retries: -1 hors de / out of 0..10" in checked.stderr
    assert "[server] retry_after_max: nombre de secondes attendu" in checked.stderr
    missing = agent.config("https://serveur.example", "tb_x", ca_bundle="/nulle/part/ca.pem")
    checked = agent("config", "check", "-c", missing)
    assert checked.returncode == 2
    assert "[server] ca_bundle: fichier introuvable / file not found: /nulle/part/ca.pem" in (
        checked.stderr
    )


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *(str(a) for a in args)], check=True, capture_output=True)


def _make_pki(directory: Path) -> dict[str, Path]:
    """A test CA and certificates: valid for 127.0.0.1, expired, and for another name."""
    directory.mkdir()
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ca_key, ca = directory / "ca.key", directory / "ca.crt"
    _openssl(
        "req", "-x509", *ec, "-days", "2", "-subj", "/O=Autorité de test/CN=Test CA", "-utf8",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", ca_key, "-out", ca,
    )  # fmt: skip
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("1000\n")
    (directory / "new").mkdir()
    (directory / "ca.cnf").write_text(
        f"[ca]\ndefault_ca = test\n[test]\ndatabase = {directory / 'index.txt'}\n"
        f"new_certs_dir = {directory / 'new'}\nserial = {directory / 'serial'}\n"
        "default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\n"
        "[any]\ncommonName = supplied\n"
    )
    made = {"ca": ca}
    for kind, names, dates in (
        ("valid", "IP:127.0.0.1,DNS:localhost", ("-days", "2")),
        (
            "expired",
            "IP:127.0.0.1",
            ("-startdate", "20230101000000Z", "-enddate", "20240101000000Z"),
        ),
        ("wrong-name", "DNS:autre-serveur.example", ("-days", "2")),
    ):
        key, csr, crt = (directory / f"{kind}.{ext}" for ext in ("key", "csr", "crt"))
        extensions = directory / f"{kind}.ext"
        extensions.write_text(
            "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
            f"subjectAltName={names}\n"
        )
        _openssl("req", "-new", *ec, "-subj", f"/CN={kind}", "-keyout", key, "-out", csr)
        _openssl(
            "ca", "-batch", "-notext", "-config", directory / "ca.cnf", "-cert", ca,
            "-keyfile", ca_key, "-in", csr, "-out", crt, *dates, "-extfile", extensions,
        )  # fmt: skip
        made[kind] = crt
        made[f"{kind}-key"] = key
    return made


@dataclass
class TlsFront:
    """nginx terminating TLS in front of the real server, one port per certificate."""

    ca: Path
    ports: dict[str, int]


@pytest.fixture(scope="module")
def tls_front(
    running_server: RealServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsFront]:
    """nginx on 127.0.0.1 with the valid, expired and wrong-name certificates."""
    if shutil.which("nginx") is None or shutil.which("openssl") is None:
        pytest.skip("nginx and openssl are needed for the TLS tests")
    work = tmp_path_factory.mktemp("tls")
    pki = _make_pki(work / "pki")
    ports = {kind: _free_port() for kind in ("valid", "expired", "wrong-name")}
    servers = "\n".join(
        f"""    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {pki[kind]}; ssl_certificate_key {pki[f"{kind}-key"]};
        location / {{ proxy_pass {running_server.url}; }}
    }}"""
        for kind, port in ports.items()
    )
    temp = "\n".join(
        f"    {name}_temp_path {work / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root root;" if os.geteuid() == 0 else ""
    config = work / "nginx.conf"
    config.write_text(
        f"daemon off;\nworker_processes 1;\n{user}\npid {work / 'nginx.pid'};\n"
        f"error_log {work / 'error.log'};\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log off;\n    client_max_body_size 64m;\n{temp}\n{servers}\n}}\n"
    )
    nginx = subprocess.Popen(
        ["nginx", "-p", str(work), "-c", str(config), "-e", str(work / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if nginx.poll() is not None:
            raise RuntimeError(nginx.stderr.read().decode() if nginx.stderr else "nginx failed")
        try:
            with socket.create_connection(("127.0.0.1", ports["wrong-name"]), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    yield TlsFront(pki["ca"], ports)
    nginx.terminate()
    nginx.wait(10)


def test_tls_with_the_ca_bundle_delivers_to_the_real_server(
    agent: AgentRun, running_server: RealServer, tls_front: TlsFront
) -> None:
    url = f"https://127.0.0.1:{tls_front.ports['valid']}"
    config = agent.config(url, running_server.token, ca_bundle=str(tls_front.ca))
    inventory = _inventory()
    result = agent("send", "-c", config, _write(agent.tmp, inventory))
    assert result.returncode == 0, result.stderr
    assert f"à valider sur {url}/" in result.stdout
    assert str(inventory.id) in running_server.documents()
    checked = agent("status", "-c", config, "--check")
    assert checked.returncode == 0 and "jeton accepté" in checked.stdout


@pytest.mark.parametrize(
    ("kind", "bundle", "expected"),
    [
        ("valid", False, "certificat non approuvé : indiquez l'autorité dans [server] ca_bundle"),
        ("expired", True, "certificat du serveur expiré"),
        ("wrong-name", True, "le certificat du serveur ne porte pas le nom de [server] url"),
    ],
)
def test_a_certificate_problem_gets_a_clear_message_and_the_inventory_waits(
    agent: AgentRun,
    running_server: RealServer,
    tls_front: TlsFront,
    kind: str,
    bundle: bool,
    expected: str,
) -> None:
    extra = {"ca_bundle": str(tls_front.ca)} if bundle else {}
    url = f"https://127.0.0.1:{tls_front.ports[kind]}"
    config = agent.config(url, running_server.token, retry_base=0.01, **extra)
    inventory = _inventory()
    result = agent("send", "-c", config, _write(agent.tmp, inventory))
    assert result.returncode == 3
    assert expected in result.stderr
    assert "SSLError" not in result.stderr and "Traceback" not in result.stderr
    assert agent.waiting() == [str(inventory.id)]
    assert str(inventory.id) not in running_server.documents()


# -- the spool: killed writers, secrets, full disk, bound ----------------------------------------


def test_kill_9_while_writing_a_big_spool_file_never_leaves_a_broken_entry(
    agent: AgentRun,
) -> None:
    closed = f"http://127.0.0.1:{_free_port()}"
    config = agent.config(closed, "tb_x", retries=0)
    big = _write(agent.tmp, _inventory(observations=30_000, noise=200), compact=True)
    size = big.stat().st_size
    assert size > 8_000_000
    agent.spool.mkdir(mode=0o700)
    chance = random.Random(15)  # repeatable moments
    killed_while_writing = 0
    for _ in range(6):
        before = {p.name for p in agent.spool.iterdir()}
        process = subprocess.Popen(
            [*agent.command, "send", "-c", str(config), str(big)],
            env=agent.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if {p.name for p in agent.spool.iterdir()} - before:
                break  # writing has begun
            time.sleep(0.001)
        time.sleep(chance.uniform(0, 0.03))
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        left = {p.name for p in agent.spool.iterdir()} - before
        killed_while_writing += any(name.endswith(".tmp") for name in left)
        for entry in agent.spool.glob("*.json"):
            data = entry.read_bytes()
            assert len(data) == size, f"{entry} is {len(data)} bytes"
            assert json.loads(data)["id"] == entry.stem
        # Start again from an empty spool so that every round writes the file anew.
        for entry in agent.spool.glob("*.json"):
            entry.unlink()
    assert killed_while_writing >= 1, "no round was killed in the middle of the write"


def _with_directory(config: Path, password_file: Path) -> Path:
    """Add a [directory] section whose bind password is in `password_file`."""
    with config.open("a") as handle:
        handle.write(
            f'\n[directory]\nurl = "ldap://127.0.0.1:{_free_port()}"\n'
            f'bind_dn = "cn=lecteur,dc=test,dc=fr"\npassword_file = "{password_file}"\n'
            "timeout = 2\n"
        )
    return config


def test_the_token_and_the_directory_password_never_show(
    agent: AgentRun, server: RealServer
) -> None:
    password_file = agent.tmp / "ldap-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    scan = ("scan", "-p", "system", "-p", "directory", "--send")
    shown: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config = _with_directory(agent.config(url, server.token, retries=0), password_file)
        process = subprocess.Popen(
            [*agent.command, *scan, "-c", str(config), "-o", str(agent.tmp / "inventaire-1.json")],
            env=agent.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        silent.settimeout(60)
        connection, _ = silent.accept()  # the agent is sending: it holds both secrets now
        with connection:
            time.sleep(0.2)
            shown.append(Path(f"/proc/{process.pid}/cmdline").read_bytes().decode())
            shown.append(Path(f"/proc/{process.pid}/status").read_text())
            process.kill()
            shown.extend(process.communicate(timeout=30))
    server.start()
    config = _with_directory(agent.config(server.url, server.token, retries=0), password_file)
    second = agent(*scan, "-c", config, "-o", agent.tmp / "inventaire-2.json")
    assert second.returncode in (0, 1), second.stderr  # the directory probe fails: partial
    status = agent("status", "-c", config)
    assert "envoyé" in status.stdout and len(server.documents()) == 2
    shown += [second.stdout, second.stderr, status.stdout, status.stderr]
    assert (agent.state / "history").is_dir() and (agent.state / "last-delivery.json").is_file()
    files = _tree_text(agent.spool, agent.state)
    inventories = "\n".join(p.read_text() for p in agent.tmp.glob("inventaire-*.json"))
    stored = json.dumps(server.documents())
    for secret in (server.token, PASSWORD):
        for where, text in (
            ("process arguments and output", "\n".join(shown)),
            ("spool and state files", files),
            ("inventory files", inventories),
            ("documents on the server", stored),
        ):
            assert secret not in text, f"a secret shows in the {where}"


@pytest.mark.root
def test_a_full_disk_keeps_the_inventory_file_and_says_so(agent: AgentRun) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as the spool needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    agent.spool.mkdir(mode=0o700)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(agent.spool)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        filler = agent.spool / "remplissage"
        with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
            while handle.write(b"\0" * 4096):
                pass
        config = agent.config(f"http://127.0.0.1:{_free_port()}", "tb_x", retries=0)
        output = agent.tmp / "inventaire.json"
        result = agent("scan", "-c", config, "-p", "system", "-q", "--send", "-o", output)
        assert result.returncode == 3
        assert "disque plein" in result.stderr and str(agent.spool) in result.stderr
        assert f"tiebreak send {output}" in result.stderr
        inventory_id = json.loads(output.read_text())["id"]
        assert agent.waiting() == []
        assert not [p for p in agent.spool.iterdir() if p.name.endswith(".tmp")]

        filler.unlink()  # room again: the file given sends as promised
        again = agent("send", "-c", config, output)
        assert again.returncode == 3  # the server is down: it waits in the spool now
        assert agent.waiting() == [inventory_id]
    finally:
        subprocess.run(["umount", str(agent.spool)], check=False)


def test_the_spool_bound_drops_the_oldest_and_the_next_inventory_says_so(
    agent: AgentRun, server: RealServer
) -> None:
    inventories = [_inventory(observations=40) for _ in range(4)]
    files = [_write(agent.tmp, inventory) for inventory in inventories]
    size = max(path.stat().st_size for path in files)
    limit = 2.5 * size / 1024 / 1024  # room for two
    config = agent.config(server.url, server.token, retries=0, spool_max_mb=limit)
    results = []
    for path in files:  # the server is down: each one waits
        results.append(agent("send", "-c", config, path))
        assert results[-1].returncode == 3, results[-1].stderr
    first, second, third, fourth = (str(i.id) for i in inventories)
    assert "supprimé" not in results[0].stderr + results[1].stderr
    assert f"l'inventaire le plus ancien, {first}" in results[2].stderr
    assert f"l'inventaire le plus ancien, {second}" in results[3].stderr
    assert "[server] spool_max_mb" in results[2].stderr
    assert agent.waiting() == sorted([third, fourth])
    status = agent("status", "-c", config)
    assert "2 inventaire(s) supprimé(s) faute de place" in status.stdout

    server.start()
    sent = agent("send", "-c", config)
    assert sent.returncode == 0, sent.stderr
    stored = server.documents()
    assert sorted(stored) == sorted([third, fourth])
    assert stored[third]["agent"]["spool_dropped"] == 1
    assert stored[fourth]["agent"]["spool_dropped"] == 1
    after = _inventory()
    assert agent("send", "-c", config, _write(agent.tmp, after)).returncode == 0
    assert server.documents()[str(after.id)]["agent"]["spool_dropped"] == 0


def test_spool_state_and_deliver_waiting_for_the_tui(
    tmp_path: Path, scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.config import ServerConfig
    from agent.history import last_delivery
    from agent.sender import deliver_waiting, spool_state

    monkeypatch.setenv("TIEBREAK_SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("TIEBREAK_STATE", str(tmp_path / "state"))
    token = tmp_path / "token"
    token.write_text("tb_x")
    server = ServerConfig(url=scripted.url, token_file=token, spool_max_mb=1)
    assert spool_state(server).waiting == ()
    (tmp_path / "spool").mkdir(mode=0o700)
    names = []
    for age in (300, 200, 100):
        inventory = _inventory()
        path = tmp_path / "spool" / f"{inventory.id}.json"
        path.write_text(inventory.to_json())
        os.utime(path, (time.time() - age, time.time() - age))
        names.append(str(inventory.id))
    scripted.answer(422, "invalide")
    state = spool_state(server)
    assert [e.name for e in state.waiting] == names
    assert state.total_bytes == sum(e.size for e in state.waiting)
    assert state.limit_bytes == 1024 * 1024 and state.rejected == 0
    outcomes = deliver_waiting(server)
    assert [(n, o.sent, o.permanent) for n, o in outcomes] == [
        (names[0], False, True),
        (names[1], True, False),
        (names[2], True, False),
    ]
    state = spool_state(server)
    assert state.waiting == () and state.rejected == 1
    record = last_delivery()
    assert record is not None and record.result == "partial"
    assert record.items[1].page == f"{scripted.url}/inventaires/{names[1]}"


def test_jitter_is_validated_and_quiet_prints_nothing(agent: AgentRun, scripted: Scripted) -> None:
    config = agent.config(scripted.url, "tb_x")
    bad = agent("send", "-c", config, "--jitter", "-3")
    assert bad.returncode == 2 and "--jitter" in bad.stderr
    started = time.monotonic()
    quiet = agent("send", "-c", config, "--jitter", "0.3", "-q", _write(agent.tmp, _inventory()))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "" and quiet.stderr == ""
    assert time.monotonic() - started < 20
    assert len(scripted.received) == 1


def test_the_delivery_guide_covers_every_server_setting(repo: Path) -> None:
    from agent.config import ServerConfig

    guide = (repo / "docs" / "delivery.md").read_text(encoding="utf-8")
    french, english = guide.split("\n---\n")
    for key in ServerConfig.model_fields:
        assert f"# {key} = " in french or f"\n{key} = " in french, key
        assert f"# {key} = " in english or f"\n{key} = " in english, key
