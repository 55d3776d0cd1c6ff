"""Apple Team IDs as evidence: a macOS app whose signature names a vendor's Team ID (`[vendor]
team_ids`) and that no product of that vendor recognises is a weak, vendor-level finding, as a
Windows program known by its Publisher only; the catalog refuses malformed or unsourced ids."""

from __future__ import annotations

from typing import Any

import pytest

from fingerprints.catalog import CatalogError, load_catalog
from fingerprints.engine import Engine, vendor_product_id
from fingerprints.index import check_examples
from inventory import Confidence, Jurisdiction, Observation

TEAM = "UBF8T346G9"

SIGNED = f"""
[vendor]
id = "acme"
name = "Acme"
legal_name = "Acme Corporation"
country = "US"
website = "https://acme.example"
publishers = ["Acme Corporation"]
team_ids = ["{TEAM}"]

[vendor.sources]
country = "test fixture"
publishers = "test fixture"
team_ids = "test fixture"

[[products]]
id = "acme-chat"
name = "Acme Chat"
category = "logiciel"
domain = "collaboration"
licence = "proprietary"
open_source = false
deployment = "saas"

[[products.matchers]]
channel = "package.macos"
kind = "exact"
pattern = "com.acme.chat"
match = ["com.acme.chat"]
no_match = ["com.acme.chatter"]

[[products]]
id = "acme-notes"
name = "Acme Notes"
category = "logiciel"
domain = "bureautique"
licence = "proprietary"
open_source = false
deployment = "on-premise"

# A bundle id alone is not enough: Acme's Notes only when Acme signed it.
[[products.matchers]]
channel = "package.macos"
kind = "exact"
pattern = "org.example.notes"
require = {{ team_id = "{TEAM}" }}
match = [{{ value = "org.example.notes", team_id = "{TEAM}" }}]
no_match = ["org.example.notes", {{ value = "org.example.notes", team_id = "ABCDE12345" }}]
"""


def app(value: str, locus: str = "mac-1", **attributes: Any) -> Observation:
    """A host probe's macOS application observation."""
    return Observation.make(
        "host", "package.macos", locus, value, {"source": "info-plist", **attributes}
    )


def products(found: Any) -> dict[str, Any]:
    return {finding.product: finding for finding in found.findings}


@pytest.fixture
def engine(catalog_dir: Any) -> Engine:
    catalog = load_catalog(catalog_dir({"acme": SIGNED}))
    assert check_examples(catalog) == []
    return Engine(catalog)


def test_an_unknown_app_signed_by_a_vendor_team_is_a_weak_vendor_finding(engine: Engine) -> None:
    updater = app("com.acme.updater", team_id=TEAM, version="2.1")
    helper = app("com.acme.helper", team_id=TEAM.lower())  # an imported inventory's spelling
    found = engine.analyse([updater, helper])
    assert set(products(found)) == {vendor_product_id("acme")}
    finding = products(found)[vendor_product_id("acme")]
    assert finding.confidence is Confidence.WEAK
    assert finding.vendor == "acme" and finding.jurisdiction is Jurisdiction.NON_EU
    assert "unidentified product" in finding.product_name
    assert finding.evidence == [updater.id, helper.id]
    assert finding.matched == [
        f"package.macos team_id {TEAM}",
        f"package.macos team_id {TEAM.lower()}",
    ]
    assert finding.version == "2.1"
    assert found.unidentified == []


def test_a_known_app_of_the_same_team_is_only_its_product(engine: Engine) -> None:
    chat = app("com.acme.chat", team_id=TEAM)
    found = engine.analyse([chat])
    assert set(products(found)) == {"acme-chat"}
    assert products(found)["acme-chat"].confidence is Confidence.STRONG


def test_a_matcher_may_require_the_team_id(engine: Engine) -> None:
    signed = app("org.example.notes", team_id=TEAM)
    other = app("org.example.notes", locus="mac-2", team_id="ABCDE12345")
    unsigned = app("org.example.notes", locus="mac-3")
    found = engine.analyse([signed, other, unsigned])
    assert set(products(found)) == {"acme-notes"}
    assert products(found)["acme-notes"].evidence == [signed.id]
    assert found.unidentified == [other.id, unsigned.id]


def test_team_ids_and_publishers_stay_on_their_channels(engine: Engine) -> None:
    unknown_team = app("com.example.tool", team_id="ABCDE12345")
    unsigned = app("com.example.other")
    # A macOS app has no Publisher, a Windows program no Team ID: neither names a vendor there.
    publisher = app("com.example.third", publisher="Acme Corporation")
    windows = Observation.make("host", "package.windows", "pc-1", "Outil", {"team_id": TEAM})
    linux = Observation.make("host", "package", "srv-1", "acme-agent", {"source": "rpm"})
    found = engine.analyse([unknown_team, unsigned, publisher, windows, linux])
    assert found.findings == []
    assert found.unidentified == [o.id for o in (unknown_team, unsigned, publisher, windows, linux)]
    # The Windows rule is unchanged beside it.
    plugin = Observation.make(
        "host", "package.windows", "pc-1", "Acme Plugin", {"publisher": "ACME corporation."}
    )
    finding = products(engine.analyse([plugin]))[vendor_product_id("acme")]
    assert finding.matched == ["package.windows publisher ACME corporation."]


def problems(catalog_dir: Any, text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir({"acme": text}))
    return caught.value.problems


@pytest.mark.parametrize("team", ["ubf8t346g9", "UBF8T346G", "UBF8T346G9X", "UBF8T346-9", ""])
def test_catalog_refuses_malformed_team_ids(catalog_dir: Any, team: str) -> None:
    found = problems(
        catalog_dir, SIGNED.replace(f'team_ids = ["{TEAM}"]', f'team_ids = ["{team}"]')
    )
    assert len(found) == 1 and "acme.toml: vendor.team_ids:" in found[0]
    assert "10 upper-case letters or digits" in found[0]


def test_catalog_refuses_unsourced_or_repeated_team_ids(catalog_dir: Any) -> None:
    found = problems(catalog_dir, SIGNED.replace('team_ids = "test fixture"\n', ""))
    assert "acme.toml: vendor.sources: sources lacks a note for team_ids" in found[0]
    twice = SIGNED.replace(f'team_ids = ["{TEAM}"]', f'team_ids = ["{TEAM}", "{TEAM}"]')
    assert "duplicate team id" in problems(catalog_dir, twice)[0]


def test_two_vendors_declaring_one_team_id_are_refused(catalog_dir: Any) -> None:
    """An app signed by one team has one vendor: `tiebreak catalog check` names the second file."""
    rival = (
        SIGNED.replace('id = "acme"', 'id = "rival"')
        .replace('publishers = ["Acme Corporation"]', 'publishers = ["Rival SA"]')
        .replace("acme-", "rival-")
    )
    catalog = load_catalog(catalog_dir({"acme": SIGNED, "rival": rival}))
    found = check_examples(catalog)
    assert len(found) == 1, found
    assert f"rival.toml: vendor.team_ids[0]: '{TEAM}' déjà déclaré par" in found[0]
    assert "acme.toml" in found[0]
