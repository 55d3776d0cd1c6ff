"""The directory probe against a real Samba AD domain controller, through `tiebreak scan`.

The agent runs inside the DC's network namespace (`SambaDC.run`), where dc1.tiebreak.test resolves
to the DC's loopback address: it connects by name, as the provisioned certificate requires, and
trusts the CA that provisioning wrote. Samba refuses simple binds without TLS, so the reader binds
over LDAPS or StartTLS.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.service, pytest.mark.slow]

samba_dc = sys.modules["tiebreak_test_samba_dc"]
EXPECTED: dict[str, Any] = samba_dc.EXPECTED


def config(dc: Any, tmp_path: Path, directory: str) -> Path:
    path = tmp_path / "tiebreak.toml"
    path.write_text(
        f"""
[organisation]
name = "Mairie de Tiebreak"
type = "commune"

[probes]
enable = ["directory"]

[directory]
{directory}
"""
    )
    return path


def scan(dc: Any, tmp_path: Path, directory: str) -> tuple[int, str, dict[str, Any] | None]:
    """Run `tiebreak scan` in the DC's namespace: exit code, stderr, inventory."""
    output = tmp_path / "inventaire.json"
    result = dc.run(
        [
            sys.executable,
            "-m",
            "agent",
            "scan",
            "--config",
            str(config(dc, tmp_path, directory)),
            "--output",
            str(output),
            "--quiet",
        ],
        timeout=120,
    )
    inventory = json.loads(output.read_text()) if output.exists() else None
    return result.returncode, result.stderr, inventory


def reader(dc: Any, url: str = "ldaps://dc1.tiebreak.test", **more: str) -> str:
    lines = [
        f'url = "{url}"',
        f'bind_dn = "{dc.reader_dn}"',
        f'password_file = "{dc.password_file}"',
        f'ca_file = "{dc.ca_file}"',
        *(f"{key} = {value}" for key, value in more.items()),
    ]
    return "\n".join(lines)


def by_channel(inventory: dict[str, Any], channel: str) -> dict[str, dict[str, Any]]:
    return {
        o["value"]: o["attributes"] for o in inventory["observations"] if o["channel"] == channel
    }


