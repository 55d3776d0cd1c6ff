"""The engine's counts and the contract's channels: machines per release with their end of
support, a directory's accounts on its identity finding, `supersedes`, and unknown channels."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from fingerprints.catalog import Catalog, load_catalog
from fingerprints.engine import analyse
from inventory import Observation
from inventory.channels import Channel

CATALOG = """
[vendor]
id = "microsoft"
name = "Microsoft"
legal_name = "Microsoft Corporation"
country = "US"
website = "https://www.microsoft.com"

[vendor.sources]
country = "test fixture"

[[products]]
id = "windows"
name = "Windows"
category = "poste-de-travail"
domain = "systeme"
licence = "proprietary"
open_source = false
deployment = "on-premise"

[[products.matchers]]
channel = "ldap.os"
kind = "regex"
pattern = "Windows (?:10|11) .*"
match = ["Windows 10 Pro 10.0 (19045)"]
no_match = ["Windows Server 2019 Standard 10.0 (17763)"]

[[products.support]]
release = "Windows 10 Enterprise LTSC 10\\\\.0 \\\\(17763\\\\)"
label = "Windows 10 Entreprise LTSC 2019"
ends = 2029-01-09
source = "test fixture, LTSC first"
match = ["Windows 10 Enterprise LTSC 10.0 (17763)"]

[[products.support]]
release = "Windows 10 .*"
label = "Windows 10"
ends = 2025-10-14
source = "test fixture, general entry"
match = ["Windows 10 Pro 10.0 (19045)"]
no_match = ["Windows 11 Pro 10.0 (22631)"]

[[products]]
id = "windows-server"
name = "Windows Server"
category = "infrastructure"
domain = "systeme"
licence = "proprietary"
open_source = false
deployment = "on-premise"

[[products.matchers]]
channel = "ldap.os"
kind = "regex"
pattern = "Windows Server .*"
match = ["Windows Server 2019 Standard 10.0 (17763)"]
no_match = ["Windows 10 Pro 10.0 (19045)"]

[[products]]
id = "active-directory"
name = "Active Directory"
category = "infrastructure"
domain = "annuaire-identite"
licence = "proprietary"
open_source = false
deployment = "on-premise"
implies = ["windows-server"]

[[products.matchers]]
channel = "ldap.capability"
kind = "exact"
pattern = "1.2.840.113556.1.4.800"
confidence = "weak"
match = ["1.2.840.113556.1.4.800"]
no_match = ["1.2.840.113556.1.4.8000"]

[[products.matchers]]
channel = "ldap.capability"
kind = "exact"
pattern = "1.2.840.113556.1.4.2237"
match = ["1.2.840.113556.1.4.2237"]
no_match = ["1.2.840.113556.1.4.800"]
"""

SAMBA = """
[vendor]
id = "samba"
name = "Samba Team"
legal_name = "Samba Team"
community = true
website = "https://www.samba.org"

[vendor.sources]

[[products]]
id = "samba"
name = "Samba"
category = "infrastructure"
domain = "annuaire-identite"
licence = "GPL-3.0-only"
open_source = true
deployment = "on-premise"
supersedes = ["active-directory"]

