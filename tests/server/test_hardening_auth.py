"""Sign-in hardening (issue 10, items 2, 4 and 5): argon2 within OWASP's parameters and few checks
at once, throttling that slows an attacker without locking the owner out, forwarded headers only
from trusted proxies, Secure cookies over HTTPS, security headers on every answer."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import psutil
import pytest
import requests
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from server import admin, auth, db, migrations, security
from server.app import create_app
from server.settings import Settings

PASSWORD = "correct horse battery staple"
MIB = 1024 * 1024


def _stored_hash(engine: Engine, username: str) -> str:
    with engine.connect() as connection:
        value: str = connection.scalar(
            select(db.users.c.password_hash).where(db.users.c.username == username)
        )
    return value


def _login(client: TestClient, username: str, password: str, **headers: str) -> Any:
    return client.post(
        "/api/v1/session", json={"username": username, "password": password}, headers=headers
    )


# Item 2: argon2 parameters, old hashes upgraded, bounded checks.


def test_passwords_are_hashed_with_owasp_argon2id_parameters() -> None:
    stored = security.hash_password("un mot de passe")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert security.check_password(stored, "un mot de passe")
    assert security.check_password(security.DUMMY_PASSWORD_HASH, "x") is False
    assert "m=19456,t=2,p=1" in security.DUMMY_PASSWORD_HASH
    assert 2 <= security.PASSWORD_CHECK_SLOTS <= 4


def test_a_hash_of_the_old_default_parameters_is_replaced_at_sign_in(api: Any) -> None:
    old = PasswordHasher().hash(PASSWORD)  # argon2-cffi's default: m=65536, t=3, p=4
    assert "m=65536,t=3,p=4" in old
    with db.write_transaction(api.engine) as connection:
        connection.execute(
            db.users.update().where(db.users.c.username == "admin").values(password_hash=old)
        )
    assert _login(api.client, "admin", "wrong password").status_code == 401
    assert _stored_hash(api.engine, "admin") == old  # a failed attempt changes nothing
    assert _login(api.client, "admin", PASSWORD).status_code == 200
    new = _stored_hash(api.engine, "admin")
    assert new != old and new.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert security.check_password(new, PASSWORD)
    assert _login(TestClient(api.app), "admin", PASSWORD).status_code == 200
    assert _stored_hash(api.engine, "admin") == new  # rehashed once, not at every sign-in


def test_a_storm_of_sign_ins_starves_neither_health_nor_memory(
    server_process: Any, database_url: str
) -> None:
    """100 concurrent wrong sign-ins, each from its own address behind a trusted proxy so that
    every one of them reaches a password check: the health check keeps answering within a
    second and the server's memory grows by at most the few checks allowed at once."""
    engine = db.make_engine(database_url)
    migrations.migrate(engine)
    admin.create_user(engine, "admin", PASSWORD, admin.Role.ADMIN, [])
    engine.dispose()
    server_process.arguments += ["--trusted-proxy", "127.0.0.1"]
    server_process.start()
    url = server_process.url
    process = psutil.Process(server_process.process.pid)

    def rss() -> int:
        total = 0
        for each in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += each.memory_info().rss
        return total

    # Warm every path once (a failed and a successful sign-in), then take the baseline.
    session = requests.Session()
    body = {"username": "admin", "password": PASSWORD}
    assert session.post(f"{url}/api/v1/session", json=body, timeout=30).status_code == 200
    wrong = {"username": "admin", "password": "wrong"}
    assert requests.post(f"{url}/api/v1/session", json=wrong, timeout=30).status_code == 401
    baseline = rss()

    stop = threading.Event()
    peak = [baseline]
    health: list[float] = []

    def watch_memory() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.005)

    def watch_health() -> None:
        while not stop.is_set():
            started = time.monotonic()
            answer = requests.get(f"{url}/api/v1/health", timeout=10)
            health.append(time.monotonic() - started)
            assert answer.status_code == 200
            time.sleep(0.05)

    gate = threading.Barrier(100)

    def attack(number: int) -> int:
        address = f"127.{1 + number // 250}.{number % 250}.7"
        gate.wait()
        answer = requests.post(
            f"{url}/api/v1/session",
            json={"username": "admin", "password": f"guess {number}"},
            headers={"X-Forwarded-For": address, "Accept-Language": "en"},
            timeout=60,
        )
        return answer.status_code

    watchers = [threading.Thread(target=watch_memory), threading.Thread(target=watch_health)]
    for watcher in watchers:
        watcher.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(100) as pool:
            statuses = list(pool.map(attack, range(100)))
    finally:
        storm_s = time.monotonic() - started
        time.sleep(0.2)
        stop.set()
        for watcher in watchers:
            watcher.join()
    growth = peak[0] - baseline
    print(
        f"storm {storm_s:.2f} s; health max {max(health) * 1000:.0f} ms over {len(health)} "
        f"probes; RSS baseline {baseline / MIB:.0f} MiB, peak {peak[0] / MIB:.0f} MiB "
        f"(+{growth / MIB:.0f} MiB); statuses {sorted(set(statuses))}"
    )
    assert set(statuses) <= {401, 503}, statuses
    assert statuses.count(401) >= 20  # 503 only past 5 s of queueing (a loaded machine)
    assert len(health) >= 3
    assert max(health) < 1.0, health
    # At most 4 checks at once of 19 MiB each, plus 48 MiB for 100 requests' buffers and
    # allocator slack; the old default (64 MiB, up to 40 checks at once) grew by over 1 GiB.
    assert growth < 4 * 19 * MIB + 48 * MIB, growth / MIB