@pytest.fixture(scope="module")
def ldaps_scan(samba_dc: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    code, stderr, inventory = scan(samba_dc, tmp_path_factory.mktemp("scan"), reader(samba_dc))
    assert code == 0, stderr
    assert inventory is not None
    return inventory


def test_samba_ad_is_told_apart_from_windows_ad(ldaps_scan: dict[str, Any]) -> None:
    findings = {f["product"]: f for f in ldaps_scan["findings"]}
    assert "samba" in findings
    # Samba answers with Active Directory's capability OIDs; that guess is superseded.
    assert "active-directory" not in findings
    server = by_channel(ldaps_scan, "ldap.server")["dc1.tiebreak.test"]
    assert server["kind"] == "active-directory" and server["bound"] is True
    assert server["tls"] == "ldaps" and server["certificate"] == "verified"
    assert server["domainfunctionality_label"] == "2008 R2"
    assert server["dnshostname"] == "dc1.tiebreak.test"


def test_accounts_and_computers_are_counted(ldaps_scan: dict[str, Any]) -> None:
    counts = by_channel(ldaps_scan, "ldap.count")
    assert counts["users"] == {"count": EXPECTED["users_enabled"], "disabled": 6}
    assert counts["groups"]["count"] == EXPECTED["groups"]
    computers = counts["computers"]
    assert computers["count"] == EXPECTED["computers_enabled"]
    assert computers["disabled"] == EXPECTED["computers_disabled"]
    assert computers["without_os"] == EXPECTED["computers_enabled_without_os"]
    assert counts["gpos"]["count"] == EXPECTED["gpos"]
    assert counts["dns-zones"]["count"] == 2  # tiebreak.test, _msdcs.tiebreak.test

    releases = by_channel(ldaps_scan, "ldap.os")
    for (system, version), number in EXPECTED["computers_enabled_by_os"].items():
        assert releases[f"{system} {version}"]["count"] == number
    # disabled machines are not in the OS counts
    assert "Windows 7 Professionnel 6.1 (7601)" not in releases


def test_counts_reach_the_findings_that_licences_and_dashboards_read(
    ldaps_scan: dict[str, Any],
) -> None:
    findings = {f["product"]: f for f in ldaps_scan["findings"]}
    samba = findings["samba"]
    assert samba["attributes"]["users"] == EXPECTED["users_enabled"]
    by_os = EXPECTED["computers_enabled_by_os"]
    workstations = sum(n for (system, _v), n in by_os.items() if system.startswith("Windows 1"))
    servers = sum(n for (system, _v), n in by_os.items() if system.startswith("Windows Server"))
    windows = findings["microsoft-windows"]["attributes"]
    # the hostile machines whose name still reads as Windows 10/11 count too
    assert workstations <= windows["devices"] <= workstations + 3
    assert findings["microsoft-windows-server"]["attributes"]["servers"] == servers
    lines = {line["release"]: line for line in windows["systems"]}
    windows_10 = lines["Windows 10 Pro 10.0 (19045)"]
    assert windows_10["count"] == 8
    assert windows_10["support"]["ended"] is True  # 14 October 2025


def test_products_that_leave_objects_in_the_directory(ldaps_scan: dict[str, Any]) -> None:
    assert set(by_channel(ldaps_scan, "ldap.account")) == {
        EXPECTED["msol_account"],
        EXPECTED["seamless_sso_account"],
    }
    containers = by_channel(ldaps_scan, "ldap.container")
    assert containers["CN=ADFS,CN=Microsoft,CN=Program Data"] == {"partition": "domain"}
    assert "CN=System Management,CN=System" in containers
    assert "CN=Microsoft Exchange,CN=Services" in containers
    classes = by_channel(ldaps_scan, "ldap.class")
    assert classes["pKIEnrollmentService"]["count"] == 1
    assert classes["msExchExchangeServer"] == {
        "count": 1,
        "versions": {EXPECTED["exchange_serial"]: 1},
    }
    schema = by_channel(ldaps_scan, "ldap.schema")
    assert schema["ms-Exch-Schema-Version-Pt"]["rangeUpper"] == EXPECTED["exchange_schema_version"]

    products = {f["product"] for f in ldaps_scan["findings"]}
    expected = {"entra-connect", "ad-fs", "configuration-manager", "ad-cs"}
    assert expected <= products, expected - products
    assert "microsoft-exchange-server" in products


def test_no_person_and_no_hostile_byte_reaches_the_inventory(
    ldaps_scan: dict[str, Any],
) -> None:
    text = json.dumps(ldaps_scan, ensure_ascii=False)
    for given, surname in (*samba_dc.ENABLED_USERS, *samba_dc.DISABLED_USERS):
        assert samba_dc.user_login(given, surname) not in text
        assert surname not in text
    assert "tiebreak-reader" not in text.replace(
        by_channel(ldaps_scan, "ldap.server")["dc1.tiebreak.test"]["url"], ""
    )
    assert "\\u001b" not in text and "\\u0007" not in text and "\\ufffd" not in text.lower()
    assert "Z" * 300 not in text  # the 4,000-character operatingSystem is bounded


def test_starttls_on_the_standard_port(samba_dc: Any, tmp_path: Path) -> None:
    code, stderr, inventory = scan(samba_dc, tmp_path, reader(samba_dc, "ldap://dc1.tiebreak.test"))
    assert code == 0, stderr
    assert inventory is not None
    server = by_channel(inventory, "ldap.server")["dc1.tiebreak.test"]
    assert server["tls"] == "starttls" and server["certificate"] == "verified"
    assert by_channel(inventory, "ldap.count")["users"]["count"] == EXPECTED["users_enabled"]


def test_a_bind_without_tls_is_refused_by_samba_with_a_clear_error(
    samba_dc: Any, tmp_path: Path
) -> None:
    settings = reader(samba_dc, "ldap://dc1.tiebreak.test", starttls="false", insecure="true")
    code, stderr, inventory = scan(samba_dc, tmp_path, settings)
    assert code == 1, stderr
    assert inventory is not None
    (run,) = inventory["probes"]
    assert run["status"] == "failed"
    assert "strongerAuthRequired" in run["error"] and "ldaps://" in run["error"]
    # what the rootDSE said is kept
    assert "vendorName=Samba Team (https://www.samba.org)" in by_channel(inventory, "ldap.rootdse")


def test_the_system_store_does_not_trust_the_dc(samba_dc: Any, tmp_path: Path) -> None:
    settings = reader(samba_dc).replace(f'ca_file = "{samba_dc.ca_file}"', "")
    code, _stderr, inventory = scan(samba_dc, tmp_path, settings)
    assert code == 1 and inventory is not None
    (run,) = inventory["probes"]
    assert "certificat non approuvé" in run["error"] and "ca_file" in run["error"]
    assert "ldaps://dc1.tiebreak.test" in run["error"]


def test_a_wrong_password_is_named_and_never_shown(samba_dc: Any, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("Pas-le-bon-1")
    wrong.chmod(0o600)
    settings = reader(samba_dc).replace(str(samba_dc.password_file), str(wrong))
    code, stderr, inventory = scan(samba_dc, tmp_path, settings)
    assert code == 1 and inventory is not None
    (run,) = inventory["probes"]
    assert "invalidCredentials" in run["error"]
    assert "Pas-le-bon-1" not in json.dumps(inventory) + stderr
