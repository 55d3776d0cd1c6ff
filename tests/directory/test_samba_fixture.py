"""The Samba AD DC fixture works: LDAPS by name, the reader's bind, strong auth, StartTLS, content.

Every client runs inside the DC's network namespace (`SambaDC.run`): ldapsearch (ldap-utils) and
ldap3 under this venv's Python.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.service, pytest.mark.slow]


samba_dc = sys.modules["tiebreak_test_samba_dc"]
SambaDC = samba_dc.SambaDC
EXPECTED: dict[str, Any] = samba_dc.EXPECTED
EXPECTED_HOSTILE: dict[str, dict[str, Any]] = samba_dc.EXPECTED_HOSTILE

DISABLED = "(userAccountControl:1.2.840.113556.1.4.803:=2)"


@pytest.fixture
def dc(samba_dc: SambaDC) -> SambaDC:
    """The session's DC (tests/directory/conftest.py)."""
    return samba_dc


# Runs under this venv's Python inside the namespace: a list of searches on stdin, for each the
# entries with every value base64-encoded (values may be any bytes).
LDAP3_SEARCH = """
import base64, json, ssl, sys
import ldap3
request = json.load(sys.stdin)
tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=request["ca_file"])
server = ldap3.Server(request["host"], port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
with open(request["password_file"]) as handle:
    password = handle.read()
connection = ldap3.Connection(
    server, request["user"], password, auto_bind=True, auto_referrals=False, read_only=True
)
results = []
for base, scope, search_filter, attributes in request["searches"]:
    connection.search(base, search_filter, scope, attributes=attributes)
    results.append([
        {
            "dn": entry["dn"],
            "attributes": {
                name: [base64.b64encode(value).decode() for value in values]
                for name, values in entry["raw_attributes"].items()
            },
        }
        for entry in connection.response if entry["type"] == "searchResEntry"
    ])
print(json.dumps(results))
"""

Entry = dict[str, Any]


def ldap3_search(dc: SambaDC, *searches: tuple[str, str, str, list[str]]) -> list[list[Entry]]:
    """(base, scope, filter, attributes) searches over LDAPS as tiebreak-reader, with ldap3."""
    request = {
        "host": dc.host,
        "ca_file": str(dc.ca_file),
        "user": dc.reader_upn,
        "password_file": str(dc.password_file),
        "searches": searches,
    }
    result = dc.run([sys.executable, "-c", LDAP3_SEARCH], stdin=json.dumps(request))
    assert result.returncode == 0, result.stderr
    decoded: list[list[Entry]] = []
    for entries in json.loads(result.stdout):
        for entry in entries:
            entry["attributes"] = {
                name.lower(): [base64.b64decode(value) for value in values]
                for name, values in entry["attributes"].items()
            }
        decoded.append(entries)
    return decoded


def _attr(entry: Entry, name: str) -> bytes | None:
    values: list[bytes] = entry["attributes"].get(name.lower(), [])
    return values[0] if values else None


def test_expected_agrees_with_the_population_plan() -> None:
    """EXPECTED is written out by hand; the lists samba_dc.py populates must add up to it."""
    counts: Counter[tuple[str, str]] = Counter()
    for _, os_name, version, n in samba_dc.WORKSTATIONS:
        counts[(os_name, version)] += n
    for _, os_name, version in samba_dc.SERVERS:
        counts[(os_name, version)] += 1
    counts[samba_dc.DC_OPERATING_SYSTEM] += 1
    assert dict(counts) == EXPECTED["computers_enabled_by_os"]
    disabled = Counter((os_name, version) for _, os_name, version in samba_dc.DISABLED_COMPUTERS)
    assert dict(disabled) == EXPECTED["computers_disabled_by_os"]
    without_os = EXPECTED["computers_enabled_without_os"]
    assert EXPECTED["computers_enabled"] == counts.total() + without_os + len(EXPECTED_HOSTILE)
    assert EXPECTED["users_enabled"] == 3 + len(samba_dc.ENABLED_USERS)  # + Administrator, ...
    assert EXPECTED["users_disabled"] == 2 + len(samba_dc.DISABLED_USERS)  # + Guest, krbtgt


