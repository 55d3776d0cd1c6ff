"""Install folders as evidence: a process whose executable lives in a folder a vendor declares
(`[vendor] folders`) and that nothing in the catalog names is a weak, vendor-level finding; the
catalog refuses shared, malformed, unsourced or doubly declared folders."""

from __future__ import annotations

from typing import Any

import pytest

from fingerprints.catalog import CatalogError, load_catalog
from fingerprints.engine import Engine, vendor_product_id
from fingerprints.index import check_examples
from inventory import Confidence, Jurisdiction, Observation

INSTALLED = """
[vendor]
id = "acme"
name = "Acme"
legal_name = "Acme Corporation"
country = "US"
website = "https://acme.example"
folders = ["Acme Security", "acme-agent"]

[vendor.sources]
country = "test fixture"
folders = "test fixture"

[[products]]
id = "acme-edr"
name = "Acme EDR"
category = "poste-de-travail"
domain = "securite"
licence = "proprietary"
open_source = false
deployment = "on-premise"

[[products.matchers]]
channel = "process"
kind = "exact"
pattern = "acmeedr.exe"
match = ["acmeedr.exe"]
no_match = ["acmeedr"]

[[products.matchers]]
channel = "service"
kind = "exact"
pattern = "AcmeWatch"
match = ["AcmeWatch"]
no_match = ["AcmeWatcher"]
"""


def process(value: str, **attributes: Any) -> Observation:
    return Observation.make("processes", "process", "poste-1", value, {"count": 1, **attributes})


@pytest.fixture
def engine(catalog_dir: Any) -> Engine:
    return Engine(load_catalog(catalog_dir({"acme": INSTALLED})))


def test_an_unknown_process_in_a_vendor_folder_is_a_weak_vendor_finding(engine: Engine) -> None:
    helper = process("acmeupdatehelper.exe", folder="ACME  security")
    linux = process("acme-scanner", folder="acme-agent")
    found = engine.analyse([helper, linux])
    (finding,) = found.findings
    assert finding.product == vendor_product_id("acme")
    assert finding.confidence is Confidence.WEAK
    assert finding.jurisdiction is Jurisdiction.NON_EU
    assert finding.evidence == [helper.id, linux.id]
    assert finding.matched == [
        "process folder ACME  security",
        "process folder acme-agent",
    ]
    assert found.unidentified == []


def test_a_named_process_or_twin_is_never_also_a_vendor_finding(engine: Engine) -> None:
    named = process("acmeedr.exe", folder="Acme Security")
    twin = process("acmewatch.exe", folder="Acme Security")  # the service AcmeWatch's executable
    found = engine.analyse([named, twin])
    assert {f.product for f in found.findings} == {"acme-edr"}
    (edr,) = found.findings
    assert edr.matched == ["process exact acmeedr.exe", "process → service exact AcmeWatch"]


def test_folders_of_other_vendors_and_other_channels_say_nothing(engine: Engine) -> None:
    elsewhere = process("tool.exe", folder="Other Vendor")
    bare = process("tool2.exe")
    package = Observation.make("host", "package", "poste-1", "tool3", {"folder": "acme-agent"})
    found = engine.analyse([elsewhere, bare, package])
    assert found.findings == []
    assert found.unidentified == [elsewhere.id, bare.id, package.id]


def problems(catalog_dir: Any, text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir({"acme": text}))
    return caught.value.problems


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("Acme/Agent", "one folder name"),
        ("Acme\\\\Agent", "one folder name"),
        ("", "one folder name"),
        ("Common Files", "shared folder"),
        ("bin", "shared folder"),
    ],
)
def test_catalog_refuses_shared_or_malformed_folders(
    catalog_dir: Any, folder: str, message: str
) -> None:
    text = INSTALLED.replace('"Acme Security", "acme-agent"', f'"{folder}"')
    found = problems(catalog_dir, text)
    assert len(found) == 1 and "acme.toml: vendor.folders:" in found[0], found
    assert message in found[0]


def test_catalog_refuses_unsourced_repeated_or_shared_between_vendors(catalog_dir: Any) -> None:
    found = problems(catalog_dir, INSTALLED.replace('folders = "test fixture"\n', ""))
    assert "acme.toml: vendor.sources: sources lacks a note for folders" in found[0]
    twice = INSTALLED.replace('"Acme Security", "acme-agent"', '"Acme Security", "acme security"')
    assert "duplicate folder" in problems(catalog_dir, twice)[0]
    rival = (
        INSTALLED.replace('id = "acme"', 'id = "rival"')
        .replace('"Acme Security", "acme-agent"', '"ACME-AGENT"')
        .replace("acme-edr", "rival-edr")
    )
    catalog = load_catalog(catalog_dir({"acme": INSTALLED, "rival": rival}))
    (problem,) = check_examples(catalog)
    assert "rival.toml: vendor.folders[0]: 'ACME-AGENT' déjà déclaré par" in problem
