"""The directory probe against a real OpenLDAP slapd: rootDSE, TLS, bind, paged counts, errors."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import ldap3
import pytest

from agent.orchestrator import PlannedProbe, ScanResult, run_probes
from fingerprints.engine import analyse
from inventory import ProbeStatus
from inventory.channels import Channel
from probes.base import DirectorySettings, ProbeContext
from probes.directory.probe import DirectoryProbe

slapd_server = sys.modules["tiebreak_test_slapd_server"]


def scan(settings: DirectorySettings, timeout: float = 60.0) -> ScanResult:
    ctx = ProbeContext(hostname="agent", directory=settings)
    return run_probes([PlannedProbe(DirectoryProbe(), timeout)], ctx)


def reader(server: Any, url: str | None = None, **options: Any) -> DirectorySettings:
    options.setdefault("ca_file", server.ca_file)
    return DirectorySettings(
        url=url or server.url_ldaps,
        bind_dn=server.reader_dn,
        password=server.password,
        **options,
    )


def values(result: ScanResult, channel: Channel) -> dict[str, dict[str, Any]]:
    return {o.value: o.attributes for o in result.observations if o.channel == channel}


def test_anonymous_rootdse_identifies_openldap_without_credentials(slapd: Any) -> None:
    result = scan(DirectorySettings(url=slapd.url, ca_file=slapd.ca_file))
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    assert "objectClass=OpenLDAProotDSE" in values(result, Channel.LDAP_ROOTDSE)
    server = values(result, Channel.LDAP_SERVER)["localhost"]
    assert server["tls"] == "starttls" and server["certificate"] == "verified"
    assert server["bound"] is False and server["kind"] == "ldap"
    assert server["namingcontexts"] == ["dc=tiebreak,dc=test"]
    assert not values(result, Channel.LDAP_COUNT)  # nothing counted without a bind
    products = {f.product for f in analyse(result.observations).findings}
    assert products == {"openldap"}


def test_a_read_only_bind_counts_people_groups_and_devices_page_by_page(slapd: Any) -> None:
    result = scan(reader(slapd, page_size=50))
    (run,) = result.runs
    assert run.status is ProbeStatus.OK, run.error
    counts = values(result, Channel.LDAP_COUNT)
    population = slapd.population
    hostile = sum(1 for tried in slapd.hostile.values() if tried.accepted)
    people = counts["users"]["count"]
    assert people == population.users + hostile
    assert counts["groups"]["count"] == population.groups
    assert counts["computers"]["count"] == population.devices
    assert values(result, Channel.LDAP_SERVER)["localhost"]["bound"] is True
    # counts and product facts only: no entry's name or attribute in the inventory
    text = " ".join(f"{o.value} {o.attributes}" for o in result.observations).lower()
    assert not [i for i in range(population.users) if slapd_server.user_uid(i) in text]
    assert "hostile" not in text

    openldap = next(f for f in analyse(result.observations).findings if f.product == "openldap")
    assert openldap.attributes["users"] == people
    assert openldap.attributes["groups"] == population.groups


def test_paging_reads_beyond_the_servers_size_limit(slapd_factory: Any) -> None:
    """slapd caps the reader at 500 entries per unpaged search: only paging reads them all."""
    server = slapd_factory(users=1_234, groups=3)
    result = scan(reader(server, page_size=1000))
    assert result.runs[0].status is ProbeStatus.OK, result.runs[0].error
    assert values(result, Channel.LDAP_COUNT)["users"]["count"] == 1_234


def test_hostile_values_are_stored_safely(slapd: Any) -> None:
    result = scan(reader(slapd))
    assert result.runs[0].status is ProbeStatus.OK, result.runs[0].error
    for observation in result.observations:
        for text in (observation.value, str(observation.attributes)):
            assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
            assert len(observation.value) < 2_000


def test_an_untrusted_certificate_is_a_clear_error_and_insecure_is_recorded(slapd: Any) -> None:
    untrusted = scan(reader(slapd, ca_file=slapd.other_ca_file))
    (run,) = untrusted.runs
    assert run.status is ProbeStatus.FAILED
    assert run.error is not None
    assert "certificat non approuvé" in run.error and "ca_file" in run.error
    assert slapd.url_ldaps in run.error
    assert slapd.password not in run.error

    insecure = scan(reader(slapd, ca_file=slapd.other_ca_file, insecure=True))
    (run,) = insecure.runs
    assert run.status is ProbeStatus.OK, run.error
    assert any("non vérifié" in note for note in run.notes)
    server = values(insecure, Channel.LDAP_SERVER)["localhost"]
    assert server["certificate"] == "not-verified"


def test_a_certificate_for_another_name_is_refused(slapd: Any) -> None:
    by_address = slapd.url_ldaps.replace("localhost", "127.0.0.1")
    result = scan(reader(slapd, url=by_address))
    (run,) = result.runs
    assert run.status is ProbeStatus.FAILED
    assert run.error is not None and "ne porte pas le nom 127.0.0.1" in run.error


def test_a_wrong_password_fails_after_keeping_the_rootdse(slapd: Any) -> None:
    settings = DirectorySettings(
        url=slapd.url_ldaps, bind_dn=slapd.reader_dn, password="faux", ca_file=slapd.ca_file
    )
    result = scan(settings)
    (run,) = result.runs
    assert run.status is ProbeStatus.FAILED
    assert run.error is not None and "invalidCredentials" in run.error
    assert "faux" not in run.error
    assert "objectClass=OpenLDAProotDSE" in values(result, Channel.LDAP_ROOTDSE)
    assert values(result, Channel.LDAP_SERVER)["localhost"]["bound"] is False


def test_an_unreachable_server_fails_fast_naming_it(slapd_factory: Any) -> None:
    server = slapd_factory()
    url = server.url
    server.stop()
    started = time.monotonic()
    result = scan(DirectorySettings(url=url, timeout=3.0))
    (run,) = result.runs
    assert run.status is ProbeStatus.FAILED
    assert run.error is not None and url in run.error and "injoignable" in run.error
    assert time.monotonic() - started < 5


def test_a_server_that_stops_answering_mid_search_keeps_a_partial_count(
    slapd_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = slapd_factory(users=3_000, groups=2)
    settings = reader(server, page_size=100, timeout=2.0)

    # Freeze slapd (SIGSTOP) once the probe has read three pages of people: the fourth request
    # gets no answer. Only the moment is chosen here; the silence is the real server's.
    original = ldap3.Connection.search
    calls = []

    def search(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("paged_size"))
        if len(calls) == 5:  # rootDSE, then people pages 1-3 read: stop answering
            server.pause()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ldap3.Connection, "search", search)
    try:
        result = scan(settings, timeout=30.0)
    finally:
        server.resume()
    (run,) = result.runs
    assert run.status is ProbeStatus.FAILED
    assert run.error is not None and server.url_ldaps in run.error
    users = values(result, Channel.LDAP_COUNT)["users"]
    assert users["partial"] is True
    assert users["count"] == 300  # three pages of 100
    assert any("gardés" in note for note in run.notes)


def test_the_probes_deadline_ends_a_slow_read_with_what_was_counted(slapd_factory: Any) -> None:
    server = slapd_factory(users=3_000, groups=2)
    server.pause()
    try:
        started = time.monotonic()
        result = scan(reader(server, timeout=60.0), timeout=4.0)
        elapsed = time.monotonic() - started
    finally:
        server.resume()
    (run,) = result.runs
    assert run.status in (ProbeStatus.FAILED, ProbeStatus.TIMEOUT)
    assert elapsed < 6.0


def test_the_probe_is_skipped_without_a_directory_section() -> None:
    result = run_probes([PlannedProbe(DirectoryProbe(), 5.0)], ProbeContext())
    (run,) = result.runs
    assert run.status is ProbeStatus.SKIPPED and run.error is not None
    assert "[directory]" in run.error


def test_page_size_and_password_file_rules(tmp_path: Path) -> None:
    from agent.config import ConfigError, load_config

    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    text = f"""