[[products.matchers]]
channel = "ldap.rootdse"
kind = "prefix"
pattern = "vendorName=Samba Team"
match = ["vendorName=Samba Team (https://www.samba.org)"]
no_match = ["vendorName=Microsoft"]
"""

DC = "dc1.commune.test"
TODAY = datetime.date(2026, 11, 29)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    (tmp_path / "microsoft.toml").write_text(CATALOG)
    (tmp_path / "samba.toml").write_text(SAMBA)
    return load_catalog(tmp_path)


def computers(release: str, count: int, locus: str = DC) -> Observation:
    return Observation.make("directory", Channel.LDAP_OS, locus, release, {"count": count})


def directory_count(what: str, count: int, **more: bool) -> Observation:
    attributes: dict[str, object] = {"count": count, **more}
    return Observation.make("directory", Channel.LDAP_COUNT, DC, what, attributes)  # type: ignore[arg-type]


def test_machines_add_up_per_product_with_each_release_and_its_end_of_support(
    catalog: Catalog,
) -> None:
    observations = [
        computers("Windows 10 Pro 10.0 (19045)", 31),
        computers("Windows 11 Pro 10.0 (22631)", 180),
        computers("Windows 10 Enterprise LTSC 10.0 (17763)", 4),
        computers("Windows Server 2019 Standard 10.0 (17763)", 6),
        computers("Windows 10 Pro 10.0 (19045)", 2, locus="dc2.autre.test"),
    ]
    analysis = analyse(observations, catalog, today=TODAY)
    found = {(f.product, f.locus): f for f in analysis.findings}

    windows = found[("windows", DC)]
    assert windows.attributes["devices"] == 215
    assert windows.attributes["unsupported"] == 31  # LTSC 2019 is supported until 2029
    assert windows.attributes["systems"] == [
        {"release": "Windows 11 Pro 10.0 (22631)", "count": 180},
        {
            "release": "Windows 10 Pro 10.0 (19045)",
            "count": 31,
            "support": {"label": "Windows 10", "ends": "2025-10-14", "ended": True},
        },
        {
            "release": "Windows 10 Enterprise LTSC 10.0 (17763)",
            "count": 4,
            "support": {
                "label": "Windows 10 Entreprise LTSC 2019",
                "ends": "2029-01-09",
                "ended": False,
            },
        },
    ]
    assert windows.version is None  # many releases: no single version
    assert len(windows.evidence) == 3
    server = found[("windows-server", DC)]
    assert server.attributes["servers"] == 6 and "devices" not in server.attributes
    assert found[("windows", "dc2.autre.test")].attributes["devices"] == 2
    # Before Windows 10's end of support, nothing is flagged.
    before = analyse(observations, catalog, today=datetime.date(2025, 10, 1))
    early = {(f.product, f.locus): f for f in before.findings}[("windows", DC)]
    assert "unsupported" not in early.attributes


def test_directory_counts_land_on_the_identity_directory_found_at_the_same_place(
    catalog: Catalog,
) -> None:
    capability = Observation.make(
        "directory", Channel.LDAP_CAPABILITY, DC, "1.2.840.113556.1.4.2237"
    )
    users = directory_count("users", 212)
    counts = [users, directory_count("groups", 40), directory_count("dns-zones", 2)]
    elsewhere = Observation.make(
        "directory", Channel.LDAP_COUNT, "ldap.autre.test", "users", {"count": 9}
    )
    analysis = analyse([capability, *counts, elsewhere], catalog, today=TODAY)
    found = {f.product: f for f in analysis.findings}

    directory = found["active-directory"]
    assert directory.attributes == {"users": 212, "groups": 40, "dns_zones": 2}
    assert users.id in directory.evidence
    # the product it implies does not count the directory's people a second time
    assert found["windows-server"].implied_by == "active-directory"
    assert "users" not in found["windows-server"].attributes
    # counts are context, not evidence waiting for a person: not unidentified
    assert analysis.unidentified == []


def test_a_partial_count_says_so(catalog: Catalog) -> None:
    capability = Observation.make(
        "directory", Channel.LDAP_CAPABILITY, DC, "1.2.840.113556.1.4.2237"
    )
    users = directory_count("users", 57, partial=True)
    directory = analyse([capability, users], catalog, today=TODAY).findings[0]
    assert directory.attributes == {"users": 57, "partial": True}


def test_samba_supersedes_the_weak_active_directory_guess_but_not_strong_evidence(
    catalog: Catalog,
) -> None:
    vendor = Observation.make(
        "directory", Channel.LDAP_ROOTDSE, DC, "vendorName=Samba Team (https://www.samba.org)"
    )
    weak = Observation.make("directory", Channel.LDAP_CAPABILITY, DC, "1.2.840.113556.1.4.800")
    found = {f.product: f for f in analyse([vendor, weak], catalog, today=TODAY).findings}
    assert set(found) == {"samba"}
    assert "supersedes active-directory" in found["samba"].matched

    strong = Observation.make("directory", Channel.LDAP_CAPABILITY, DC, "1.2.840.113556.1.4.2237")
    both = analyse([vendor, weak, strong], catalog, today=TODAY)
    assert {f.product for f in both.findings} >= {"samba", "active-directory"}


def test_an_unknown_channel_is_reported_never_dropped(catalog: Catalog) -> None:
    newer = Observation.make("fleet", "fleet.bios", "pc-1", "Dell Inc.")
    informational = Observation.make("directory", Channel.LDAP_SERVER, DC, DC)
    unmatched = Observation.make("directory", Channel.LDAP_OS, DC, "OS/2 Warp 4")
    analysis = analyse([newer, informational, unmatched], catalog, today=TODAY)
    assert analysis.unknown_channels == {"fleet.bios": 1}
    assert analysis.unidentified == [newer.id, unmatched.id]


def test_an_informational_channel_cannot_carry_a_matcher(tmp_path: Path) -> None:
    text = SAMBA.replace('channel = "ldap.rootdse"', 'channel = "ldap.count"')
    (tmp_path / "samba.toml").write_text(text)
    with pytest.raises(Exception, match=r"ldap\.count is informational"):
        load_catalog(tmp_path)


def test_an_unrecognised_page_title_is_not_listed_for_a_person(catalog: Catalog) -> None:
    title = Observation.make("http", Channel.HTTP_TITLE, "www.commune.test", "Mairie de Test")
    header = Observation.make("http", Channel.HTTP_HEADER, "www.commune.test", "server: Zorg/1")
    analysis = analyse([title, header], catalog, today=TODAY)
    assert analysis.unidentified == [header.id]
