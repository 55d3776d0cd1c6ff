"""Jurisdiction classes resolved along the parent chain to the ultimate parent."""

from __future__ import annotations

import pytest

from fingerprints.catalog import Catalog, build_catalog, load_catalog
from fingerprints.engine import analyse
from fingerprints.jurisdiction import country_class, resolve
from fingerprints.schema import CatalogFile, Vendor
from inventory import Jurisdiction, Observation


@pytest.fixture
def groups(catalog_dir, samples) -> Catalog:
    product = """
[[products]]
id = "filiale-cloud"
name = "Filiale Cloud"
category = "infrastructure"
domain = "hebergement-cloud"
licence = "proprietary"
open_source = false
deployment = "saas"

[[products.matchers]]
channel = "net.host"
kind = "suffix"
pattern = "filiale-cloud.example"
match = ["api.filiale-cloud.example"]
no_match = ["filiale-cloud.example.evil"]
"""
    files = {
        "us-group": samples.vendor("us-group", "US"),
        "us-holding": samples.vendor("us-holding", "IE", parent="us-group"),
        "filiale": samples.vendor("filiale", "FR", parent="us-holding") + product,
        "fr-group": samples.vendor("fr-group", "FR"),
        "fr-us-sub": samples.vendor("fr-us-sub", "US", parent="fr-group"),
        "uk-firm": samples.vendor("uk-firm", "GB"),
        "eu-firm": samples.vendor("eu-firm", "NO"),
        "projet": samples.vendor("projet", "US", community=True),
        "projet-firm": samples.vendor("projet-firm", "DE", parent="projet"),
    }
    return load_catalog(catalog_dir(files))


def test_french_subsidiary_of_us_group_is_non_eu(groups: Catalog) -> None:
    control = resolve(groups, "filiale")
    assert control.jurisdiction is Jurisdiction.NON_EU
    assert control.controller == "us-group"
    assert control.controller_country == "US"
    assert control.exposures == ("us-cloud-act", "us-fisa-702")
    assert "Filiale (FR) → Us-Holding (IE) → Us-Group (US)" in control.reason


def test_us_subsidiary_of_french_group_is_non_eu(groups: Catalog) -> None:
    control = resolve(groups, "fr-us-sub")
    assert control.jurisdiction is Jurisdiction.NON_EU
    assert control.controller == "fr-group"


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("fr-group", Jurisdiction.EU),
        ("eu-firm", Jurisdiction.EU),  # Norway: EEA
        ("uk-firm", Jurisdiction.EUROPE_OTHER),
        ("us-group", Jurisdiction.NON_EU),
        ("projet", Jurisdiction.COMMUNITY),  # community, whatever the seat of its foundation
        ("projet-firm", Jurisdiction.EU),  # a firm under a community project: the firm decides
    ],
)
def test_classes(groups: Catalog, vendor: str, expected: Jurisdiction) -> None:
    assert resolve(groups, vendor).jurisdiction is expected


def test_unknown_country_is_unknown_unless_worse() -> None:
    def vendor(vendor_id: str, country: str | None, parent: str | None = None) -> Vendor:
        sources = {"country": "x", **({"parent": "x"} if parent else {})}
        return Vendor(
            id=vendor_id, name=vendor_id, legal_name=vendor_id, country=country,
            parent=parent, website="https://x", sources=sources,
        )  # fmt: skip

    from pathlib import Path

    files = [
        (Path(f"{v.id}.toml"), CatalogFile(vendor=v))
        for v in (
            vendor("mystery", None),
            vendor("fr-sub", "FR", "mystery"),
            vendor("us-sub", "US", "mystery"),
        )
    ]
    catalog = build_catalog(files)
    assert resolve(catalog, "fr-sub").jurisdiction is Jurisdiction.UNKNOWN
    assert resolve(catalog, "us-sub").jurisdiction is Jurisdiction.NON_EU
    assert country_class(None) is Jurisdiction.UNKNOWN


def test_finding_carries_the_chain(groups: Catalog) -> None:
    seen = Observation.make("net", "net.host", "poste1", "api.filiale-cloud.example")
    (finding,) = analyse([seen], groups).findings
    assert finding.vendor == "filiale" and finding.vendor_country == "FR"
    assert finding.controller == "us-group" and finding.controller_country == "US"
    assert finding.jurisdiction is Jurisdiction.NON_EU
    assert finding.exposures == ["us-cloud-act", "us-fisa-702"]
