"""Exports: the audit log as CSV, for `tiebreak server audit-export` and /admin/journal.csv; a
validated inventory as CSV, ODS, XLSX, JSON and CycloneDX 1.6; a territory as CSV and ODS.

Every cell an agent or a person wrote (subjects, values before and after, product and
organisation names) is attacker-controlled: in CSV, a cell that a spreadsheet would read as a
formula gets a leading apostrophe; in ODS and XLSX, text is stored as text, never as a formula;
characters XML cannot hold become U+FFFD. Headers are French, English with `english=True`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, TextIO
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from odf import teletype  # type: ignore[import-untyped]
from odf.number import (  # type: ignore[import-untyped]
    CurrencyStyle,
    CurrencySymbol,
    DateStyle,
    Day,
    Hours,
    Minutes,
    Month,
    Number,
    Year,
)
from odf.number import Text as NumberText
from odf.opendocument import OpenDocumentSpreadsheet  # type: ignore[import-untyped]
from odf.style import Style, TableColumnProperties, TextProperties  # type: ignore[import-untyped]
from odf.table import Table, TableCell, TableColumn, TableRow  # type: ignore[import-untyped]
from odf.text import P  # type: ignore[import-untyped]
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from server.labels import LABELS
from server.metrics import CATEGORIES, JURISDICTIONS, Metrics, ProductLine, euros_text, to_json

try:  # cyclonedx-python-lib 11.x moved the factory; the old path warns it is deprecated
    from cyclonedx.contrib.license.factories import LicenseFactory
except ImportError:  # pragma: no cover - cyclonedx-python-lib 8 to 10
    from cyclonedx.factory.license import LicenseFactory

AUDIT_COLUMNS = (
    "at",
    "username",
    "organisation_id",
    "inventory_id",
    "subject",
    "action",
    "before",
    "after",
)
"""The columns of the audit log export, in order."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ROWS_PER_CHUNK = 500


def neutralise(value: Any) -> str:
    """A cell's text, with a leading apostrophe when a spreadsheet would run it as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        stamp: str = value.astimezone(UTC).isoformat()
        return stamp
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _cells(row: Any) -> list[str]:
    mapping = row._mapping
    return [neutralise(mapping[column]) for column in AUDIT_COLUMNS]


def audit_csv_chunks(rows: Iterable[Any]) -> Iterator[str]:
    """The CSV text of audit log rows, header first, a few hundred rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_cells(row))
        if count % _ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_audit_csv(rows: Iterable[Any], handle: TextIO) -> None:
    """Write audit log rows as CSV to an open text file (opened with newline="")."""
    for chunk in audit_csv_chunks(rows):
        handle.write(chunk)


# ---------------------------------------------------------------------------------------------
# Exports of a validated inventory and of a territory: CSV, ODS, XLSX, JSON, CycloneDX.
# ---------------------------------------------------------------------------------------------

Value = str | float | int | bool | None
"""A cell of an exported table: text, number, yes/no or empty."""

TerritoryValue = Value | datetime
"""A cell of the territory table: a cell, or the date of the validated inventory (UTC)."""

_Cell = Value | datetime
_Sheets = Sequence["_Sheet"]


class _Euros(float):
    """An amount in euros: written with the euro format in ODS and XLSX."""


@dataclass(frozen=True, slots=True)
class InventoryHeader:
    """Who and what a validated inventory's export describes."""

    organisation: str
    siren: str | None
    organisation_type: str
    """commune, epci, departement, region, other"""
    inventory_id: str
    scanned_at: datetime
    validated_at: datetime | None
    validated_by: str | None


@dataclass(frozen=True, slots=True)
class _Sheet:
    """A sheet to write: its rows, which of them are in bold, whether the first is a header."""

    name: str
    rows: Sequence[Sequence[_Cell]]
    bold: frozenset[int] = frozenset({0})
    table: bool = True


_YES_NO: Final[dict[bool | None, tuple[str, str]]] = {
    True: ("oui", "yes"),
    False: ("non", "no"),
    None: ("inconnu", "unknown"),
}

