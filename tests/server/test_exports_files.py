"""Exports of a validated inventory (CSV, ODS, XLSX, JSON, CycloneDX 1.6) and of a territory
(CSV, ODS), read back with the libraries a recipient would use."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import openpyxl
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from odf import teletype
from odf.opendocument import load
from odf.table import Table, TableCell, TableRow
from odf.text import P

from fingerprints.catalog import Catalog, default_catalog
from fingerprints.schema import Price
from server import exports
from server.exports import (
    INVENTORY_COLUMNS,
    TERRITORY_COLUMNS,
    InventoryHeader,
    inventory_csv,
    inventory_cyclonedx,
    inventory_json,
    inventory_ods,
    inventory_table,
    inventory_xlsx,
    sheet_name,
    territory_csv,
    territory_ods,
    territory_table,
)
from server.metrics import Metrics, compute, from_json, to_json

BOM = b"\xef\xbb\xbf"
FORMULA_NAME = '=HYPERLINK("http://evil.example/","clic")'
CALC_NAME = "=cmd|' /C calc'!A0"
SCRIPT_NAME = "<script>alert(1)</script>\x01\x1f fin"
SCRIPT_CLEAN = "<script>alert(1)</script>\ufffd\ufffd fin"
LONG_NOTE = "x" * 40_000
INVENTORY_ID = "0b8f6f5c-6a55-4a5e-9a35-2f3c6d7e8f90"
SCANNED = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)
VALIDATED = dt.datetime(2025, 3, 2, 14, 0, tzinfo=dt.UTC)
HEADER = InventoryHeader(
    organisation="Commune de Saint-Test",
    siren="213500001",
    organisation_type="commune",
    inventory_id=INVENTORY_ID,
    scanned_at=SCANNED,
    validated_at=VALIDATED,
    validated_by="alice",
)
CYCLONEDX_PROPERTIES = {
    "tiebreak:category",
    "tiebreak:domain",
    "tiebreak:jurisdiction",
    "tiebreak:controller",
    "tiebreak:criticality",
    "tiebreak:replaceability",
    "tiebreak:score",
    "tiebreak:estimate",
    "tiebreak:evidence-count",
}


def entry(product: str, **values: Any) -> dict[str, Any]:
    """A validated snapshot entry, as `review.snapshot` holds it."""
    base: dict[str, Any] = {
        "key": f"key-{product}",
        "product": product,
        "product_name": product,
        "vendor": "microsoft",
        "vendor_name": "Microsoft",
        "vendor_country": "US",
        "controller": "microsoft",
        "controller_country": "US",
        "jurisdiction": "non-eu",
        "category": "logiciel",
        "domain": "collaboration",
        "open_source": False,
        "locus": "tenant contoso",
        "criticality": "medium",
        "usage": "current",
        "evidence": [{"kind": "dns"}],
        "alternatives": [],
        "annual_cost_eur": None,
        "licences": None,
        "version": None,
    }
    base.update(values)
    return base


ENTRIES = [
    entry(
        "microsoft-365",
        product_name=FORMULA_NAME,
        criticality="critical",
        evidence=[{"kind": "dns"}, {"kind": "mx"}],
        alternatives=["nextcloud-hub", "bluemind"],
        annual_cost_eur=1234.5,
        version="E3",
    ),
    entry(
        "libreoffice",
        product_name="LibreOffice",
        vendor="the-document-foundation",
        vendor_name="The Document Foundation",
        vendor_country="DE",
        controller=None,
        controller_country=None,
        jurisdiction="eu",
        category="poste-de-travail",
        domain="bureautique",
        open_source=True,
        locus="pc-accueil",
        criticality="high",
        version="24.2.1",
    ),
    entry(
        "microsoft-windows",
        product_name="Microsoft Windows",
        category="poste-de-travail",
        domain="systeme",
        locus="pc-accueil",
        criticality="high",
    ),
    entry(
        "microsoft-windows",
        product_name="Microsoft Windows",
        category="poste-de-travail",
        domain="systeme",
        locus="pc-mairie",
        criticality="high",
    ),
    entry(
        "manual:outil-maison",
        product_name=CALC_NAME,
        vendor="",
        vendor_name=SCRIPT_NAME,
        vendor_country=None,
        controller=None,
        controller_country=None,
        jurisdiction="unknown",
        domain="metier",
        open_source=None,
        locus="srv-metier",
        note=LONG_NOTE,
        alternatives=[LONG_NOTE],
    ),
]
PRODUCTS = {"microsoft-365", "libreoffice", "microsoft-windows", "manual:outil-maison"}


def priced_catalog() -> Catalog:
    """The shipped catalog with a sourced reference price on Windows (per device)."""
    catalog = default_catalog()
    price = Price(
        unit="device",
        eur_per_year=145.0,
        offer="Windows 11 Pro",
        source="Tarif public de test pour les exports",
        date=dt.date(2025, 1, 15),
    )
    windows = catalog.products["microsoft-windows"].model_copy(update={"price": price})
    return dataclasses.replace(catalog, products={**catalog.products, windows.id: windows})


@pytest.fixture(scope="module")
def metrics() -> Metrics:
    return compute(ENTRIES, catalog=priced_catalog())


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    return list(
        csv.reader(io.StringIO(data[len(BOM) :].decode("utf-8"), newline=""), delimiter=";")
    )


class OdsCell(NamedTuple):
    kind: str | None
    value: str | None
    text: str
    formula: str | None


def ods_sheets(data: bytes) -> dict[str, list[list[OdsCell]]]:
    """Every sheet of an ODS file, by name: rows of cells (value type, value, text, formula)."""
    document = load(io.BytesIO(data))
    sheets: dict[str, list[list[OdsCell]]] = {}
    for table in document.spreadsheet.getElementsByType(Table):
        rows = []
        for row in table.getElementsByType(TableRow):
            cells = [
                OdsCell(
                    cell.getAttribute("valuetype"),
                    cell.getAttribute("value"),
                    "\n".join(teletype.extractText(p) for p in cell.getElementsByType(P)),
                    cell.getAttribute("formula"),
                )
                for cell in row.getElementsByType(TableCell)
            ]
            rows.append(cells)
        sheets[table.getAttribute("name")] = rows
    return sheets


def column(name: str) -> int:
    return [french for french, _ in INVENTORY_COLUMNS].index(name)


def row_of(rows: Sequence[Sequence[Any]], product: str) -> Sequence[Any]:
    index = column("produit")
    matches = [row for row in rows if row[index] == product]
    assert len(matches) == 1, product
    return matches[0]


def test_entries_use_real_catalog_products() -> None:
    products = default_catalog().products
    assert {"microsoft-365", "libreoffice", "microsoft-windows"} <= products.keys()
    assert "manual:outil-maison" not in products


def test_inventory_table_one_row_per_product(metrics: Metrics) -> None:
    headers, rows = inventory_table(metrics)
    assert headers[:3] == ["catégorie", "domaine", "produit"]
    assert len(rows) == len(PRODUCTS) == len(metrics.products)
    assert all(len(row) == len(headers) == len(INVENTORY_COLUMNS) for row in rows)

    m365 = row_of(rows, FORMULA_NAME)
    assert m365[column("classe de juridiction")] == "Hors Europe"
    assert m365[column("logiciel libre")] == "non"
    assert m365[column("coût annuel validé (€)")] == 1234.5
    assert m365[column("coût annuel estimé (€)")] is None
    assert m365[column("comment l'estimation est calculée")] == ""
    assert m365[column("alternatives")] == "Nextcloud Hub (serveur), BlueMind"
    assert m365[column("nombre de preuves")] == 2
    assert m365[column("société qui contrôle")] == "Microsoft"
    assert isinstance(m365[column("score de dépendance")], float)

    windows = row_of(rows, "Microsoft Windows")
    assert windows[column("coût annuel validé (€)")] is None
    assert windows[column("coût annuel estimé (€)")] == 290.0
    assert "× 2" in windows[column("comment l'estimation est calculée")]
    assert windows[column("emplacements")] == 2

    libre = row_of(rows, "LibreOffice")
    assert libre[column("classe de juridiction")] == "UE"
    assert libre[column("logiciel libre")] == "oui"
    assert libre[column("société qui contrôle")] == "The Document Foundation"
    assert libre[column("pays")] == "DE"

    manual = row_of(rows, CALC_NAME)
    assert manual[column("classe de juridiction")] == "Inconnue"
    assert manual[column("logiciel libre")] == "inconnu"

    english_headers, english_rows = inventory_table(metrics, english=True)
    assert english_headers[:3] == ["category", "domain", "product"]
    assert row_of(english_rows, FORMULA_NAME)[column("classe de juridiction")] == "Non-European"


def test_inventory_csv_for_french_spreadsheets(metrics: Metrics) -> None:
    data = inventory_csv(HEADER, metrics)
    assert data.startswith(BOM)
    body = data[len(BOM) :]
    assert body.startswith("catégorie;domaine;produit".encode())
    assert body.endswith(b"\r\n")
    assert body.count(b"\r\n") == len(PRODUCTS) + 1
    rows = csv_rows(data)
    assert rows[0] == [french for french, _ in INVENTORY_COLUMNS]
    assert len(rows) == len(PRODUCTS) + 1

    m365 = row_of(rows, "'" + FORMULA_NAME)
    assert m365[column("coût annuel validé (€)")] == "1234,5"
    assert m365[column("coût annuel estimé (€)")] == ""
    assert row_of(rows, "'" + CALC_NAME)[column("éditeur")] == SCRIPT_CLEAN
    windows = row_of(rows, "Microsoft Windows")
    assert windows[column("coût annuel estimé (€)")] == "290"
    assert "," in windows[column("score de dépendance")]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell

    english = csv_rows(inventory_csv(HEADER, metrics, english=True))
    assert english[0][2] == "product"
    assert row_of(english, "'" + FORMULA_NAME)[column("coût annuel validé (€)")] == "1234.5"


def test_inventory_ods_reads_back(metrics: Metrics) -> None:
    sheets = ods_sheets(inventory_ods(HEADER, metrics))
    assert list(sheets) == ["Inventaire", "Synthèse"]
    table = sheets["Inventaire"]
    assert [cell.text for cell in table[0]] == [french for french, _ in INVENTORY_COLUMNS]
    names = {row[column("produit")].text for row in table[1:]}
    assert names == {FORMULA_NAME, CALC_NAME, "LibreOffice", "Microsoft Windows"}
    for row in table:
        for cell in row:
            assert cell.formula is None

    m365 = next(row for row in table if row[column("produit")].text == FORMULA_NAME)
    assert m365[column("produit")].kind == "string"
    cost = m365[column("coût annuel validé (€)")]
    assert (cost.kind, float(cost.value or "nan")) == ("currency", 1234.5)
    assert m365[column("coût annuel estimé (€)")] == OdsCell(None, None, "", None)
    assert m365[column("nombre de preuves")].kind == "float"
    assert float(m365[column("nombre de preuves")].value or "nan") == 2
    assert m365[column("score de dépendance")].kind == "float"
    manual = next(row for row in table if row[column("produit")].text == CALC_NAME)
    assert manual[column("éditeur")].text == SCRIPT_CLEAN

    summary = {row[0].text: row[1:] for row in sheets["Synthèse"] if row and row[0].text}
    assert summary["Organisation"][0].text == HEADER.organisation
    assert summary["SIREN"][0].text == "213500001"
    assert summary["Date de validation (UTC)"][0].kind == "date"
    assert summary["Validé par"][0].text == "alice"
    assert float(summary["Global"][0].value or "nan") == metrics.index["overall"]
    non_eu = summary["Hors Europe"]
    assert float(non_eu[0].value or "nan") == metrics.findings_by_jurisdiction["non-eu"]
    assert (non_eu[1].kind, float(non_eu[1].value or "nan")) == ("currency", 1234.5)
    assert float(non_eu[2].value or "nan") == 290.0
    assert any("prix de référence" in text and "sourcés" in text for text in summary)

    english = ods_sheets(inventory_ods(HEADER, metrics, english=True))
    assert list(english) == ["Inventory", "Summary"]


def test_inventory_xlsx_reads_back(metrics: Metrics) -> None:
    data = inventory_xlsx(HEADER, metrics)
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["Inventaire", "Synthèse"]
    sheet = workbook["Inventaire"]
    rows = list(sheet.iter_rows())
    assert [cell.value for cell in rows[0]] == [french for french, _ in INVENTORY_COLUMNS]
    products = {row[column("produit")].value for row in rows[1:]}
    assert products == {FORMULA_NAME, CALC_NAME, "LibreOffice", "Microsoft Windows"}

    m365 = next(row for row in rows if row[column("produit")].value == FORMULA_NAME)
    assert m365[column("produit")].data_type == "s"
    cost = m365[column("coût annuel validé (€)")]
    assert cost.value == 1234.5 and cost.data_type == "n" and "€" in cost.number_format
    assert m365[column("coût annuel estimé (€)")].value is None
    assert m365[column("nombre de preuves")].value == 2
    manual = next(row for row in rows if row[column("produit")].value == CALC_NAME)
    assert manual[column("produit")].data_type == "s"
    assert manual[column("éditeur")].value == SCRIPT_CLEAN
    alternatives = manual[column("alternatives")].value
    assert isinstance(alternatives, str) and len(alternatives) == 32_767
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)

    summary = {
        row[0].value: [cell.value for cell in row[1:]]
        for row in workbook["Synthèse"].iter_rows()
        if row[0].value
    }
    assert summary["Organisation"][0] == HEADER.organisation
    assert summary["Date du scan (UTC)"][0] == SCANNED.replace(tzinfo=None)
    assert summary["Hors Europe"][:3] == [3, 1234.5, 290.0]
    assert summary["Total"][0] == metrics.findings == len(ENTRIES)


def test_inventory_json_round_trips(metrics: Metrics) -> None:
    data = inventory_json(HEADER, metrics)
    document = json.loads(data.decode("utf-8"))
    assert list(document) == ["organisation", "inventory", "figures"]
    assert document["organisation"] == {
        "name": HEADER.organisation,
        "siren": "213500001",
        "type": "commune",
    }
    assert document["inventory"]["id"] == INVENTORY_ID
    assert document["inventory"]["validated_at"] == "2025-03-02T14:00:00+00:00"
    assert document["inventory"]["validated_by"] == "alice"
    back = from_json(json.dumps(document["figures"]))
    assert to_json(back) == to_json(metrics)
    assert {line.product_name for line in back.products} >= {FORMULA_NAME, CALC_NAME}
    assert inventory_json(HEADER, metrics) == data


def test_inventory_cyclonedx_is_valid(metrics: Metrics) -> None:
    data = inventory_cyclonedx(HEADER, metrics)
    text = data.decode("utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    assert bom["serialNumber"] == f"urn:uuid:{INVENTORY_ID}"
    assert bom["metadata"]["timestamp"].startswith("2025-03-02T14:00:00")
    assert bom["metadata"]["component"]["name"] == HEADER.organisation
    assert bom["metadata"]["supplier"]["name"] == HEADER.organisation
    components = {component["bom-ref"]: component for component in bom["components"]}
    assert components.keys() == PRODUCTS
    assert len(bom["components"]) == len(metrics.products)
    for component in components.values():
        names = {prop["name"] for prop in component["properties"]}
        assert names >= CYCLONEDX_PROPERTIES, component["bom-ref"]
    m365 = components["microsoft-365"]
    props = {prop["name"]: prop["value"] for prop in m365["properties"]}
    assert m365["name"] == FORMULA_NAME and m365["version"] == "E3"
    assert m365["supplier"]["name"] == "Microsoft" and m365["publisher"] == "Microsoft"
    assert "licenses" not in m365
    assert props["tiebreak:jurisdiction"] == "non-eu"
    assert props["tiebreak:controller-country"] == "US"
    assert props["tiebreak:annual-cost-validated-eur"] == "1234.5"
    assert props["tiebreak:alternatives"] == "Nextcloud Hub (serveur), BlueMind"
    assert components["libreoffice"]["licenses"] == [{"license": {"id": "MPL-2.0"}}]
    windows = {
        prop["name"]: prop["value"] for prop in components["microsoft-windows"]["properties"]
    }
    assert windows["tiebreak:annual-cost-estimated-eur"] == "290"
    assert components["manual:outil-maison"]["supplier"]["name"] == SCRIPT_NAME
    root = bom["metadata"]["component"]["bom-ref"]
    depends = next(dep for dep in bom["dependencies"] if dep["ref"] == root)
    assert set(depends["dependsOn"]) == PRODUCTS
    assert inventory_cyclonedx(HEADER, metrics) == data


def test_empty_inventory_gives_valid_files() -> None:
    empty = compute([])
    header = dataclasses.replace(HEADER, siren=None, validated_at=None, validated_by=None)
    assert csv_rows(inventory_csv(header, empty)) == [[f for f, _ in INVENTORY_COLUMNS]]
    ods = ods_sheets(inventory_ods(header, empty))
    assert len(ods["Inventaire"]) == 1 and len(ods["Inventaire"][0]) == len(INVENTORY_COLUMNS)
    workbook = openpyxl.load_workbook(io.BytesIO(inventory_xlsx(header, empty)))
    assert workbook["Inventaire"].max_row == 1
    assert workbook["Synthèse"]["A1"].value == "Organisation"
    document = json.loads(inventory_json(header, empty))
    assert from_json(json.dumps(document["figures"])).products == []
    text = inventory_cyclonedx(header, empty).decode("utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom.get("components", []) == []
    assert bom["metadata"]["timestamp"].startswith("2025-03-01T09:30:00")


TERRITORY_ROWS: list[Mapping[str, Any]] = [
    {
        "id": 1,
        "name": "=1+1 Communauté",
        "siren": "200000001",
        "type": "epci",
        "parent_id": None,
        "inventory_id": INVENTORY_ID,
        "scanned_at": dt.datetime(2025, 3, 1, 9, 30),
        "index_overall": 61.4,
        "index_infrastructure": 70.0,
        "index_poste": 55.5,
        "index_logiciel": None,
        "findings": 12,
        "non_eu_findings": 7,
        "euros_validated": 1234.5,
        "euros_estimated": 290.0,
        "non_eu_validated": 1000.25,
        "non_eu_estimated": 290.0,
    },
    {
        "id": 2,
        "name": "Village sans inventaire",
        "siren": None,
        "type": "commune",
        "parent_id": 1,
        **dict.fromkeys(
            (
                "inventory_id",
                "scanned_at",
                "index_overall",
                "index_infrastructure",
                "index_poste",
                "index_logiciel",
                "findings",
                "non_eu_findings",
                "euros_validated",
                "euros_estimated",
                "non_eu_validated",
                "non_eu_estimated",
            )
        ),
    },
]


def test_territory_table_and_csv() -> None:
    headers, rows = territory_table(TERRITORY_ROWS)
    assert headers == [french for french, _ in TERRITORY_COLUMNS]
    assert rows[0][-1] == "inventaire validé" and rows[1][-1] == "aucun inventaire validé"
    assert rows[1][3:14] == [None] * 11
    assert rows[0][4] == 61.4 and rows[0][10] == 1234.5

    data = territory_csv("Territoire test", TERRITORY_ROWS)
    read = csv_rows(data)
    assert read[0] == headers
    assert read[1][0] == "'=1+1 Communauté"
    assert read[1][2] == "EPCI (intercommunalité)"
    assert read[1][3] == "2025-03-01 09:30"
    assert read[1][5] == "70"
    assert read[1][12] == "1000,25"
    assert read[2][0] == "Village sans inventaire"
    assert read[2][-1] == "aucun inventaire validé"
    assert read[2][4:14] == [""] * 10
    english = csv_rows(territory_csv("Territory", TERRITORY_ROWS, english=True))
    assert english[2][-1] == "no validated inventory"
    assert english[1][12] == "1000.25"


def test_territory_ods() -> None:
    title = "Territoire [Nord]: communes/EPCI *du* département très long titre"
    sheets = ods_sheets(territory_ods(title, TERRITORY_ROWS))
    assert len(sheets) == 1
    name, rows = next(iter(sheets.items()))
    assert name == sheet_name(title)
    assert len(name) <= 31 and not set(name) & set("[]*?:/\\'")
    assert [cell.text for cell in rows[0]] == [french for french, _ in TERRITORY_COLUMNS]
    assert rows[1][0] == OdsCell("string", None, "=1+1 Communauté", None)
    assert rows[1][3].kind == "date"
    assert (rows[1][4].kind, float(rows[1][4].value or "nan")) == ("float", 61.4)
    assert (rows[1][12].kind, float(rows[1][12].value or "nan")) == ("currency", 1000.25)
    assert rows[2][0].text == "Village sans inventaire"
    assert rows[2][-1].text == "aucun inventaire validé"
    assert all(cell.kind is None for cell in rows[2][3:14])


def test_sheet_name() -> None:
    assert sheet_name("Métropole / Nord [2025]") == "Métropole Nord 2025"
    assert sheet_name("a" * 50) == "a" * 31
    assert sheet_name("[]*?:/\\'") == "Territoire"
    assert sheet_name("", "Territory") == "Territory"


def test_audit_csv_still_neutralised() -> None:
    assert exports.neutralise("=cmd") == "'=cmd"
    assert exports.neutralise("ok") == "ok"