[organisation]
name = "Commune"
[directory]
url = "ldaps://localhost:1636"
bind_dn = "cn=reader,dc=tiebreak,dc=test"
password_file = "{secret}"
page_size = 5000
"""
    path = tmp_path / "tiebreak.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="page_size"):
        load_config(path)
    path.write_text(text.replace("page_size = 5000", ""))
    _path, config = load_config(path)
    assert config.directory is not None
    with pytest.raises(OSError, match="chmod 600"):
        config.directory.password()
    secret.chmod(0o600)
    assert config.directory.password() == "s3cret"
    path.write_text(text.replace("page_size = 5000", "").replace(f'password_file = "{secret}"', ""))
    with pytest.raises(ConfigError, match="bind_dn"):
        load_config(path)


def test_scan_warns_about_insecure_and_stops_on_a_bad_password_file(
    slapd: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    secret = tmp_path / "secret"
    secret.write_text(slapd.password)
    secret.chmod(0o640)
    config = tmp_path / "tiebreak.toml"
    config.write_text(
        f"""
[organisation]
name = "Commune"
[probes]
enable = ["directory"]
[directory]
url = "{slapd.url_ldaps}"
bind_dn = "{slapd.reader_dn}"
password_file = "{secret}"
insecure = true
"""
    )
    output = tmp_path / "inventaire.json"
    arguments = ["scan", "--config", str(config), "--output", str(output), "--quiet"]
    assert main(arguments) == 2
    stderr = capsys.readouterr().err
    assert "[directory] password_file" in stderr and "chmod 600" in stderr
    assert not output.exists()  # stopped before scanning

    secret.chmod(0o600)
    assert main(arguments) == 0
    stderr = capsys.readouterr().err
    assert "insecure = true" in stderr and "ne sera pas vérifié" in stderr
    inventory = output.read_text()
    assert '"not-verified"' in inventory and slapd.password not in inventory