INVENTORY_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("catégorie", "category"),
    ("domaine", "domain"),
    ("produit", "product"),
    ("éditeur", "vendor"),
    ("société qui contrôle", "controlling company"),
    ("pays", "country"),
    ("classe de juridiction", "jurisdiction class"),
    ("logiciel libre", "open source"),
    ("criticité", "criticality"),
    ("remplaçabilité", "replaceability"),
    ("coût annuel validé (€)", "validated annual cost (€)"),
    ("coût annuel estimé (€)", "estimated annual cost (€)"),
    ("comment l'estimation est calculée", "how the estimate is computed"),
    ("alternatives", "alternatives"),
    ("nombre de preuves", "evidence count"),
    ("emplacements", "locations"),
    ("score de dépendance", "dependency score"),
)
"""The columns of an inventory export, French and English: one row per product, in the order
of the TIE Break diagnostic."""

TERRITORY_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("organisation", "organisation"),
    ("SIREN", "SIREN"),
    ("type", "type"),
    ("date de l'inventaire validé (UTC)", "validated inventory date (UTC)"),
    ("indice global", "overall index"),
    ("indice infrastructure", "infrastructure index"),
    ("indice poste de travail", "workstation index"),
    ("indice logiciels", "software index"),
    ("constats", "findings"),
    ("constats hors Europe", "non-European findings"),
    ("euros validés", "validated euros"),
    ("euros estimés", "estimated euros"),
    ("dont hors Europe validés", "of which non-European, validated"),
    ("dont hors Europe estimés", "of which non-European, estimated"),
    ("statut", "status"),
)
"""The columns of a territory export: one row per organisation. "Hors Europe" is the
`non-eu` jurisdiction class (a vendor controlled from outside Europe), as on the dashboards."""

NO_VALIDATED_INVENTORY: Final = ("aucun inventaire validé", "no validated inventory")
"""The status of an organisation without a validated inventory, French and English."""

_ESTIMATES_NOTE: Final = (
    "Les coûts estimés viennent des prix de référence publics et sourcés du catalogue tiebreak "
    "(offre, source et date pour chaque produit dans l'onglet Inventaire), multipliés par un "
    "nombre d'utilisateurs, de postes ou de serveurs ; un produit dont le coût a été validé "
    "n'est jamais estimé.",
    "Estimated costs come from the public, sourced reference prices of the tiebreak catalog "
    "(offer, source and date for each product on the Inventory sheet), times a number of users, "
    "devices or servers; a product whose cost was validated is never estimated.",
)
_FORMER_NOTE: Final = (
    "Les produits dont l'usage est ancien ne comptent ni dans les indices ni dans les montants "
    "(ils restent comptés parmi les constats).",
    "Products whose usage is former count in neither the indexes nor the amounts (they still "
    "count among the findings).",
)

# Characters XML 1.0 (ODS, XLSX) cannot hold: C0 controls other than tab, line feed and
# carriage return, lone surrogates, U+FFFE and U+FFFF. They become U+FFFD in every format.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XLSX_CELL_MAX = 32_767
"""The most characters an XLSX cell holds (longer text is cut, ending with "…")."""
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]*?:/\\'\x00-\x1f\x7f]")
_SHEET_NAME_MAX = 31
_DATE_FORMAT = "%Y-%m-%d %H:%M"
_XLSX_EURO_FORMAT = '#,##0.00 "€"'
_XLSX_DATE_FORMAT = "yyyy-mm-dd hh:mm"


def _pick(pair: tuple[str, str], english: bool) -> str:
    return pair[1] if english else pair[0]


_OVERALL = ("Global", "Overall")


def _label(vocabulary: str, value: str | None, english: bool) -> str:
    """The name the web pages show for a value (`server.labels`), the value itself if unknown."""
    if value is None:
        return ""
    if vocabulary == "category" and value == "overall":
        return _pick(_OVERALL, english)
    return LABELS["en" if english else "fr"][vocabulary].get(value, value)


def _domain(value: str, english: bool) -> str:
    return _label("domain", value, english)


def _clean(text: str) -> str:
    """The text without the characters XML cannot hold (replaced by U+FFFD)."""
    return _ILLEGAL.sub("\ufffd", text)


