"""The server under stress: killed mid-ingest, 50 agents at once, and schemathesis's fuzzing.

These start a real `tiebreak server run` process (SQLite and PostgreSQL) and are marked slow.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine, func, select, text

from server import admin, db

pytestmark = [pytest.mark.service, pytest.mark.slow]


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        inventories = connection.scalar(select(func.count()).select_from(db.inventories))
        findings = connection.scalar(select(func.count()).select_from(db.findings))
    return int(inventories or 0), int(findings or 0)


def _wait_until_mid_transaction(engine: Engine, database_url: str, data: Path) -> None:
    """Return once the server has started writing findings but not committed them."""
    deadline = time.monotonic() + 60
    wal = data / "tiebreak.sqlite3-wal"
    start_size = wal.stat().st_size if wal.exists() else 0
    while time.monotonic() < deadline:
        if database_url.startswith("sqlite"):
            # SQLite spills the uncommitted pages of a big transaction to the WAL file.
            if wal.exists() and wal.stat().st_size > start_size + 1_000_000:
                return
        else:
            with engine.connect() as connection:
                busy = connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                        "AND query LIKE 'INSERT INTO findings%'"
                    )
                )
            if busy:
                return
        time.sleep(0.002)
    raise AssertionError("the server never started writing the inventory")


def test_kill_9_during_a_large_ingest_then_a_resend_stores_exactly_one_inventory(
    engine: Engine,
    database_url: str,
    server_process: Any,
    make_inventory: Any,
    tmp_path: Path,
) -> None:
    _org, token = admin.create_organisation(engine, "Commune de Test", "213105554")
    inventory = make_inventory("Commune de Test", "213105554", findings=40_000)
    body = gzip.compress(inventory.to_json(indent=None).encode(), compresslevel=1)
    url = f"{server_process.url}/api/v1/inventories"
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    server_process.start()

    def send() -> None:
        # The server dies under this request: a connection error is what we expect.
        with contextlib.suppress(requests.ConnectionError):
            requests.post(url, data=body, headers=headers, timeout=120)

    sender = threading.Thread(target=send)
    sender.start()
    _wait_until_mid_transaction(engine, database_url, tmp_path / "data")
    assert server_process.process is not None
    os.kill(server_process.process.pid, signal.SIGKILL)
    server_process.process.wait()
    sender.join(30)
    assert _counts(engine) == (0, 0), "a killed ingest left a partial or committed inventory"

    server_process.start()
    answer = requests.post(url, data=body, headers=headers, timeout=120)
    assert answer.status_code == 201, answer.text
    again = requests.post(url, data=body, headers=headers, timeout=120)
    assert (again.status_code, again.json()) == (201, answer.json())
    assert _counts(engine) == (1, 40_000)


def test_fifty_agents_sending_at_once_are_all_stored(
    engine: Engine, server_process: Any, make_inventory: Any
) -> None:
    agents = []
    for number in range(50):
        name = f"Commune {number:02d}"
        _org, token = admin.create_organisation(engine, name)
        agents.append((token, make_inventory(name, findings=60)))
    server_process.start()
    start = threading.Barrier(len(agents))
    answers: list[tuple[int, str]] = []

    def send(token: str, inventory: Any) -> None:
        start.wait()
        answer = requests.post(
            f"{server_process.url}/api/v1/inventories",
            data=gzip.compress(inventory.to_json().encode()),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            timeout=120,
        )
        answers.append((answer.status_code, answer.text))

    threads = [threading.Thread(target=send, args=agent) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert sorted(status for status, _ in answers) == [201] * 50, [
        body for status, body in answers if status != 201
    ][:3]
    assert _counts(engine) == (50, 50 * 60)


def test_the_same_inventory_sent_ten_times_at_once_is_stored_once(
    engine: Engine, server_process: Any, make_inventory: Any
) -> None:
    _org, token = admin.create_organisation(engine, "Commune de Test", "213105554")
    body = make_inventory("Commune de Test", "213105554", findings=200).to_json().encode()
    server_process.start()
    start = threading.Barrier(10)
    answers: list[tuple[int, Any]] = []

    def send() -> None:
        start.wait()
        answer = requests.post(
            f"{server_process.url}/api/v1/inventories",
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=120,
        )
        answers.append((answer.status_code, answer.json()))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == 10
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0][0] == 201
    assert _counts(engine) == (1, 200)


def test_schemathesis_finds_no_server_error(api: Any) -> None:
    """Every operation, fed with generated data, signed in as an admin and with A's token."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.app)
    cookies = dict(api.session("admin").cookies)
    headers = {"Authorization": f"Bearer {api.a.token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9

    for operation in operations:

        @given(case=operation.as_strategy())
        # Derandomized so that CI is repeatable; TIEBREAK_FUZZ_EXAMPLES=500 explores further.
        # 100 examples an operation (15 before issue 10): some 20 s more a backend in CI.
        @settings(
            max_examples=int(os.environ.get("TIEBREAK_FUZZ_EXAMPLES", "100")),
            derandomize="TIEBREAK_FUZZ_EXAMPLES" not in os.environ,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers, cookies=cookies, checks=[not_a_server_error])

        fuzz()
