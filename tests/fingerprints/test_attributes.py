"""Attributes as evidence: a matcher's `require` (package source, Windows Publisher) and the
vendor-level findings of programs known by their Publisher only, through the real engine, the
shipped catalog, `tiebreak catalog check` and the server's pages."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fingerprints.catalog import CatalogError, load_catalog
from fingerprints.engine import Engine, analyse, default_engine, vendor_product_id
from fingerprints.index import check_examples
from inventory import Agent, Confidence, Inventory, Jurisdiction, Observation, Organisation
from inventory.channels import MATCHER_ATTRIBUTES, Channel
from server import admin, db, migrations
from server.app import create_app
from server.settings import Settings

PASSWORD = "correct horse battery staple"
ZOOM_PUBLISHER = "Zoom Video Communications, Inc."

CONDITIONED = """
[vendor]
id = "acme"
name = "Acme"
legal_name = "Acme Corporation"
country = "US"
website = "https://acme.example"
publishers = ["Acme Corporation"]

[vendor.sources]
country = "test fixture"
publishers = "test fixture"

[[products]]
id = "acme-chat"
name = "Acme Chat"
category = "logiciel"
domain = "collaboration"
licence = "proprietary"
open_source = false
deployment = "saas"

[[products.matchers]]
channel = "package"
kind = "exact"
pattern = "chat"
require = { source = "snap|flatpak" }
match = [{ value = "chat", source = "snap" }, { value = "CHAT", source = "Flatpak" }]
no_match = ["chat", { value = "chat", source = "dpkg" }, { value = "chat", source = "snapd" }]
"""


def package(value: str, channel: str = "package", locus: str = "poste-1", **attributes: Any) -> Any:
    """A host probe's package observation, with the attributes it emits."""
    return Observation.make("host", channel, locus, value, attributes)


def products(found: Any) -> dict[str, Any]:
    return {finding.product: finding for finding in found.findings}


def test_a_required_attribute_decides_the_match(catalog_dir: Any) -> None:
    catalog = load_catalog(catalog_dir({"acme": CONDITIONED}))
    assert check_examples(catalog) == []
    snap = package("chat", source="snap")
    dpkg = package("chat", source="dpkg")
    bare = package("chat")
    found = Engine(catalog).analyse([snap, dpkg, bare])
    chat = products(found)["acme-chat"]
    assert chat.evidence == [snap.id]
    assert chat.matched == ["package exact chat"]
    assert found.unidentified == [dpkg.id, bare.id]


def test_debian_slack_is_not_salesforce_slack() -> None:
    debian = package("slack", source="dpkg", version="0.15.2-9")
    found = analyse([debian])
    assert "slack" not in products(found)
    assert found.unidentified == [debian.id]
    for name, source in (
        ("slack", "snap"),
        ("slack-desktop", "dpkg"),
        ("com.slack.Slack", "flatpak"),
    ):
        observation = package(name, source=source)
        slack = products(analyse([observation]))["slack"]
        assert slack.evidence == [observation.id]
        assert slack.confidence is Confidence.STRONG


def test_an_unknown_program_of_a_known_publisher_is_a_weak_vendor_finding() -> None:
    plugin = package(
        "Zoom Rooms Controller Helper",
        "package.windows",
        publisher=ZOOM_PUBLISHER,
        source="registry-hklm",
    )
    # Case, spacing and a missing final dot do not make another publisher.
    rooms = package(
        "Zoom VDI Universal Plugin",
        "package.windows",
        publisher="  zoom video  communications, inc ",
        source="appx",
    )
    found = analyse([plugin, rooms])
    assert set(products(found)) == {vendor_product_id("zoom")}
    finding = products(found)[vendor_product_id("zoom")]
    assert finding.confidence is Confidence.WEAK
    assert finding.vendor == "zoom" and finding.vendor_name == "Zoom"
    assert finding.jurisdiction is Jurisdiction.NON_EU
    assert "Zoom" in finding.product_name and "unidentified product" in finding.product_name
    assert finding.evidence == [plugin.id, rooms.id]
    assert f"package.windows publisher {ZOOM_PUBLISHER}" in finding.matched
    assert found.unidentified == []
    # The engine can describe it too, as when a person picks it in a correction.
    assert default_engine().describe(vendor_product_id("zoom"), "poste-2").product_name == (
        finding.product_name
    )


def test_a_known_program_of_the_same_publisher_is_only_its_product() -> None:
    client = package("Zoom (64-bit)", "package.windows", publisher=ZOOM_PUBLISHER)
    found = analyse([client])
    assert set(products(found)) == {"zoom"}
    assert products(found)["zoom"].confidence is Confidence.STRONG


def test_publisher_evidence_stays_on_its_channel_and_its_vendors() -> None:
    unknown_publisher = package("Outil maison", "package.windows", publisher="Mairie de Test")
    # rpm's Vendor names who built the package, not who develops it: no vendor-level finding.
    rpm = package("zoom-helper", publisher=ZOOM_PUBLISHER, source="rpm")
    found = analyse([unknown_publisher, rpm])
    assert found.findings == []
    assert found.unidentified == [unknown_publisher.id, rpm.id]


def test_fleet_programs_of_a_known_publisher_count_their_machines() -> None:
    fleet = package(
        "Zoom VDI Universal Plugin",
        "package.windows",
        locus="glpi",
        publisher=ZOOM_PUBLISHER,
        source="fleet",
        count=3,
        machines="0-2",
    )
    finding = products(analyse([fleet]))[vendor_product_id("zoom")]
    # Without the fleet's machine list, counted as the catalog's `logiciel` products are.
    assert finding.attributes["servers"] == 3


def problems(catalog_dir: Any, text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir({"acme": text}))
    return caught.value.problems