def _utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive datetime is taken to be UTC already (as SQLite returns it)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _number(value: Any) -> float | None:
    """A float from a database number (float, int, Decimal), None for nothing or not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _euros(value: Any) -> _Euros | None:
    number = _number(value)
    return _Euros(round(number, 2)) if number is not None else None


def _moment(value: Any) -> datetime | str | None:
    """A database timestamp as an aware UTC datetime (text that is no ISO date stays text)."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str) and value:
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            return value
    return None


def _plain(rows: Sequence[Sequence[_Cell]]) -> list[list[Any]]:
    """Rows as the public table functions return them: euros as plain floats."""
    return [[float(cell) if isinstance(cell, _Euros) else cell for cell in row] for row in rows]


def _controller(line: ProductLine) -> str:
    return line.controller_name or line.controller or line.vendor_name


def _inventory_rows(metrics: Metrics, english: bool) -> tuple[list[str], list[list[_Cell]]]:
    headers = [_pick(column, english) for column in INVENTORY_COLUMNS]
    rows: list[list[_Cell]] = []
    for line in metrics.products:
        rows.append(
            [
                _label("category", line.category, english),
                _domain(line.domain, english),
                line.product_name,
                line.vendor_name,
                _controller(line),
                line.controller_country or line.vendor_country,
                _label("jurisdiction", line.jurisdiction, english),
                _pick(_YES_NO[line.open_source], english),
                _label("criticality", line.criticality, english),
                _label("replaceability", line.replaceability, english),
                _euros(line.validated_eur),
                _euros(line.estimated_eur),
                "" if line.validated_eur is not None else line.estimate.explain(english),
                ", ".join(line.alternative_names),
                line.evidence,
                len(line.loci),
                _number(line.score),
            ]
        )
    return headers, rows


def inventory_table(metrics: Metrics, english: bool = False) -> tuple[list[str], list[list[Value]]]:
    """The inventory as a table, one row per product (`INVENTORY_COLUMNS`): labels in French
    (English with `english`), numbers as numbers, None for an empty cell."""
    headers, rows = _inventory_rows(metrics, english)
    return headers, _plain(rows)


def _summary_rows(
    header: InventoryHeader, metrics: Metrics, english: bool
) -> tuple[list[list[_Cell]], frozenset[int]]:
    """The summary sheet: who, when, the indexes, findings and euros per jurisdiction class."""

    def t(french: str, english_text: str) -> str:
        return english_text if english else french

    rows: list[list[_Cell]] = [
        [t("Organisation", "Organisation"), header.organisation],
        ["SIREN", header.siren],
        [t("Type", "Type"), _label("org_type", header.organisation_type, english)],
        [t("Inventaire (identifiant)", "Inventory (id)"), header.inventory_id],
        [t("Date du scan (UTC)", "Scanned at (UTC)"), _utc(header.scanned_at)],
        [
            t("Date de validation (UTC)", "Validated at (UTC)"),
            _utc(header.validated_at) if header.validated_at is not None else None,
        ],
        [t("Validé par", "Validated by"), header.validated_by],
        [t("Produits", "Products"), len(metrics.products)],
        [],
    ]
    bold = {len(rows)}
    rows.append([t("Indice de dépendance (0 à 100)", "Dependency index (0 to 100)")])
    for key in (*CATEGORIES, "overall"):
        rows.append([_label("category", key, english), _number(metrics.index.get(key))])
    rows.append([])
    bold.add(len(rows))
    rows.append(
        [
            t("Classe de juridiction", "Jurisdiction class"),
            t("Constats", "Findings"),
            t("Coût annuel validé (€)", "Validated annual cost (€)"),
            t("Coût annuel estimé (€)", "Estimated annual cost (€)"),
        ]
    )
    for key in JURISDICTIONS:
        rows.append(
            [
                _label("jurisdiction", key, english),
                metrics.findings_by_jurisdiction.get(key, 0),
                _Euros(round(metrics.euros_validated.get(key, 0.0), 2)),
                _Euros(round(metrics.euros_estimated.get(key, 0.0), 2)),
            ]
        )
    bold.add(len(rows))
    rows.append(
        [
            t("Total", "Total"),
            metrics.findings,
            _Euros(metrics.total_validated),
            _Euros(metrics.total_estimated),
        ]
    )
    rows.append([])
    rows.append([_pick(_ESTIMATES_NOTE, english)])
    rows.append([_pick(_FORMER_NOTE, english)])
    return rows, frozenset(bold)


