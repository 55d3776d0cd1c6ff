"""Fixtures of the server tests: a fresh database on SQLite or PostgreSQL, organisations, clients.

Every API test runs twice, on SQLite (a file in the test's temporary directory) and on the
PostgreSQL of this machine (127.0.0.1:5432, trust authentication), in a database created for the
test session and dropped after it, each test in its own schema.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tiebreak_test_server
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from inventory import Agent, Finding, Inventory, Observation, Organisation
from server import admin, db, migrations
from server.app import create_app
from server.settings import Settings

PG_HOST, PG_PORT = "127.0.0.1", 5432
PASSWORD = "correct horse battery staple"


def _pg_user() -> str:
    import psycopg

    for user in ("postgres", "root"):
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="test"):
                return user
        except psycopg.OperationalError:
            continue
    raise RuntimeError("PostgreSQL at 127.0.0.1:5432 accepts neither postgres nor root")


def _start_postgresql() -> None:
    if shutil.which("pg_isready") is None:
        return
    ready = subprocess.run(["pg_isready", "-q", "-h", PG_HOST, "-p", str(PG_PORT)], check=False)
    if ready.returncode != 0:
        version = sorted(os.listdir("/etc/postgresql"))[0]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False
        )


@pytest.fixture(scope="session")
def postgresql_database() -> Iterator[str]:
    """A PostgreSQL database for this test session (dropped at its end); its base URL."""
    import psycopg

    _start_postgresql()
    user = _pg_user()
    name = f"tiebreak_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=user, dbname="test", autocommit=True
    ) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=user, dbname="test", autocommit=True
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of the session database."""
    if request.param == "sqlite":
        # The file `tiebreak server run --data-dir <tmp>/data` uses, for tests with a real server.
        (tmp_path / "data").mkdir()
        yield f"sqlite:///{tmp_path / 'data' / 'tiebreak.sqlite3'}"
        return
    import psycopg

    base: str = request.getfixturevalue("postgresql_database")
    schema = f"t_{secrets.token_hex(6)}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    yield f"{base}?options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the fresh database, migrated."""
    made = db.make_engine(database_url)
    migrations.migrate(made)
    yield made
    made.dispose()


@dataclass
class Tenant:
    """An organisation with its agent token, a reviewer and a viewer."""

    id: int
    name: str
    siren: str | None
    token: str
    reviewer: str
    viewer: str


@dataclass
class Api:
    """The application on a fresh database with two organisations, A and B, and an admin."""

    app: Any
    engine: Engine
    client: TestClient
    a: Tenant
    b: Tenant
    password: str = PASSWORD

    def send(self, inventory: Inventory | bytes, token: str, **headers: str) -> Any:
        """POST an inventory with an agent token."""
        body = inventory if isinstance(inventory, bytes) else inventory.to_json().encode()
        return self.client.post(
            "/api/v1/inventories",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            | headers,
        )

    def session(self, username: str) -> TestClient:
        """A new client signed in as `username`."""
        client = TestClient(self.app)
        answer = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return client


def make_tenant(engine: Engine, name: str, siren: str | None, **kwargs: Any) -> Tenant:
    """Create an organisation, its reviewer and its viewer."""
    org_id, token = admin.create_organisation(engine, name, siren, **kwargs)
    slug = f"org{org_id}"
    admin.create_user(engine, f"{slug}-reviewer", PASSWORD, admin.Role.REVIEWER, [str(org_id)])
    admin.create_user(engine, f"{slug}-viewer", PASSWORD, admin.Role.VIEWER, [str(org_id)])
    return Tenant(org_id, name, siren, token, f"{slug}-reviewer", f"{slug}-viewer")


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Server settings with small limits, so that the size rules are quick to test."""
    return Settings(
        database_url=database_url,
        max_body_bytes=2 * 1024 * 1024,
        max_decompressed_bytes=4 * 1024 * 1024,
    )


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[Api]:
    """The application with organisations A (SIREN 213105554) and B (SIREN 200046977)."""
    app = create_app(settings, engine)
    a = make_tenant(engine, "Commune de Saint-Étienne-du-Test", "213105554")
    b = make_tenant(engine, "Métropole Autre", "200046977")
    admin.create_user(engine, "admin", PASSWORD, admin.Role.ADMIN, [])
    with TestClient(app) as client:
        yield Api(app, engine, client, a, b)


def finding(number: int, locus: str = "127.0.0.1", product: str = "microsoft-exchange") -> Finding:
    """A plausible finding, different for each number."""
    return Finding(
        id=f"f-{number:016x}",
        product=product,
        product_name="Microsoft Exchange Server",
        vendor="microsoft",
        vendor_name="Microsoft",
        vendor_country="US",
        jurisdiction="non-eu",
        category="infrastructure",
        domain="messagerie",
        locus=locus,
        version=f"15.{number}",
        confidence="strong",
        evidence=[f"o-{number:016x}"],
    )


InventoryFactory = Callable[..., Inventory]


@pytest.fixture
def make_inventory() -> InventoryFactory:
    """Build an inventory of an organisation with `findings` findings."""

    def build(
        name: str,
        siren: str | None = None,
        findings: int = 3,
        locus: str = "127.0.0.1",
        **extra: Any,
    ) -> Inventory:
        now = datetime.now(UTC)
        observation = Observation.make("system", "package", locus, "exchange-server 15.2")
        fields: dict[str, Any] = {
            "id": uuid.uuid4(),
            "organisation": Organisation(name=name, siren=siren),
            "agent": Agent(version="0.1.0", hostname="poste-test"),
            "started_at": now,
            "finished_at": now,
            "observations": [observation],
            "findings": [finding(n, locus) for n in range(findings)],
        }
        return Inventory(**(fields | extra))

    return build


free_port = tiebreak_test_server.free_port


@dataclass
class ServerProcess:
    """A `tiebreak server run` subprocess on the loopback address."""

    url: str
    port: int
    arguments: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        command = [*self.arguments, "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        tiebreak_test_server.wait_until_up(
            self.process, self.url, tiebreak_test_server.stderr_of(self.process)
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        tiebreak_test_server.stop(self.process)
        self.process = None


@pytest.fixture
def server_process(
    database_url: str, tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> Iterator[ServerProcess]:
    """A real server on the test's database (not started: call .start())."""
    port = free_port()
    data = ["--data-dir", str(tmp_path / "data")]
    if database_url.startswith("postgresql"):
        data = ["--database-url", database_url]
    arguments = [
        *tiebreak_cmd,
        "server",
        "run",
        "--host",
        "127.0.0.1",
        "--max-body-mb",
        "64",
        *data,
    ]
    server = ServerProcess(f"http://127.0.0.1:{port}", port, arguments, subprocess_env)
    yield server
    server.stop()


def _load_browser_helpers() -> Any:
    """tests/server/browser.py as `tiebreak_test_browser` (tests/conftest.py's loader)."""
    import sys

    return sys.modules["tiebreak_test_loader"].load_helper(
        Path(__file__).with_name("browser.py"), "tiebreak_test_browser"
    )


# One headless Chromium per session for the browser tests (Playwright on /usr/bin/chromium).
chromium = _load_browser_helpers().chromium
