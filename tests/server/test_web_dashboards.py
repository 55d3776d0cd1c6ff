"""Dashboards end to end: headless Chromium against a real `tiebreak server run`.

A métropole with two communes; the communes' inventories are real ones (observations identified
by `fingerprints.engine.analyse`), sent with their agents' tokens and validated by a person.
Every assertion is about what a reader sees or downloads. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from odf.opendocument import load as load_ods
from odf.table import Table, TableCell, TableRow
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, select

from fingerprints.catalog import default_catalog
from fingerprints.engine import analyse, finding_id
from inventory import Agent, Inventory, Observation, Organisation
from server import admin, auth, db, metrics, review
from server.admin import Role
from server.store import metrics as figures_store

pytestmark = [pytest.mark.service, pytest.mark.slow]

PASSWORD = "correct horse battery staple"
METRO = "Métropole de Test-sur-Loire"
NORTH, NORTH_SIREN = "Commune de Nordville", "213105554"
SOUTH, SOUTH_SIREN = "Commune de Sudville", "200046977"
ADMIN = "admin.territoire"
VIEWER = "lecteur.nordville"
DOMAIN = "nordville.fr"
WORKSTATION = "poste-accueil"


def _helpers() -> Any:
    return sys.modules["tiebreak_test_browser"]


def _inventory(name: str, siren: str, when: datetime, observations: list[Observation]) -> Inventory:
    analysis = analyse(observations)
    return Inventory(
        id=uuid.uuid4(),
        organisation=Organisation(name=name, siren=siren),
        agent=Agent(version="0.1.0", hostname="srv-test"),
        started_at=when,
        finished_at=when,
        observations=observations,
        findings=analysis.findings,
        unidentified=analysis.unidentified,
    )


def _microsoft_mail(domain: str) -> Observation:
    return Observation.make(
        "dns", "dns.mx", domain, f"{domain.replace('.', '-')}.mail.protection.outlook.com"
    )


def _packages(*names: str) -> list[Observation]:
    return [Observation.make("system", "package", WORKSTATION, name) for name in names]


@dataclass
class Territory:
    url: str
    engine: Engine
    metro: int
    north: int
    north_token: str
    south: int
    south_token: str

    def send(self, inventory: Inventory, token: str) -> str:
        return str(_helpers().post_inventory(self.url, inventory, token))

    def admin(self) -> auth.User:
        with self.engine.connect() as connection:
            row = connection.execute(select(db.users).where(db.users.c.username == ADMIN)).one()
        return auth.User(row.id, ADMIN, Role.ADMIN, None)

    def figures(self, organisation: int) -> metrics.Metrics:
        with self.engine.connect() as connection:
            row = figures_store.current(connection, organisation)
        assert row is not None
        return metrics.from_json(row.data)


@pytest.fixture
def territory(engine: Engine, server_process: Any) -> Territory:
    metro, _token = admin.create_organisation(engine, METRO, None)
    north, north_token = admin.create_organisation(engine, NORTH, NORTH_SIREN, parent=str(metro))
    south, south_token = admin.create_organisation(engine, SOUTH, SOUTH_SIREN, parent=str(metro))
    admin.create_user(engine, ADMIN, PASSWORD, Role.ADMIN, [])
    admin.create_user(engine, VIEWER, PASSWORD, Role.VIEWER, [str(north)])
    server_process.start()
    return Territory(server_process.url, engine, metro, north, north_token, south, south_token)


@pytest.fixture
def page(chromium: Browser, territory: Territory) -> Iterator[Page]:
    context = _helpers().context(chromium, territory.url)
    try:
        yield context.new_page()
    finally:
        context.close()


def _chart(page: Page) -> str:
    return page.locator("figure.chart svg.trajectory").first.evaluate("node => node.outerHTML")


def _euros(text: str) -> float:
    cleaned = text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace("€", "")
    return float(cleaned.replace(",", ".")) if cleaned else 0.0


def _download(page: Page, link_text: str, folder: Path) -> Path:
    with page.expect_download() as caught:
        page.get_by_role("link", name=link_text, exact=True).click()
    target = folder / caught.value.suggested_filename
    caught.value.save_as(target)
    return target


def _ods_texts(path: Path) -> list[str]:
    document = load_ods(str(path))
    texts = []
    for table in document.spreadsheet.getElementsByType(Table):
        for row in table.getElementsByType(TableRow):
            for cell in row.getElementsByType(TableCell):
                texts.append(str(cell))
    return texts


def test_dashboards_show_index_euros_trajectory_territory_and_exports(
    territory: Territory, page: Page, tmp_path: Path
) -> None:
    price = default_catalog().products["microsoft-365"].price
    assert price is not None and price.eur_per_year is not None and price.unit == "user"
    start = datetime.now(UTC) - timedelta(days=200)

    # Nordville: Microsoft 365 mail, LibreOffice and AnyDesk; 85 Microsoft 365 users entered.
    first = _inventory(
        NORTH, NORTH_SIREN, start, [_microsoft_mail(DOMAIN), *_packages("libreoffice", "anydesk")]
    )
    first_id = territory.send(first, territory.north_token)
    values = review.parse_decision({"status": "confirmed", "licences": "85"})
    m365 = finding_id("microsoft-365", DOMAIN)
    assert review.record(territory.engine, territory.admin(), first_id, m365, "finding", values)

    _helpers().sign_in(page, ADMIN, PASSWORD, next_path=f"/inventaires/{first_id}")
    with page.expect_navigation():
        page.get_by_role("button", name="Valider l'inventaire").click()
    with page.expect_navigation():
        page.locator("#lien-tableau").click()
    expect(page.locator("h1")).to_have_text(NORTH)

    figures = territory.figures(territory.north)
    expect(page.locator("[data-index=overall]")).to_have_text(f"{figures.index['overall']:.1f}")
    estimated = round(price.eur_per_year * 85, 2)
    shown = page.locator("#euros-juridiction [data-total=estimated]").inner_text()
    assert _euros(shown) == pytest.approx(estimated)
    assert "85" in page.locator("#estimations [data-product=microsoft-365]").inner_text()
    # Estimates only where the catalog has a sourced price.
    for item in page.locator("#estimations li[data-status=estimated]").all():
        product = default_catalog().products[str(item.get_attribute("data-product"))]
        assert product.price is not None and product.price.eur_per_year is not None
    libreoffice = page.locator("#table-produits tr[data-product=libreoffice] td").nth(6)
    assert default_catalog().products["libreoffice"].price is None
    expect(libreoffice).to_have_text("")
    expect(page.locator("#table-trajectoire tbody tr")).to_have_count(1)
    chart_before = _chart(page)

    # Exports of the validated inventory, downloaded and read back.
    rows = list(
        csv.reader(
            io.StringIO(_download(page, "CSV", tmp_path).read_bytes().decode("utf-8-sig")),
            delimiter=";",
        )
    )
    names = {row[2] for row in rows[1:]}
    assert {"Microsoft 365", "LibreOffice", "AnyDesk"} <= names
    ods = _ods_texts(_download(page, "ODS (LibreOffice)", tmp_path))
    assert "Microsoft 365" in ods and NORTH in ods
    workbook = openpyxl.load_workbook(_download(page, "XLSX (Excel)", tmp_path))
    cells = {cell.value for sheet in workbook for row in sheet.iter_rows() for cell in row}
    assert "Microsoft 365" in cells and estimated in cells
    bom = _download(page, "CycloneDX 1.6", tmp_path).read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(bom) is None
    assert {c["bom-ref"] for c in json.loads(bom)["components"]} >= {"microsoft-365", "anydesk"}
    document = json.loads(_download(page, "JSON", tmp_path).read_text(encoding="utf-8"))
    assert document["figures"]["signature"] == figures.signature

    # A second validated inventory: AnyDesk gone. The chart moves, the table shows both points.
    second = _inventory(
        NORTH,
        NORTH_SIREN,
        start + timedelta(days=120),
        [_microsoft_mail(DOMAIN), *_packages("libreoffice")],
    )
    second_id = territory.send(second, territory.north_token)
    assert review.validate(territory.engine, territory.admin(), second_id)
    page.reload()
    expect(page.locator("#table-trajectoire tbody tr")).to_have_count(2)
    dates = page.locator("#table-trajectoire tbody th time").all_inner_texts()
    assert dates == [start.date().isoformat(), (start + timedelta(days=120)).date().isoformat()]
    assert _chart(page) != chart_before
    expect(page.locator("#disparus")).to_contain_text("AnyDesk")

    # Sudville validated too; the métropole's territory sums its communes.
    south = _inventory(
        SOUTH, SOUTH_SIREN, start + timedelta(days=30), _packages("libreoffice", "firefox")
    )
    assert review.validate(
        territory.engine, territory.admin(), territory.send(south, territory.south_token)
    )
    page.goto(f"/organisations/{territory.metro}/territoire")
    expect(page.locator("[data-total=organisations]")).to_have_text("3")
    expect(page.locator("[data-total=with-figures]")).to_have_text("2")
    north_figures, south_figures = (
        territory.figures(territory.north),
        territory.figures(territory.south),
    )
    mean = (north_figures.index["overall"] + south_figures.index["overall"]) / 2
    expect(page.locator("[data-total=index]")).to_have_text(f"{mean:.1f}")
    total = north_figures.total_estimated + south_figures.total_estimated
    assert _euros(page.locator("[data-total=estimated]").inner_text()) == pytest.approx(total)
    expect(
        page.locator(f"#table-organisations tr[data-organisation='{territory.metro}']")
    ).to_contain_text("aucun inventaire validé")
    territory_rows = list(
        csv.reader(
            io.StringIO(_download(page, "CSV", tmp_path).read_bytes().decode("utf-8-sig")),
            delimiter=";",
        )
    )
    assert {row[0] for row in territory_rows[1:]} == {METRO, NORTH, SOUTH}
    assert SOUTH in _ods_texts(_download(page, "ODS (LibreOffice)", tmp_path))

    # A viewer of Nordville sees its dashboard but can neither see nor export Sudville's.
    viewer = _helpers().context(page.context.browser, territory.url)
    try:
        tab = viewer.new_page()
        _helpers().sign_in(tab, VIEWER, PASSWORD, next_path=f"/organisations/{territory.north}")
        expect(tab.locator("h1")).to_have_text(NORTH)
        with territory.engine.connect() as connection:
            south_current = figures_store.current(connection, territory.south)
        assert south_current is not None
        for path in (
            f"/inventaires/{south_current.inventory_id}/export.csv",
            f"/inventaires/{south_current.inventory_id}/export.cdx.json",
            f"/organisations/{territory.south}",
            f"/organisations/{territory.south}/territoire/export.csv",
        ):
            answer = tab.request.get(path)
            assert answer.status == 404, path
            assert SOUTH not in answer.text()
        tab.goto(f"/organisations/{territory.metro}/territoire")
        assert "introuvable" in tab.locator("main").inner_text()
    finally:
        viewer.close()
