"""One hostile client can neither freeze the server nor exhaust its connections (issue 10, item 1).

A real `tiebreak server run` on the loopback address, attacked through raw sockets: a huge
header, clients that send half a header, a body shorter than its Content-Length, too many
headers. `/api/v1/health` must keep answering within a second, and the server's memory stay flat.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import requests

from server import admin, db, migrations

pytestmark = [
    pytest.mark.service,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

LIMITS = ["--header-timeout", "2", "--body-timeout", "2", "--max-connections", "40"]


@pytest.fixture
def server(server_process: Any, database_url: str) -> Iterator[Any]:
    """The server with small limits, and an agent token of its organisation."""
    engine = db.make_engine(database_url)
    migrations.migrate(engine)
    _, server_process.token = admin.create_organisation(engine, "Commune de Test")
    engine.dispose()
    server_process.arguments += LIMITS
    server_process.start()
    yield server_process


def _health_ms(url: str) -> float:
    started = time.monotonic()
    answer = requests.get(f"{url}/api/v1/health", timeout=5)
    assert answer.status_code == 200
    return (time.monotonic() - started) * 1000


def _connect(port: int, first: bytes) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(first)
    return client


def _answer(client: socket.socket, within: float) -> bytes:
    client.settimeout(within)
    try:
        return client.recv(200)
    except (TimeoutError, ConnectionResetError):
        return b""


def test_a_huge_header_is_refused_at_once_and_costs_no_memory(server: Any) -> None:
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    client = _connect(server.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        while sent < 64 * 1024 * 1024:
            client.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass  # the server closed the connection: what we want
    assert _answer(client, 2).startswith(b"HTTP/1.1 431")
    assert sent < 4 * 1024 * 1024, "the server read megabytes of header before refusing"
    assert _health_ms(server.url) < 1000
    assert process.memory_info().rss - before < 20 * 1024 * 1024


def test_too_many_headers_are_refused(server: Any) -> None:
    many = b"".join(b"X-%d: y\r\n" % n for n in range(150))
    client = _connect(server.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert _answer(client, 2).startswith(b"HTTP/1.1 431")


def test_half_headers_neither_delay_health_nor_keep_other_clients_out(server: Any) -> None:
    slow = [_connect(server.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n") for _ in range(60)]
    # More slow clients than --max-connections (40): the oldest made room for the newest.
    assert _answer(slow[0], 1).startswith(b"HTTP/1.1 408")
    assert _health_ms(server.url) < 1000
    # Past --header-timeout (2 s), every one of them was answered and let go.
    started = time.monotonic()
    answers = [_answer(client, 4) for client in slow[1:]]
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers
    assert time.monotonic() - started < 4
    assert _health_ms(server.url) < 1000


def test_a_body_shorter_than_its_content_length_is_dropped(server: Any) -> None:
    head = (
        "POST /api/v1/inventories HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    ).encode()
    client = _connect(server.port, head)
    started = time.monotonic()
    assert _health_ms(server.url) < 1000
    client.settimeout(10)
    try:
        rest = client.recv(200)
    except ConnectionResetError:
        rest = b""
    waited = time.monotonic() - started
    assert rest == b"" or not rest.startswith(b"HTTP/1.1 2")
    assert waited < 5, f"the connection stayed open {waited:.1f} s (--body-timeout 2)"
