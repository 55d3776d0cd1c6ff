"""The "test" action of each section against real servers on loopback: Knot DNS answers the SOA
question, slapd accepts (or refuses) the bind, the scope's arithmetic; the server's check is in
test_tui_send.py with the real central server."""

from __future__ import annotations

import importlib.util
import random
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Static

from agent.config import parse_config
from agent.tui.app import TiebreakApp
from agent.tui.checks import run_check

TESTS = Path(__file__).resolve().parent.parent


def _load(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Knot DNS on 127.53.x.y serving the DNS tests' zones (commune-a.test…)."""
    if shutil.which("knotd") is None and not Path("/usr/sbin/knotd").exists():
        pytest.fail("knotd missing: apt-get install knot (listed in scripts/debian-packages.txt)")
    helper = _load(TESTS / "dns" / "knot_server.py", "tiebreak_test_knot_server")
    address = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((address, 0))
        port = probe.getsockname()[1]
    server = helper.start_knot(tmp_path_factory.mktemp("knot"), address, port)
    yield server
    server.stop()


def _config(extra: str) -> Any:
    import tomllib

    return parse_config(tomllib.loads('[organisation]\nname = "Commune de Test"\n' + extra))


@pytest.mark.service
@pytest.mark.asyncio
async def test_the_dns_test_asks_the_configured_resolver_for_the_soa(
    tmp_path: Path, helpers: ModuleType, knot: Any
) -> None:
    config = tmp_path / "tiebreak.toml"
    config.write_text(
        '[organisation]\nname = "Commune de Test"\n[scope]\ndomains = ["commune-a.test"]\n'
        f'[dns]\nnameservers = ["{knot.address}"]\nport = {knot.port}\ntimeout = 2.0\n',
        encoding="utf-8",
    )
    app = TiebreakApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down", "down")  # DNS
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        content = app.screen.query_one("#test-dns", Static).content
        assert isinstance(content, Text)
    assert content.plain.startswith("✓")
    assert f"{knot.address} répond : SOA commune-a.test ns1.commune-a.test." in content.plain


@pytest.mark.service
def test_the_dns_test_says_which_resolver_is_silent(knot: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        port = silent.getsockname()[1]
        config = _config(
            '[scope]\ndomains = ["commune-a.test"]\n'
            f'[dns]\nnameservers = ["127.0.0.1"]\nport = {port}\ntimeout = 0.3\n'
        )
        ok, message = run_check("dns", config)
    assert not ok
    assert message == "127.0.0.1 : pas de réponse en 0.3 s"


@pytest.mark.service
def test_the_directory_test_binds_with_the_configured_account(tmp_path: Path) -> None:
    slapd_server = _load(TESTS / "directory" / "slapd_server.py", "tiebreak_test_slapd_server")
    if not slapd_server.SLAPD.exists():
        pytest.skip(f"{slapd_server.SLAPD} missing: apt-get install slapd ldap-utils")
    server = slapd_server.start_slapd(tmp_path / "slapd", tls=False)
    try:
        section = (
            f'[directory]\nurl = "{server.url}"\nbind_dn = "{server.reader_dn}"\n'
            "starttls = false\ninsecure = true\n"
        )
        ok, message = run_check(
            "directory", _config(section + f'password_file = "{server.password_file}"\n')
        )
        assert ok, message
        assert message == f"connexion établie et bind accepté pour {server.reader_dn}"

        wrong = tmp_path / "faux-mot-de-passe"
        wrong.write_text("pas le bon")
        wrong.chmod(0o600)
        ok, message = run_check("directory", _config(section + f'password_file = "{wrong}"\n'))
        assert not ok
        assert "identifiants refusés" in message
        assert "pas le bon" not in message and server.password not in message
    finally:
        server.stop()
    ok, message = run_check(
        "directory", _config(section + f'password_file = "{server.password_file}"\n')
    )
    assert not ok and "injoignable" in message  # the server is gone


def test_the_scope_test_counts_the_addresses_left_after_the_exclusions() -> None:
    ok, message = run_check(
        "scope",
        _config('[scope]\nnetworks = ["127.0.0.0/29"]\nexclude = ["127.0.0.4/30"]\n'),
    )
    assert ok and message.startswith("4 adresse(s) en 1 bloc(s)")
    ok, message = run_check("scope", _config('[scope]\ndomains = ["exemple.fr"]\n'))
    assert (
        ok and message == "aucun réseau : la sonde réseau ne tournera pas ; domaines : exemple.fr"
    )
    ok, message = run_check("organisation", _config(""))
    assert not ok and message == "pas de test pour cette section"
