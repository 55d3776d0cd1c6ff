"""Fixtures of the directory tests: real directory servers on the loopback address.

OpenLDAP (tests/directory/slapd_server.py): `slapd` is one populated server per session;
`slapd_factory` starts fresh servers for tests that stop, pause or fill them.

Samba AD DC (tests/directory/samba_dc.py): `samba_dc` is one provisioned, populated domain
controller per session, in its own network namespace (root only); do not stop it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

load_helper = sys.modules["tiebreak_test_loader"].load_helper  # tests/conftest.py


# Test modules reach it as sys.modules["tiebreak_test_slapd_server"].
slapd_server = load_helper(
    Path(__file__).with_name("slapd_server.py"), "tiebreak_test_slapd_server"
)
Slapd = slapd_server.Slapd
SlapdFactory = Callable[..., Any]  # (**start_slapd keyword arguments) -> Slapd

# Test modules reach it as sys.modules["tiebreak_test_samba_dc"].
samba_dc_helper = load_helper(Path(__file__).with_name("samba_dc.py"), "tiebreak_test_samba_dc")
SambaDC = samba_dc_helper.SambaDC


def _require_slapd() -> None:
    if not slapd_server.SLAPD.exists():
        pytest.skip(f"{slapd_server.SLAPD} missing: apt-get install slapd ldap-utils")


@pytest.fixture(scope="session")
def slapd_certificates(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The test CA, the server certificate for `localhost` and an unrelated CA, once."""
    return slapd_server.make_certificates(tmp_path_factory.mktemp("slapd-tls"))


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory, slapd_certificates: Any) -> Iterator[Slapd]:
    """slapd with FIXTURE_USERS users, FIXTURE_GROUPS groups, FIXTURE_DEVICES devices and the
    hostile entries (server.hostile says which were accepted); do not stop or pause it."""
    _require_slapd()
    server = slapd_server.start_slapd(
        tmp_path_factory.mktemp("slapd"),
        users=slapd_server.FIXTURE_USERS,
        groups=slapd_server.FIXTURE_GROUPS,
        devices=slapd_server.FIXTURE_DEVICES,
        certificates=slapd_certificates,
    )
    try:
        slapd_server.add_hostile(server)
        yield server
    finally:
        server.stop()


@pytest.fixture
def slapd_factory(tmp_path: Path, slapd_certificates: Any) -> Iterator[SlapdFactory]:
    """Start servers of one's own: factory(users=…, groups=…, tls=…, …) -> Slapd (an empty
    directory by default: suffix, OUs and reader only). All are stopped after the test."""
    _require_slapd()
    servers: list[Slapd] = []

    def factory(**options: Any) -> Slapd:
        options.setdefault("certificates", slapd_certificates)
        server = slapd_server.start_slapd(tmp_path / f"slapd-{len(servers)}", **options)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """A Samba AD DC, provisioned and populated (samba_dc.EXPECTED says with what)."""
    if os.geteuid() != 0:
        pytest.skip("the Samba DC fixture needs root (network namespace, /etc/netns)")
    for tool in ("samba", "samba-tool", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} missing: apt-get install samba winbind samba-ad-provision")
    server = samba_dc_helper.start_samba_dc(tmp_path_factory.mktemp("samba-dc"))
    try:
        yield server
    finally:
        server.stop()