def _inventory_sheets(header: InventoryHeader, metrics: Metrics, english: bool) -> list[_Sheet]:
    headers, rows = _inventory_rows(metrics, english)
    summary, bold = _summary_rows(header, metrics, english)
    return [
        _Sheet("Inventory" if english else "Inventaire", [headers, *rows]),
        _Sheet("Summary" if english else "Synthèse", summary, bold=bold, table=False),
    ]


# --- CSV ------------------------------------------------------------------------------------


def _decimal(value: float, english: bool) -> str:
    """1234,5 in French, 1234.5 in English: two decimals at most, no thousands separator."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text if english else text.replace(".", ",")


def _csv_cell(value: _Cell, english: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _pick(_YES_NO[value], english)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _decimal(value, english) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        return _utc(value).strftime(_DATE_FORMAT)
    return neutralise(_clean(value))


def _csv(headers: Sequence[str], rows: Iterable[Sequence[_Cell]], english: bool) -> bytes:
    """A table for spreadsheets set to French: `;` between cells, UTF-8 with a byte order mark
    (so Excel reads the accents), CRLF line ends, header row first and no other preamble."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(_clean(title)) for title in headers])
    for row in rows:
        writer.writerow([_csv_cell(cell, english) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def inventory_csv(header: InventoryHeader, metrics: Metrics, english: bool = False) -> bytes:
    """The inventory table as CSV (`;`, UTF-8 with BOM, CRLF, decimal comma in French); every
    text cell goes through `neutralise`. `header` is not written: the file is a plain table
    that spreadsheets and CSV readers open directly (the caller names the file after it)."""
    del header
    headers, rows = _inventory_rows(metrics, english)
    return _csv(headers, rows, english)


# --- ODS ------------------------------------------------------------------------------------


class _OdsStyles:
    """The styles an ODS export uses: bold text, euros, dates, column width."""

    def __init__(self, document: Any) -> None:
        euro = CurrencyStyle(name="N-EUR")
        euro.addElement(Number(decimalplaces="2", minintegerdigits="1", grouping="true"))
        euro.addElement(NumberText(text="\u00a0"))
        euro.addElement(CurrencySymbol(language="fr", country="FR", text="€"))
        stamp = DateStyle(name="N-DATE")
        for part in (
            Year(style="long"),
            NumberText(text="-"),
            Month(style="long"),
            NumberText(text="-"),
            Day(style="long"),
            NumberText(text=" "),
            Hours(style="long"),
            NumberText(text=":"),
            Minutes(style="long"),
        ):
            stamp.addElement(part)
        self.euros = Style(name="C-EUR", family="table-cell", datastylename="N-EUR")
        self.date = Style(name="C-DATE", family="table-cell", datastylename="N-DATE")
        self.bold = Style(name="C-BOLD", family="table-cell")
        self.bold.addElement(TextProperties(fontweight="bold"))
        self.column = Style(name="CO-1", family="table-column")
        self.column.addElement(TableColumnProperties(columnwidth="4.5cm"))
        for style in (euro, stamp, self.euros, self.date, self.bold, self.column):
            document.automaticstyles.addElement(style)


def _ods_cell(value: _Cell, bold: bool, styles: _OdsStyles, english: bool) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return TableCell()
    if isinstance(value, bool):
        cell = TableCell(valuetype="boolean", booleanvalue="true" if value else "false")
        text = _pick(_YES_NO[value], english)
    elif isinstance(value, _Euros):
        cell = TableCell(
            valuetype="currency", currency="EUR", value=repr(float(value)), stylename=styles.euros
        )
        text = euros_text(value, english)
    elif isinstance(value, int | float):
        cell = TableCell(valuetype="float", value=repr(value))
        text = _decimal(value, english) if isinstance(value, float) else str(value)
    elif isinstance(value, datetime):
        moment = _utc(value).replace(tzinfo=None)
        cell = TableCell(
            valuetype="date", datevalue=moment.isoformat(timespec="seconds"), stylename=styles.date
        )
        text = moment.strftime(_DATE_FORMAT)
    else:
        # A string cell is text: ODF keeps formulas in table:formula, never in the text.
        cell = (
            TableCell(valuetype="string", stylename=styles.bold)
            if bold
            else TableCell(valuetype="string")
        )
        text = _clean(value)
    paragraph = P()
    teletype.addTextToElement(paragraph, text)
    cell.addElement(paragraph)
    return cell


def _ods(sheets: _Sheets, english: bool) -> bytes:
    document = OpenDocumentSpreadsheet()
    styles = _OdsStyles(document)
    for sheet in sheets:
        table = Table(name=sheet.name)
        width = max((len(row) for row in sheet.rows), default=1) or 1
        table.addElement(TableColumn(numbercolumnsrepeated=str(width), stylename=styles.column))
        for index, row in enumerate(sheet.rows):
            bold = index in sheet.bold
            table_row = TableRow()
            for value in row:
                table_row.addElement(_ods_cell(value, bold, styles, english))
            if not row:
                table_row.addElement(TableCell())
            table.addElement(table_row)
        document.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def inventory_ods(header: InventoryHeader, metrics: Metrics, english: bool = False) -> bytes:
    """The inventory as an OpenDocument spreadsheet (LibreOffice Calc): the sheet "Inventaire"
    (the table, numbers as numbers, euros in euros) and the sheet "Synthèse"."""
    return _ods(_inventory_sheets(header, metrics, english), english)


# --- XLSX -----------------------------------------------------------------------------------


def _xlsx_text(text: str) -> str:
    text = _clean(text)
    if len(text) > _XLSX_CELL_MAX:
        text = text[: _XLSX_CELL_MAX - 1] + "…"
    return text


def _xlsx(sheets: _Sheets) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    bold_font = Font(bold=True)
    for sheet in sheets:
        worksheet = workbook.create_sheet(title=sheet.name)
        width = 1
        for row_index, row in enumerate(sheet.rows, start=1):
            bold = row_index - 1 in sheet.bold
            width = max(width, len(row))
            for column_index, value in enumerate(row, start=1):
                if value is None or (isinstance(value, float) and not math.isfinite(value)):
                    continue
                cell = worksheet.cell(row=row_index, column=column_index)
                if isinstance(value, datetime):
                    cell.value = _utc(value).replace(tzinfo=None)
                    cell.number_format = _XLSX_DATE_FORMAT
                elif isinstance(value, str):
                    text = _xlsx_text(value)
                    cell.value = text
                    if text.startswith(_FORMULA_STARTS):
                        # openpyxl takes "=…" for a formula: store it as a string, and mark it
                        # quoted so that editing the cell in Excel keeps it text.
                        cell.data_type = "s"
                        cell.quotePrefix = True
                    if bold:
                        cell.font = bold_font
                else:
                    cell.value = float(value) if isinstance(value, _Euros) else value
                    if isinstance(value, _Euros):
                        cell.number_format = _XLSX_EURO_FORMAT
        for column_index in range(1, width + 1):
            worksheet.column_dimensions[get_column_letter(column_index)].width = 22
        if sheet.table and sheet.rows:
            worksheet.freeze_panes = "A2"
            worksheet.auto_filter.ref = worksheet.dimensions
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def inventory_xlsx(header: InventoryHeader, metrics: Metrics, english: bool = False) -> bytes:
    """The inventory as an Excel workbook: the same two sheets as `inventory_ods`."""
    return _xlsx(_inventory_sheets(header, metrics, english))


# --- JSON and CycloneDX ---------------------------------------------------------------------


def _header_json(header: InventoryHeader) -> tuple[dict[str, Any], dict[str, Any]]:
    organisation = {
        "name": header.organisation,
        "siren": header.siren,
        "type": header.organisation_type,
    }
    inventory = {
        "id": header.inventory_id,
        "scanned_at": _utc(header.scanned_at).isoformat(),
        "validated_at": (
            _utc(header.validated_at).isoformat() if header.validated_at is not None else None
        ),
        "validated_by": header.validated_by,
    }
    return organisation, inventory


def inventory_json(header: InventoryHeader, metrics: Metrics) -> bytes:
    """The inventory as JSON (UTF-8): `organisation`, `inventory` (id, dates, who validated)
    and `figures`, the figures as `server.metrics.to_json` stores them (`from_json` reads them
    back). Keys come in a fixed order."""
    organisation, inventory = _header_json(header)
    document = {
        "organisation": organisation,
        "inventory": inventory,
        "figures": orjson.loads(to_json(metrics)),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def _serial(inventory_id: str) -> UUID:
    """The BOM's serial number: the inventory id (a UUID), or a UUID derived from it."""
    try:
        return UUID(inventory_id)
    except ValueError:
        return uuid5(NAMESPACE_URL, f"tiebreak:inventory:{inventory_id}")


def _tiebreak_version() -> str | None:
    try:
        return version("tiebreak")
    except PackageNotFoundError:
        return None


def _amount(value: float | None) -> str | None:
    return None if value is None else _decimal(value, english=True)


def _properties(pairs: Iterable[tuple[str, str | None]]) -> list[Property]:
    return [Property(name=name, value=value) for name, value in pairs if value is not None]


def _component(line: ProductLine, licences: LicenseFactory) -> Component:
    """One product: who publishes it, its licence, and its TIE Break figures as properties.
    Values of the properties are the vocabularies' ids (non-eu, critical…), for machines."""
    licence = line.licence
    return Component(
        type=ComponentType.APPLICATION,
        name=line.product_name,
        version=line.versions[0] if line.versions else None,
        bom_ref=line.product,
        supplier=OrganizationalEntity(name=line.vendor_name),
        publisher=line.vendor_name,
        licenses=(
            [licences.make_from_string(licence)]
            if licence and licence.strip() and licence != "proprietary"
            else None
        ),
        properties=_properties(
            [
                ("tiebreak:category", line.category),
                ("tiebreak:domain", line.domain),
                ("tiebreak:jurisdiction", line.jurisdiction),
                ("tiebreak:controller", _controller(line)),
                ("tiebreak:controller-country", line.controller_country or line.vendor_country),
                ("tiebreak:open-source", _YES_NO[line.open_source][1]),
                ("tiebreak:usage", line.usage),
                ("tiebreak:criticality", line.criticality),
                ("tiebreak:replaceability", line.replaceability),
                ("tiebreak:score", _amount(line.score)),
                ("tiebreak:annual-cost-validated-eur", _amount(line.validated_eur)),
                ("tiebreak:annual-cost-estimated-eur", _amount(line.estimated_eur)),
                ("tiebreak:estimate-status", line.estimate.status),
                ("tiebreak:estimate", line.estimate.explain()),
                ("tiebreak:alternatives", ", ".join(line.alternative_names) or None),
                ("tiebreak:evidence-count", str(line.evidence)),
                ("tiebreak:locations", str(len(line.loci))),
            ]
        ),
    )


def inventory_cyclonedx(header: InventoryHeader, metrics: Metrics) -> bytes:
    """The inventory as a CycloneDX 1.6 JSON BOM (UTF-8), the same for the same input.

    Modelling (CycloneDX has no type for "an organisation's information system"):
    - `metadata.component` is the organisation's information system, a component of type
      `platform` (the environment the products run in, as in an operations BOM) named after the
      organisation, bom-ref `tiebreak:organisation` (product ids are kebab-case: no clash);
    - `metadata.supplier` is the organisation (it runs that system); `metadata.tools` is
      tiebreak; `metadata.timestamp` the validation date, else the scan date; `serialNumber`
      urn:uuid:<inventory id>; SIREN, dates, validator and indexes are `tiebreak:` properties;
    - each product line is a component of type `application`, bom-ref = product id, supplier
      and publisher = vendor, licence = the catalog's SPDX id or expression (none when
      proprietary), its TIE Break figures as `tiebreak:` properties; the system depends on
      every product (`dependencies`).
    The library orders components itself (type, name, version, bom-ref): deterministic.
    """
    organisation = OrganizationalEntity(name=header.organisation)
    root = Component(
        type=ComponentType.PLATFORM,
        name=header.organisation,
        bom_ref="tiebreak:organisation",
        supplier=organisation,
        description="Système d'information : logiciels et services de l'inventaire validé",
    )
    licences = LicenseFactory()
    components = [
        _component(line, licences)
        for line in sorted(metrics.products, key=lambda line: line.product)
    ]
    moment = header.validated_at or header.scanned_at
    metadata = BomMetaData(
        timestamp=_utc(moment),
        component=root,
        supplier=organisation,
        tools=ToolRepository(
            components=[
                Component(
                    type=ComponentType.APPLICATION,
                    name="tiebreak",
                    version=_tiebreak_version(),
                    bom_ref="tiebreak:tool",
                )
            ]
        ),
        properties=_properties(
            [
                ("tiebreak:siren", header.siren),
                ("tiebreak:organisation-type", header.organisation_type),
                ("tiebreak:inventory-id", header.inventory_id),
                ("tiebreak:scanned-at", _utc(header.scanned_at).isoformat()),
                (
                    "tiebreak:validated-at",
                    _utc(header.validated_at).isoformat() if header.validated_at else None,
                ),
                ("tiebreak:validated-by", header.validated_by),
                *(
                    (f"tiebreak:index-{key}", _amount(metrics.index.get(key)))
                    for key in (*CATEGORIES, "overall")
                ),
                ("tiebreak:annual-cost-validated-eur", _amount(metrics.total_validated)),
                ("tiebreak:annual-cost-estimated-eur", _amount(metrics.total_estimated)),
                ("tiebreak:signature", metrics.signature or None),
            ]
        ),
    )
    bom = Bom(serial_number=_serial(header.inventory_id), metadata=metadata, components=components)
    bom.register_dependency(root, components)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    return text.encode("utf-8")


# --- Territory ------------------------------------------------------------------------------


def territory_table(
    rows: Sequence[Mapping[str, Any]], english: bool = False
) -> tuple[list[str], list[list[TerritoryValue]]]:
    """A territory's organisations as a table (`TERRITORY_COLUMNS`), from the rows of
    `server.store.metrics.territory_organisations` as dicts; an organisation without a
    validated inventory has empty figures and the status « aucun inventaire validé »."""
    headers, table = _territory_rows(rows, english)
    return headers, _plain(table)


def _territory_rows(
    rows: Sequence[Mapping[str, Any]], english: bool
) -> tuple[list[str], list[list[_Cell]]]:
    headers = [_pick(column, english) for column in TERRITORY_COLUMNS]
    table: list[list[_Cell]] = []
    for row in rows:
        validated = row.get("inventory_id") is not None
        kind = row.get("type")
        table.append(
            [
                str(row.get("name") or ""),
                str(row["siren"]) if row.get("siren") is not None else None,
                _label("org_type", str(kind), english) if kind is not None else None,
                _moment(row.get("scanned_at")),
                _number(row.get("index_overall")),
                _number(row.get("index_infrastructure")),
                _number(row.get("index_poste")),
                _number(row.get("index_logiciel")),
                _count(row.get("findings")),
                _count(row.get("non_eu_findings")),
                _euros(row.get("euros_validated")),
                _euros(row.get("euros_estimated")),
                _euros(row.get("non_eu_validated")),
                _euros(row.get("non_eu_estimated")),
                _pick(("inventaire validé", "validated inventory"), english)
                if validated
                else _pick(NO_VALIDATED_INVENTORY, english),
            ]
        )
    return headers, table


def sheet_name(title: str, fallback: str = "Territoire") -> str:
    """A sheet name from a title: without the characters spreadsheets refuse ([]*?:/\\' and
    controls), at most 31 characters, never empty."""
    name = _SHEET_NAME_FORBIDDEN.sub(" ", _clean(title))
    name = " ".join(name.split())[:_SHEET_NAME_MAX].strip()
    return name or fallback


def territory_csv(title: str, rows: Sequence[Mapping[str, Any]], english: bool = False) -> bytes:
    """The territory table as CSV, like `inventory_csv`. `title` is not written: the file is a
    plain table (the caller names the file after it)."""
    del title
    headers, table = _territory_rows(rows, english)
    return _csv(headers, table, english)


def territory_ods(title: str, rows: Sequence[Mapping[str, Any]], english: bool = False) -> bytes:
    """The territory table as an OpenDocument spreadsheet, one sheet named after `title`."""
    headers, table = _territory_rows(rows, english)
    name = sheet_name(title, "Territory" if english else "Territoire")
    return _ods([_Sheet(name, [headers, *table])], english)