# Item 4: throttling per (user, address) pair and per address, atomic, trusted proxies only.


def test_concurrent_wrong_sign_ins_get_no_more_checks_than_allowed(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = []
    check = security.check_password

    def counted(stored: str, password: str) -> bool:
        checks.append(password)
        time.sleep(0.02)  # widen the window a non-atomic count would leave open
        return check(stored, password)

    monkeypatch.setattr(security, "check_password", counted)
    # Time stands still, so that no backoff runs out while the hundred attempts queue.
    frozen = auth.datetime.now(auth.UTC)

    class Frozen(auth.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return frozen

    monkeypatch.setattr(auth, "datetime", Frozen)
    gate = threading.Barrier(100)

    def attempt(number: int) -> int:
        gate.wait()
        return int(_login(api.client, "admin", f"guess {number}").status_code)

    with ThreadPoolExecutor(100) as pool:
        statuses = list(pool.map(attempt, range(100)))
    assert len(checks) <= 5, len(checks)
    assert statuses.count(401) == len(checks) and statuses.count(429) == 100 - len(checks)
    # The owner, from the same address, waits for the backoff like anyone there.
    refused = _login(api.client, "admin", PASSWORD)
    assert refused.status_code == 429
    assert "trop de tentatives" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == "2"


def test_an_attacker_elsewhere_does_not_lock_the_owner_out(api: Any) -> None:
    attacker = TestClient(api.app, client=("127.7.0.7", 40000))
    statuses = [_login(attacker, "admin", f"guess {n}").status_code for n in range(12)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    # Even with the right password the attacker's address waits: the backoff is per pair.
    assert _login(attacker, "admin", PASSWORD).status_code == 429
    owner = TestClient(api.app, client=("127.7.0.10", 40001))
    signed_in = _login(owner, "admin", PASSWORD)
    assert signed_in.status_code == 200, signed_in.text
    assert owner.get("/api/v1/session").json()["username"] == "admin"


def test_the_backoff_doubles_and_an_address_is_limited_across_user_names(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(api.app, client=("127.7.0.8", 40000))
    for number in range(5):
        assert _login(client, "admin", f"guess {number}").status_code == 401
    assert _login(client, "admin", "x").headers["Retry-After"] == "2"
    real_now = auth.datetime.now

    class Later(auth.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return real_now(tz) + auth.timedelta(seconds=3)

    monkeypatch.setattr(auth, "datetime", Later)
    assert _login(client, "admin", "guess 6").status_code == 401  # one more try after 2 s
    assert _login(client, "admin", "x").headers["Retry-After"] in {"3", "4"}  # now 4 s
    monkeypatch.undo()
    # 20 failures from one address across user names: that address waits.
    roamer = TestClient(api.app, client=("127.7.0.9", 40000))
    for number in range(20):
        assert _login(roamer, f"user{number}", "x").status_code == 401
    blocked = _login(roamer, "someone-else", "x", **{"Accept-Language": "en"})
    assert blocked.status_code == 429 and "too many login attempts" in blocked.json()["detail"]
    assert int(blocked.headers["Retry-After"]) > 800


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    settings: Settings, engine: Engine
) -> None:
    admin.create_user(engine, "admin", PASSWORD, admin.Role.ADMIN, [])
    # No trusted proxy: a client writing X-Forwarded-For is still counted at its own address.
    plain = TestClient(create_app(settings, engine), client=("127.0.0.1", 40000))
    for number in range(5):
        forged = {"X-Forwarded-For": f"127.3.0.{number}"}
        assert _login(plain, "admin", "x", **forged).status_code == 401
    forged = {"X-Forwarded-For": "127.3.0.99"}
    assert _login(plain, "admin", "x", **forged).status_code == 429
    # Behind a trusted proxy the client is the right-most untrusted address it forwards.
    proxied = replace(settings, trusted_proxies=("127.0.0.1", "127.0.2.0/24"))
    behind = TestClient(create_app(proxied, engine), client=("127.0.0.1", 40001))
    for number in range(5):
        chain = {"X-Forwarded-For": f"127.4.0.{number}, 127.5.0.20, 127.0.2.3"}
        assert _login(behind, "admin", "x", **chain).status_code == 401
    chain = {"X-Forwarded-For": "127.5.0.20, 127.0.2.3"}
    assert _login(behind, "admin", "x", **chain).status_code == 429
    other = {"X-Forwarded-For": "127.5.0.21"}
    assert _login(behind, "admin", PASSWORD, **other).status_code == 200


def test_client_address_takes_the_right_most_untrusted_hop() -> None:
    trusted = ("127.0.0.1", "127.0.2.0/24", "::1")
    assert auth.client_address("127.0.0.1", "127.9.9.9", ()) == "127.0.0.1"
    assert auth.client_address("127.8.0.1", "127.9.9.9", trusted) == "127.8.0.1"
    assert (
        auth.client_address("127.0.0.1", "127.6.6.6, 127.9.9.9, 127.0.2.2", trusted) == "127.9.9.9"
    )
    assert auth.client_address("::1", "::ffff:127.9.0.1", trusted) == "::ffff:127.9.0.1"
    assert auth.client_address("127.0.0.1", "127.0.2.3, 127.0.2.2", trusted) == "127.0.2.3"
    assert auth.client_address("127.0.0.1", "", trusted) == "127.0.0.1"


def test_a_real_server_ignores_forwarded_for_without_trusted_proxy(
    server_process: Any, database_url: str
) -> None:
    """uvicorn itself believes X-Forwarded-For from 127.0.0.1 unless told not to: an attacker on
    the server's own machine (or a proxy that appends instead of replacing) rotated it freely."""
    server_process.start()
    url = server_process.url
    statuses = [
        requests.post(
            f"{url}/api/v1/session",
            json={"username": f"user{number}", "password": "x"},
            headers={"X-Forwarded-For": f"127.3.0.{number}"},
            timeout=30,
        ).status_code
        for number in range(21)
    ]
    assert statuses == [401] * 20 + [429]


# Item 5: Secure cookies over HTTPS, security headers everywhere.


def test_cookies_are_secure_over_https_directly_or_behind_a_trusted_proxy(
    settings: Settings, engine: Engine
) -> None:
    admin.create_user(engine, "admin", PASSWORD, admin.Role.ADMIN, [])
    body = {"username": "admin", "password": PASSWORD}

    def cookies(client: TestClient, path: str = "/api/v1/session", **headers: str) -> str:
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.headers["set-cookie"].lower()

    app = create_app(settings, engine)
    assert "secure" not in cookies(TestClient(app))
    assert "; secure" in cookies(TestClient(app, base_url="https://testserver"))
    # X-Forwarded-Proto from an untrusted client is ignored.
    assert "secure" not in cookies(TestClient(app), **{"X-Forwarded-Proto": "https"})
    proxied = create_app(replace(settings, trusted_proxies=("127.0.0.1",)), engine)
    local = TestClient(proxied, client=("127.0.0.1", 40000))
    assert "; secure" in cookies(local, **{"X-Forwarded-Proto": "https"})
    assert "secure" not in cookies(local, **{"X-Forwarded-Proto": "http"})
    # The sign-in page's anti-forgery cookie too.
    page = local.get("/connexion", headers={"X-Forwarded-Proto": "https"})
    assert "; secure" in page.headers["set-cookie"].lower()
    form = TestClient(proxied, client=("127.0.0.1", 40001), base_url="https://testserver")
    page = form.get("/connexion")
    token = page.cookies.get("tiebreak_login_csrf") or next(iter(form.cookies.values()))
    signed = form.post(
        "/connexion",
        data={"username": "admin", "password": PASSWORD, "csrf": token, "suivant": "/revue"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    assert "; secure" in signed.headers["set-cookie"].lower()


def test_every_answer_carries_the_security_headers(api: Any) -> None:
    client = api.client
    answers = {
        "api": client.get("/api/v1/health"),
        "api 401": client.get("/api/v1/session"),
        "api 404": client.get("/api/v1/nothing-here"),
        "api 422": client.post("/api/v1/session", json={}),
        "page": client.get("/connexion"),
        "page redirect": client.get("/revue", follow_redirects=False),
        "page 404": client.get("/nothing-here"),
        "static": client.get("/static/" + _a_static_file()),
        "static 404": client.get("/static/nothing-here.css"),
        "openapi": client.get("/api/v1/openapi.json"),
        "method 405": client.put("/api/v1/health"),
    }
    for name, answer in answers.items():
        headers = answer.headers
        assert headers.get("x-content-type-options") == "nosniff", name
        assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), name
        assert "default-src 'self'" in headers["content-security-policy"], name
        assert headers.get("x-frame-options") == "DENY", name
    assert answers["static"].status_code == 200
    assert answers["api 404"].status_code == answers["page 404"].status_code == 404


def _a_static_file() -> str:
    from server import web

    for path in sorted(web.STATIC_DIR.rglob("*")):
        if path.is_file():
            return path.relative_to(web.STATIC_DIR).as_posix()
    raise AssertionError("no static file")