def test_ldaps_by_name_with_the_provisioned_ca(dc: SambaDC) -> None:
    """Anonymous rootDSE over ldaps://dc1.tiebreak.test, the certificate checked against ca.pem."""
    result = dc.ldapsearch("-b", "", "-s", "base", "*", "+", bind=False)
    assert result.returncode == 0, result.stderr
    lines = set(result.stdout.splitlines())
    assert f"vendorName: {EXPECTED['vendor_name']}" in lines
    assert "dnsHostName: dc1.tiebreak.test" in lines
    assert f"defaultNamingContext: {dc.base_dn}" in lines
    assert f"configurationNamingContext: {dc.config_dn}" in lines
    assert "supportedCapabilities: 1.2.840.113556.1.4.800" in lines  # LDAP_CAP_ACTIVE_DIRECTORY
    for level, value in EXPECTED["functionality"].items():
        name = {"domain_controller": "domainController"}.get(level, level)
        assert f"{name}Functionality: {value}" in lines


def test_ldaps_refuses_a_certificate_from_another_ca(dc: SambaDC) -> None:
    """The check is real: trusting only the system's CA bundle, the handshake fails."""
    result = dc.run(
        ["ldapsearch", "-x", "-H", f"ldaps://{dc.host}", "-b", "", "-s", "base", "vendorName"],
        env={"LDAPTLS_CACERT": "/etc/ssl/certs/ca-certificates.crt", "LDAPTLS_REQCERT": "demand"},
    )
    assert result.returncode != 0
    assert "Can't contact LDAP server" in result.stderr


def test_ldap3_validates_the_name_too(dc: SambaDC) -> None:
    """ldap3 with CERT_REQUIRED accepts the DC's certificate (CN only, no subjectAltName)."""
    [[root_dse]] = ldap3_search(dc, ("", "BASE", "(objectClass=*)", ["vendorName"]))
    assert _attr(root_dse, "vendorName") == EXPECTED["vendor_name"].encode()


def test_reader_counts_users_groups_and_computers(dc: SambaDC) -> None:
    users, disabled_users, groups, computers = ldap3_search(
        dc,
        (dc.base_dn, "SUBTREE", f"(&(objectCategory=person)(objectClass=user)(!{DISABLED}))", []),
        (dc.base_dn, "SUBTREE", f"(&(objectCategory=person)(objectClass=user){DISABLED})", []),
        (dc.base_dn, "SUBTREE", "(objectClass=group)", ["member", "cn"]),
        (
            dc.base_dn,
            "SUBTREE",
            "(objectClass=computer)",
            ["sAMAccountName", "operatingSystem", "operatingSystemVersion", "userAccountControl"],
        ),
    )
    assert len(users) == EXPECTED["users_enabled"]
    in_ou = [u for u in users if u["dn"].endswith(f"OU=Utilisateurs,OU=Mairie,{dc.base_dn}")]
    assert len(in_ou) == EXPECTED["people_enabled"]
    assert len(disabled_users) == EXPECTED["users_disabled"]
    assert len(groups) == EXPECTED["groups"]
    members = {_attr(g, "cn"): len(g["attributes"].get("member", [])) for g in groups}
    for name, count in EXPECTED["group_members"].items():
        assert members[name.encode()] == count, name

    hostile = {name.encode() for name in EXPECTED_HOSTILE}
    enabled = [c for c in computers if not int(_attr(c, "userAccountControl") or b"0") & 2]
    assert len(enabled) == EXPECTED["computers_enabled"]
    assert len(computers) - len(enabled) == EXPECTED["computers_disabled"]
    by_os = Counter(
        (
            (_attr(c, "operatingSystem") or b"").decode(),
            (_attr(c, "operatingSystemVersion") or b"").decode(),
        )
        for c in enabled
        if _attr(c, "operatingSystem") is not None and _attr(c, "sAMAccountName") not in hostile
    )
    assert dict(by_os) == EXPECTED["computers_enabled_by_os"]
    without_os = [c for c in enabled if _attr(c, "operatingSystem") is None]
    assert len(without_os) == EXPECTED["computers_enabled_without_os"]
    dcs = [c for c in computers if int(_attr(c, "userAccountControl") or b"0") & 0x2000]
    assert len(dcs) == EXPECTED["domain_controllers"]

    returned = {_attr(c, "sAMAccountName"): _attr(c, "operatingSystem") for c in computers}
    for name, expected in EXPECTED_HOSTILE.items():
        assert returned[name.encode()] == expected["operatingSystem"], name
    assert (
        len(returned[b"PC-HOSTILE-LONG$"] or b"") == EXPECTED_HOSTILE["PC-HOSTILE-LONG$"]["length"]
    )


