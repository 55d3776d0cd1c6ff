"""Published sample inventories of Windows machines, from the projects' own test data.

tests/fleet/fixtures/README.md says where each file comes from. The Windows 8.1 workstation's
FusionInventory XML (glpi-project/inventory_format) and three GLPI Agent JSON inventories
(glpi-project/glpi) are read through the probe and the engine, as `tiebreak scan` would.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

helpers = sys.modules["tiebreak_test_fleet_helpers"]

# Identifying values in the published files: none may reach the inventory.
IDENTIFIERS = [
    # inventory_format tests/data/2.xml (FusionInventory 2.3.19, Windows 8.1)
    "pc-arg-23",
    "cvigneron",
    "CZC0479792",
    "33E737A8-F827-11DF-9297-47C0A301005A",
    "10.253.6.55",
    "cedre.local",
    "00259-40825-10721-AAOEM",
    "V33KV-CMD8V-6JXQ9-YJP62-7FTGD",
    "68D96170",
    # glpi tests/fixtures/inventories (GLPI Agent 1.4, 1.9, 1.17)
    "ARN2032",
    "df56dfg-dfg41f5g1f-df4fdg",
    "sdf5s1dfsd-sd5f48q7eaz8e-sd41sdf-5sd4fsdf",
    "wifi-test",
    "WIFITEST001",
    "testuser",
    "25c1bb60-5bcb-11d9-b18f-5404a6a534c4",
    "02:00:00:00:00:01",
    "192.0.2.10",
    "pc_test",
    "pc.site.ru",
    "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
    "My wifi network",
]


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    for source in helpers.PUBLISHED.iterdir():
        shutil.copy(source, folder / source.name)
    return folder


def test_published_windows_inventories_become_counted_findings(tmp_path: Path) -> None:
    scan = helpers.scan(folders=(_folder(tmp_path),))
    assert scan.run.status == "ok", scan.run.error
    assert scan.notes() == ""
    (source,) = scan.observed("fleet.source").values()
    assert source["count"] == 4
    assert source["formats"] == {"fusioninventory-xml": 1, "glpi-agent-json": 3}

    windows = scan.finding("microsoft-windows")
    assert windows.attributes["devices"] == 3  # the fourth machine's inventory has no OS
    assert windows.attributes["fleet_machines"] == 4
    systems = {line["release"]: line for line in windows.attributes["systems"]}
    assert set(systems) == {
        "Windows 8.1 Professionnel 6.3 (9600)",
        "Windows 10 IoT Enterprise LTSC 10.0 (19044)",
        "Windows 11 Enterprise 10.0 (26200)",
    }
    # Windows 8.1 left extended support on 10 January 2023; the LTSC 2021 IoT is supported to 2032.
    assert systems["Windows 8.1 Professionnel 6.3 (9600)"]["support"]["ended"] is True
    assert systems["Windows 10 IoT Enterprise LTSC 10.0 (19044)"]["support"]["ends"] == "2032-01-13"
    assert windows.attributes["unsupported"] == 1

    office = scan.finding(
        "microsoft-office"
    )  # "Microsoft Office Famille et Petite Entreprise 2010"
    assert office.attributes["devices"] == 1
    assert scan.finding("kaspersky-endpoint").attributes["devices"] == 1  # ANTIVIRUS and SOFTWARES
    assert scan.finding("microsoft-defender").attributes["devices"] == 1  # enabled ANTIVIRUS
    packages = scan.observed("package.windows")
    assert packages["OpenVPN 2.3.8-I001"]["versions"] == {"2.3.8-I001": 1}  # name stripped
    assert "KB4019215" not in packages  # a Windows update is not a program
    assert not any("KB2553140" in name for name in packages)
    assert packages["CCleaner"]["publisher"] == "Piriform"
    assert packages["CCleaner"]["versions"] == {"5.09": 1}


def test_no_host_name_user_serial_or_address_reaches_the_inventory(tmp_path: Path) -> None:
    scan = helpers.scan(folders=(_folder(tmp_path),))
    assert scan.observed("fleet.machine")
    lowered = scan.json.lower()
    leaked = [value for value in IDENTIFIERS if value.lower() in lowered]
    assert leaked == []
    for name in scan.observed("fleet.machine"):
        assert name.startswith("m-") and len(name) == 18


def test_pseudonyms_are_stable_across_scans_and_sources_and_change_with_the_key(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path)
    first = set(helpers.scan(folders=(folder,)).observed("fleet.machine"))
    # The same Windows 8.1 machine, gzip-compressed under another name: same pseudonym, once.
    sample = folder / "inventory_format-tests-data-2.xml"
    with sample.open("rb") as plain, gzip.open(folder / "copie.ocs.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    second = helpers.scan(folders=(folder,))
    assert set(second.observed("fleet.machine")) == first
    assert second.observed("fleet.source")[str(folder)]["duplicates"] == 1
    other = set(
        helpers.scan(folders=(folder,), pseudonym_key=b"another key" * 3).observed("fleet.machine")
    )
    assert other.isdisjoint(first)
