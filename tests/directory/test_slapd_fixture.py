"""The slapd fixtures work: access control, TLS, size limits and paging, population, control."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from typing import Any

import ldap3
import ldap3.core.exceptions
import pytest

slapd_server = sys.modules["tiebreak_test_slapd_server"]  # loaded by conftest.py
Slapd = slapd_server.Slapd

pytestmark = pytest.mark.service

STARTTLS_OID = "1.3.6.1.4.1.1466.20037"
USERS_FILTER = "(objectClass=inetOrgPerson)"


def _tls(ca_file: Any) -> ldap3.Tls:
    return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file))


def _anonymous(server: Slapd) -> ldap3.Connection:
    return ldap3.Connection(ldap3.Server(server.url, connect_timeout=2), auto_bind=True)


def _reader(
    server: Slapd, url: str | None = None, receive_timeout: int = 5, **options: Any
) -> ldap3.Connection:
    ldap_server = ldap3.Server(url or server.url, connect_timeout=2, **options)
    return ldap3.Connection(
        ldap_server,
        server.reader_dn,
        server.password,
        auto_bind=True,
        receive_timeout=receive_timeout,
    )


def _paged_count(connection: ldap3.Connection, base: str, search_filter: str) -> int:
    entries = connection.extend.standard.paged_search(
        base, search_filter, attributes=["1.1"], paged_size=500, generator=False
    )
    assert connection.result["result"] == 0, connection.result
    return len([entry for entry in entries if entry["type"] == "searchResEntry"])


def test_anonymous_reads_root_dse(slapd: Slapd) -> None:
    connection = _anonymous(slapd)
    assert connection.search("", "(objectClass=*)", ldap3.BASE, attributes=["*", "+"])
    raw = connection.response[0]["raw_attributes"]
    root = {name: [value.decode() for value in values] for name, values in raw.items()}
    assert "OpenLDAProotDSE" in root["objectClass"]
    assert root["namingContexts"] == [slapd_server.BASE_DN]
    assert slapd_server.PAGED_RESULTS_OID in root["supportedControl"]
    assert STARTTLS_OID in root["supportedExtension"]
    assert root["subschemaSubentry"] == ["cn=Subschema"]
    assert connection.search(
        "cn=Subschema", "(objectClass=*)", ldap3.BASE, attributes=["objectClasses"]
    )
    classes = b" ".join(connection.response[0]["raw_attributes"]["objectClasses"])
    assert b"NAME 'inetOrgPerson'" in classes
    connection.unbind()


def test_anonymous_cannot_read_data(slapd: Slapd) -> None:
    connection = _anonymous(slapd)
    for base in (slapd_server.BASE_DN, slapd_server.PEOPLE_DN):
        connection.search(base, "(objectClass=*)", attributes=["cn"])
        assert connection.response == []
        assert connection.result["description"] == "insufficientAccessRights"
    connection.unbind()


def test_reader_password_file(slapd: Slapd) -> None:
    mode = slapd.password_file.stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert slapd.password_file.read_text() == slapd.password
    whoami = subprocess.run(
        ["ldapwhoami", "-x", "-H", slapd.url, "-D", slapd.reader_dn, "-y", slapd.password_file],
        capture_output=True,
        text=True,
        env={**os.environ, "LDAPNOINIT": "1"},  # ignore /etc/ldap/ldap.conf and ~/.ldaprc
        timeout=30,
        check=True,
    )
    assert whoami.stdout.strip() == f"dn:{slapd.reader_dn}"


def test_ldaps_verifies_with_test_ca_only(slapd: Slapd) -> None:
    assert slapd.url_ldaps.startswith("ldaps://localhost:")
    connection = _reader(slapd, slapd.url_ldaps, tls=_tls(slapd.ca_file))
    assert connection.search(slapd_server.PEOPLE_DN, "(uid=camille.martin)", attributes=["cn"])
    assert connection.response[0]["attributes"]["cn"] == ["Camille Martin"]
    connection.unbind()
    with pytest.raises(ldap3.core.exceptions.LDAPSocketOpenError, match="CERTIFICATE_VERIFY"):
        _reader(slapd, slapd.url_ldaps, tls=_tls(slapd.other_ca_file))
    # The right CA but the address instead of the name: the certificate has no IP address.
    by_address = f"ldaps://{slapd.address}:{slapd.tls_port}"
    with pytest.raises(ldap3.core.exceptions.LDAPSocketOpenError, match="match any name"):
        _reader(slapd, by_address, tls=_tls(slapd.ca_file))


def test_certificate_names_localhost_only(slapd: Slapd) -> None:
    context = ssl.create_default_context(cafile=str(slapd.ca_file))
    with (
        ssl.create_connection((slapd.address, slapd.tls_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        certificate = tls.getpeercert()
    assert certificate["subjectAltName"] == (("DNS", "localhost"),)
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        ssl.create_connection((slapd.address, slapd.tls_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pass


def test_starttls(slapd: Slapd) -> None:
    server = ldap3.Server(slapd.url, connect_timeout=2, tls=_tls(slapd.ca_file))
    connection = ldap3.Connection(server, slapd.reader_dn, slapd.password, receive_timeout=5)
    connection.open()
    assert connection.start_tls()
    assert connection.bind()
    assert connection.search(slapd_server.HOSTS_DN, "(objectClass=device)", attributes=["cn"])
    assert len(connection.response) == slapd_server.FIXTURE_DEVICES
    connection.unbind()


def test_population_counts(slapd: Slapd) -> None:
    connection = _reader(slapd)
    hostile_people = len(slapd_server.HOSTILE_ACCEPTED)
    people = _paged_count(connection, slapd_server.PEOPLE_DN, USERS_FILTER)
    assert people == slapd_server.FIXTURE_USERS + hostile_people
    posix = _paged_count(connection, slapd_server.PEOPLE_DN, "(objectClass=posixAccount)")
    assert posix == slapd_server.FIXTURE_USERS
    population = slapd.population
    assert _paged_count(connection, slapd_server.GROUPS_DN, "(objectClass=groupOfNames)") == (
        population.groups_of_names
    )
    assert _paged_count(connection, slapd_server.GROUPS_DN, "(objectClass=posixGroup)") == (
        population.posix_groups
    )
    everything = _paged_count(connection, slapd_server.BASE_DN, "(objectClass=*)")
    assert everything == population.entries + hostile_people
    # Members: user i belongs to group i % groups.
    connection.search(
        f"cn={slapd_server.group_cn(0)},{slapd_server.GROUPS_DN}",
        "(objectClass=*)",
        ldap3.BASE,
        attributes=["member"],
    )
    members = connection.response[0]["attributes"]["member"]
    assert len(members) == len(range(0, slapd_server.FIXTURE_USERS, slapd_server.FIXTURE_GROUPS))
    assert slapd_server.user_dn(0) in members
    connection.unbind()


def test_hostile_entries(slapd: Slapd) -> None:
    accepted = {name for name, result in slapd.hostile.items() if result.accepted}
    assert accepted == slapd_server.HOSTILE_ACCEPTED
    assert set(slapd.hostile) - accepted == slapd_server.HOSTILE_REFUSED
    assert "invalid per syntax" in slapd.hostile["description_raw_bytes"].error
    connection = _reader(slapd)
    connection.search(slapd_server.PEOPLE_DN, "(uid=hostile-*)", attributes=["*"])
    by_uid = {entry["raw_attributes"]["uid"][0]: entry for entry in connection.response}
    assert set(by_uid) == {
        b"hostile-big", b"hostile-ctrl", b"hostile-photo", b"hostile-password",
        b"hostile-dn\x07\x1b[2J",
    }  # fmt: skip
    big = by_uid[b"hostile-big"]["raw_attributes"]["description"][0]
    assert len(big) == slapd_server.HOSTILE_BIG_DESCRIPTION_BYTES
    cn = by_uid[b"hostile-ctrl"]["raw_attributes"]["cn"][0]
    assert cn == slapd_server.HOSTILE_CONTROL_CN.encode()
    photo = by_uid[b"hostile-photo"]["raw_attributes"]["jpegPhoto"][0]
    assert photo == slapd_server.HOSTILE_RAW_BYTES
    # The reader cannot read password hashes, whatever their bytes.
    assert by_uid[b"hostile-password"]["raw_attributes"].get("userPassword", []) == []
    connection.unbind()


def test_size_limit_needs_paging(slapd_factory: Any) -> None:
    users = slapd_server.READER_SIZE_LIMIT * 2 + 37
    server = slapd_factory(users=users, tls=False)
    connection = _reader(server)
    connection.search(slapd_server.PEOPLE_DN, USERS_FILTER, attributes=["uid"])
    assert connection.result["description"] == "sizeLimitExceeded"
    assert len(connection.response) == slapd_server.READER_SIZE_LIMIT
    assert _paged_count(connection, slapd_server.PEOPLE_DN, USERS_FILTER) == users
    connection.unbind()


def test_pause_resume_stop(slapd_factory: Any) -> None:
    server = slapd_factory(users=1200, tls=False)
    silent = (
        ldap3.core.exceptions.LDAPResponseTimeoutError,
        ldap3.core.exceptions.LDAPSocketReceiveError,  # "timed out"
    )
    # Mid-search: the first page arrives, then the server stops answering.
    connection = _reader(server, receive_timeout=1)
    connection.search(slapd_server.PEOPLE_DN, USERS_FILTER, attributes=["uid"], paged_size=500)
    assert len(connection.response) == 500
    cookie = connection.result["controls"][slapd_server.PAGED_RESULTS_OID]["value"]["cookie"]
    server.pause()
    with pytest.raises(silent):
        connection.search(slapd_server.PEOPLE_DN, USERS_FILTER, paged_size=500, paged_cookie=cookie)
    # New connections are still accepted by the kernel, but nothing answers.
    paused_server = ldap3.Server(server.url, connect_timeout=1, get_info=ldap3.NONE)
    paused = ldap3.Connection(paused_server, receive_timeout=1)
    paused.open()
    with pytest.raises(silent):
        paused.search("", "(objectClass=*)", ldap3.BASE)
    server.resume()
    connection = _reader(server)
    assert connection.search(slapd_server.PEOPLE_DN, "(uid=camille.martin)", attributes=["uid"])
    assert len(connection.response) == 1
    connection.unbind()
    server.stop()
    assert not server.running()
    with pytest.raises(ldap3.core.exceptions.LDAPSocketOpenError):
        _reader(server)
    server.stop()  # idempotent


def test_stop_while_paused(slapd_factory: Any) -> None:
    server = slapd_factory()
    server.pause()
    server.stop()
    assert not server.running()