def test_catalog_refuses_an_attribute_the_channel_never_carries(catalog_dir: Any) -> None:
    assert "publisher" not in MATCHER_ATTRIBUTES.get(Channel.DNS_MX, frozenset())
    text = CONDITIONED.replace('channel = "package"', 'channel = "dns.mx"').replace(
        'require = { source = "snap|flatpak" }', 'require = { publisher = "^Acme" }'
    )
    found = problems(catalog_dir, text)
    assert len(found) == 1
    assert "acme.toml: products[0] (acme-chat).matchers[0]: require.publisher:" in found[0]
    assert "never carries this attribute" in found[0]
    text = CONDITIONED.replace(
        '{ value = "chat", source = "dpkg" }', '{ value = "chat", display_name = "Chat" }'
    )
    found = problems(catalog_dir, text)
    assert "acme.toml: products[0] (acme-chat).matchers[0]: no_match[1]:" in found[0]
    assert "never carries display_name" in found[0]
    found = problems(
        catalog_dir, CONDITIONED.replace('{ source = "snap|flatpak" }', '{ source = "(" }')
    )
    assert "require.source: invalid regex" in found[0]


def test_catalog_refuses_undeclared_or_unsourced_publishers(catalog_dir: Any, samples: Any) -> None:
    found = problems(catalog_dir, CONDITIONED.replace('publishers = "test fixture"\n', ""))
    assert "acme.toml: vendor.sources: sources lacks a note for publishers" in found[0]
    twice = CONDITIONED.replace('["Acme Corporation"]', '["Acme Corporation", "ACME corporation."]')
    assert "duplicate publisher" in problems(catalog_dir, twice)[0]
    # Two vendors claiming one publisher: a program would have two vendors.
    rival = CONDITIONED.replace('id = "acme"', 'id = "rival"').replace("acme-chat", "rival-chat")
    catalog = load_catalog(catalog_dir({"acme": CONDITIONED, "rival": rival}))
    found = check_examples(catalog)
    assert len(found) == 1
    assert "vendor.publishers[0]: 'Acme Corporation' déjà déclaré par" in found[0]


def test_catalog_check_names_a_failing_attribute_example(
    catalog_dir: Any, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    wrong = CONDITIONED.replace(
        '{ value = "chat", source = "snap" }', '{ value = "chat", source = "dpkg" }'
    )
    directory = catalog_dir({"acme": wrong})
    run = subprocess.run(
        [*tiebreak_cmd, "catalog", "check", "--dir", str(directory)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert (
        "acme.toml: products[0] (acme-chat).matchers[0].match: "
        "{'value': 'chat', 'source': 'dpkg'} ne correspond pas" in run.stderr
    )
    attribute = CONDITIONED.replace('channel = "package"', 'channel = "process"')
    run = subprocess.run(
        [*tiebreak_cmd, "catalog", "check", "--dir", str(catalog_dir({"acme": attribute}))],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert "acme.toml: products[0] (acme-chat).matchers[0]: require.source:" in run.stderr


def test_the_shipped_catalog_checks_clean() -> None:
    engine = default_engine()
    assert check_examples(engine.catalog, engine.index) == []
    assert {"microsoft", "google", "zoom", "cisco"} <= set(engine.publishers.values())


@pytest.fixture
def server(tmp_path: Path) -> Any:
    """The server on a fresh SQLite database, with one organisation and its reviewer."""
    url = f"sqlite:///{tmp_path / 'server.db'}"
    engine = db.make_engine(url)
    migrations.migrate(engine)
    app = create_app(Settings(database_url=url), engine)
    org_id, token = admin.create_organisation(engine, "Commune de Test", "213105554")
    admin.create_user(engine, "relecteur", PASSWORD, admin.Role.REVIEWER, [str(org_id)])
    with TestClient(app) as client:
        yield app, client, token
    engine.dispose()


def test_the_server_takes_and_shows_a_vendor_level_finding(server: Any) -> None:
    app, client, token = server
    plugin = package(
        "Zoom Rooms Controller Helper",
        "package.windows",
        locus="127.0.0.1",
        publisher=ZOOM_PUBLISHER,
    )
    found = analyse([plugin])
    now = datetime.now(UTC)
    inventory = Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name="Commune de Test", siren="213105554"),
        agent=Agent(version="0.1.0", hostname="poste-test"),
        started_at=now,
        finished_at=now,
        observations=[plugin],
        findings=found.findings,
    )
    sent = client.post(
        "/api/v1/inventories",
        content=inventory.to_json().encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert sent.status_code == 201, sent.text
    reviewer = TestClient(app)
    signed = reviewer.post("/api/v1/session", json={"username": "relecteur", "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    page = reviewer.get(f"/inventaires/{inventory.id}")
    assert page.status_code == 200
    assert "Zoom — produit non identifié / unidentified product" in page.text
    # No catalog entry, so no link to the alternatives library (which answers 404 for it).
    assert "alternatives?produit=vendor" not in page.text
    assert (
        reviewer.get("/catalogue/alternatives", params={"produit": "vendor:zoom"}).status_code
        == 404
    )


def test_a_program_another_vendors_product_recognises_is_not_also_its_publishers() -> None:
    """Omnissa's Horizon Client still carries VMware's Publisher: it is Horizon (Omnissa), and
    not also "a VMware product"."""
    horizon = package("VMware Horizon Client", "package.windows", publisher="VMware, Inc.")
    unknown = package("VMware OVF Tool", "package.windows", publisher="VMware, Inc.")
    found = products(analyse([horizon, unknown]))
    assert found["vmware-horizon"].evidence == [horizon.id]
    assert found[vendor_product_id("vmware")].evidence == [unknown.id]
