"""Findings carry how many machines run each product and each OS release, of how many.

Ten workstations made from the published FusionInventory sample (fleet_helpers.derived_xml) with
known programs and releases: the counts the findings carry are checked against what was written,
including a product installed under two names on the same machine (counted once), a machine
exported twice (its newest inventory counts) and the licence estimate of the server's dashboards,
which multiplies the machines a fleet counts.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import sys
from pathlib import Path
from typing import Any

from fingerprints.catalog import default_catalog
from fingerprints.schema import Price

helpers = sys.modules["tiebreak_test_fleet_helpers"]

M365 = (
    "Microsoft 365 Apps pour les grandes entreprises - fr-fr",
    "16.0.17928.20156",
    "Microsoft Corporation",
)
OFFICE_2016 = (
    "Microsoft Office Professionnel Plus 2016",
    "16.0.4266.1001",
    "Microsoft Corporation",
)
TEAMS = ("Microsoft Teams", "1.6.00.4472", "Microsoft Corporation")
TEAMS_INSTALLER = ("Teams Machine-Wide Installer", "1.6.0.4472", "Microsoft Corporation")
NEW_TEAMS = ("Microsoft Teams (work or school)", "24215.1007.3082.1590", "Microsoft Corporation")
FIREFOX = ("Mozilla Firefox (x64 fr)", "133.0", "Mozilla")
LIBREOFFICE = ("LibreOffice 24.8.2.1", "24.8.2.1", "The Document Foundation")
WIN10 = ("Microsoft Windows 10 Professionnel", "10.0.19045")
WIN11 = ("Microsoft Windows 11 Professionnel", "10.0.26200")


def _fleet(folder: Path) -> None:
    folder.mkdir()
    for number in range(10):
        programs = [M365 if number < 7 else OFFICE_2016, LIBREOFFICE]
        if number < 5:
            programs += [TEAMS, TEAMS_INSTALLER]  # classic Teams and its installer: one machine
        elif number < 7:
            programs.append(NEW_TEAMS)
        if number % 3 == 0:
            programs.append(FIREFOX)  # machines 0, 3, 6, 9
        system = WIN10 if number < 6 else WIN11
        text = helpers.derived_xml(f"poste-{number:02d}", *system, programs)
        (folder / f"poste-{number:02d}.xml").write_text(text, encoding="utf-8")


def test_products_and_releases_are_counted_over_the_fleet(tmp_path: Path) -> None:
    _fleet(tmp_path / "parc")
    scan = helpers.scan(folders=(tmp_path / "parc",))
    assert scan.run.status == "ok", scan.run.error
    apps = scan.finding("microsoft-365-apps")
    assert (apps.attributes["devices"], apps.attributes["fleet_machines"]) == (7, 10)
    assert scan.finding("microsoft-office").attributes["devices"] == 3
    # Classic Teams and its machine-wide installer are on the same five machines: counted once.
    assert scan.finding("microsoft-teams").attributes["devices"] == 7
    assert scan.finding("firefox").attributes["devices"] == 4
    assert scan.finding("libreoffice").attributes["devices"] == 10

    windows = scan.finding("microsoft-windows")
    assert windows.attributes["devices"] == 10
    lines: dict[str, Any] = {line["release"]: line for line in windows.attributes["systems"]}
    assert lines["Windows 10 Professionnel 10.0 (19045)"]["count"] == 6
    assert lines["Windows 11 Professionnel 10.0 (26200)"]["count"] == 4
    # Windows 10 22H2 Home and Pro: end of servicing on 14 October 2025.
    assert lines["Windows 10 Professionnel 10.0 (19045)"]["support"]["ended"] is True
    assert lines["Windows 10 Professionnel 10.0 (19045)"]["support"]["ends"] == "2025-10-14"
    ended = sum(line["count"] for line in lines.values() if line["support"]["ended"])
    assert windows.attributes["unsupported"] == ended >= 6

    programs = scan.observed("package.windows")
    assert programs[M365[0]]["count"] == 7
    assert programs[M365[0]]["versions"] == {M365[1]: 7}
    assert programs[M365[0]]["publisher"] == "Microsoft Corporation"
    # Machines 0 to 6 (files are read newest first; all have the same age here, so by name).
    assert programs[M365[0]]["machines"] in ("0-6", "3-9")


def test_a_machine_exported_twice_counts_once_with_its_newest_inventory(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    old = folder / "poste-01-2024.xml"
    old.write_text(helpers.derived_xml("poste-01", *WIN10, [OFFICE_2016]), encoding="utf-8")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    new = folder / "poste-01-2026.xml"
    new.write_text(helpers.derived_xml("poste-01", *WIN11, [M365, FIREFOX]), encoding="utf-8")
    scan = helpers.scan(folders=(folder,))
    (source,) = scan.observed("fleet.source").values()
    assert (source["count"], source["duplicates"], source["files"]) == (1, 1, 2)
    assert "microsoft-office" not in scan.products()  # only in the older export
    assert scan.finding("microsoft-365-apps").attributes["devices"] == 1
    assert list(scan.observed("os")) == ["Windows 11 Professionnel 10.0 (26200)"]


def test_the_dashboards_licence_estimate_multiplies_the_machines_counted(tmp_path: Path) -> None:
    """server.metrics estimates a device-priced product with the fleet's count."""
    from server.metrics import compute

    _fleet(tmp_path / "parc")
    scan = helpers.scan(folders=(tmp_path / "parc",))
    catalog = default_catalog()
    firefox = catalog.products["firefox"]
    price = Price(
        unit="device",
        eur_per_year=10.0,
        offer="prix de test",
        source="prix fictif du test, pour vérifier la multiplication par le parc",
        url="https://example.org/prix",
        date=datetime.date(2026, 1, 1),
    )
    priced = dataclasses.replace(
        catalog,
        products={**catalog.products, "firefox": firefox.model_copy(update={"price": price})},
    )
    entries = [finding.model_dump(mode="json") for finding in scan.inventory.findings]
    metrics = compute(entries, catalog=priced)
    (line,) = [line for line in metrics.products if line.product == "firefox"]
    assert line.estimate.status == "estimated"
    assert (line.estimate.count, line.estimate.count_source) == (4, "fleet")
    assert line.estimate.eur == 40.0