def test_product_footprints_are_readable(dc: SambaDC) -> None:
    msol, sso, adfs, sccm, pki, exchange, schema, gpos = ldap3_search(
        dc,
        (dc.base_dn, "SUBTREE", f"(sAMAccountName={EXPECTED['msol_account']})", ["description"]),
        (dc.base_dn, "SUBTREE", f"(sAMAccountName={EXPECTED['seamless_sso_account']})", []),
        (EXPECTED["adfs_dkm"], "BASE", "(objectClass=container)", []),
        (EXPECTED["sccm_container"], "BASE", "(objectClass=container)", []),
        (EXPECTED["enrollment_service"], "BASE", "(objectClass=pKIEnrollmentService)", ["*"]),
        (dc.config_dn, "SUBTREE", "(objectClass=msExchExchangeServer)", ["serialNumber"]),
        (dc.schema_dn, "LEVEL", "(cn=ms-Exch-Schema-Version-Pt)", ["rangeUpper"]),
        (dc.base_dn, "SUBTREE", "(objectClass=groupPolicyContainer)", ["displayName"]),
    )
    assert len(msol) == 1
    assert (_attr(msol[0], "description") or b"").startswith(b"Account created by Microsoft Azure")
    assert len(sso) == len(adfs) == len(sccm) == 1
    assert _attr(pki[0], "dNSHostName") == b"pki01.tiebreak.test"
    assert b"WebServer" in pki[0]["attributes"]["certificatetemplates"]
    assert [e["dn"] for e in exchange] == [EXPECTED["exchange_server"]]
    assert _attr(exchange[0], "serialNumber") == EXPECTED["exchange_serial"].encode()
    assert _attr(schema[0], "rangeUpper") == str(EXPECTED["exchange_schema_version"]).encode()
    assert len(gpos) == EXPECTED["gpos"]


def test_dns_zones(dc: SambaDC) -> None:
    searches = [
        (base, "SUBTREE", "(objectClass=dnsZone)", ["name"]) for base in EXPECTED["dns_zones"]
    ]
    results = ldap3_search(dc, *searches)
    for (base, expected), entries in zip(EXPECTED["dns_zones"].items(), results, strict=True):
        assert sorted((_attr(e, "name") or b"").decode() for e in entries) == sorted(expected), base


def test_simple_bind_without_tls_is_refused(dc: SambaDC) -> None:
    """`ldap server require strong auth = yes`: a simple bind in clear text gets result 8."""
    result = dc.ldapsearch("-b", "", "-s", "base", "vendorName", url=f"ldap://{dc.host}")
    assert result.returncode == 8, result.stdout + result.stderr
    assert "Strong(er) authentication required" in result.stderr


def test_starttls_on_389(dc: SambaDC) -> None:
    result = dc.ldapsearch(
        "-ZZ", "-b", dc.reader_dn, "-s", "base", "userPrincipalName", url=f"ldap://{dc.host}:389"
    )
    assert result.returncode == 0, result.stderr
    assert f"userPrincipalName: {dc.reader_upn}" in result.stdout.splitlines()


def test_pause_and_resume(dc: SambaDC) -> None:
    """A paused DC accepts TCP connections but never answers; resumed, it answers again."""
    dc.pause()
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            dc.run(
                ["ldapsearch", "-x", "-H", f"ldaps://{dc.host}", "-b", "", "-s", "base"],
                env={"LDAPTLS_CACERT": str(dc.ca_file)},
                timeout=2,
            )
    finally:
        dc.resume()
    assert dc.ldapsearch("-b", "", "-s", "base", "vendorName", bind=False).returncode == 0


def test_secrets_are_private(dc: SambaDC) -> None:
    assert dc.password_file.stat().st_mode & 0o777 == 0o600
    assert dc.reader_password and dc.admin_password
    assert dc.reader_password not in dc.log.read_text()


def test_stop_cleans_everything(dc: SambaDC, tmp_path: Path) -> None:
    """A second DC in the same process gets its own namespace; stop() leaves nothing behind."""
    other = samba_dc.start_samba_dc(tmp_path)
    try:
        assert other.netns != dc.netns
        assert other.pids()
        assert Path("/etc/netns", other.netns, "hosts").exists()
    finally:
        other.stop()
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert other.netns not in listing.split()
    assert not Path("/etc/netns", other.netns).exists()
    assert dc.netns in listing.split()
