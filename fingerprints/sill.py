"""Link the catalog with the SILL (Socle interministériel de logiciels libres).

Two JSON shapes of the SILL are read: the sill-api export (`sill-softwares.json`: `_id`, `_name`,
`wikidataId`) and the code.gouv.fr export (`sill.json`: `id`, `i` for the name). A product links to
a SILL entry through its `sill` field; the report also lists doubtful links (Wikidata ids differ,
or, without them, neither name contains the other: probably a wrong id), ids the file does not
have, and products without a `sill` id whose Wikidata id or name matches an entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fingerprints.catalog import Catalog, display_path


class SillError(ValueError):
    """The SILL file cannot be read or has an unknown shape."""


@dataclass(frozen=True, slots=True)
class SillEntry:
    """One software of the SILL."""

    id: str
    name: str
    wikidata: str | None = None


@dataclass(slots=True)
class SillReport:
    """What links the catalog and the SILL, and what could."""

    linked: list[tuple[str, SillEntry]] = field(default_factory=list)
    doubtful: list[tuple[str, SillEntry]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    candidates: list[tuple[str, SillEntry, str]] = field(default_factory=list)


def _entry(item: Any) -> SillEntry | None:
    if not isinstance(item, dict):
        return None
    if "_id" in item and "_name" in item:
        wikidata = item.get("wikidataId")
        return SillEntry(
            str(item["_id"]), str(item["_name"]), wikidata if isinstance(wikidata, str) else None
        )
    if "id" in item and "i" in item:
        return SillEntry(str(item["id"]), str(item["i"]))
    return None


def read_sill(path: Path) -> list[SillEntry]:
    """Entries of a SILL JSON file, either shape; SillError naming the file otherwise."""
    where = display_path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SillError(f"{where}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("softwares", data.get("catalogue"))
    if not isinstance(data, list):
        raise SillError(f"{where}: liste de logiciels attendue / expected a list of software")
    entries = []
    for number, item in enumerate(data):
        entry = _entry(item)
        if entry is None:
            raise SillError(
                f"{where}: [{number}]: ni `_id`/`_name` ni `id`/`i` / neither `_id`/`_name` "
                "nor `id`/`i`"
            )
        entries.append(entry)
    return entries


def normalised(name: str) -> str:
    """Lower-case letters and digits only, for comparing names."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _same_software(name: str, product_id: str, wikidata: str | None, entry: SillEntry) -> bool:
    """Wikidata ids decide when both exist; else one name contains the other."""
    if wikidata is not None and entry.wikidata is not None:
        return wikidata == entry.wikidata
    sill_name = normalised(entry.name)
    return any(
        sill_name in candidate or candidate in sill_name
        for candidate in (normalised(name), normalised(product_id))
        if candidate and sill_name
    )


def link_report(catalog: Catalog, entries: list[SillEntry]) -> SillReport:
    """Which products link to which entries, and which could."""
    report = SillReport()
    by_id = {entry.id: entry for entry in entries}
    by_wikidata = {entry.wikidata: entry for entry in entries if entry.wikidata}
    by_name = {normalised(entry.name): entry for entry in entries}
    for product in sorted(catalog.products.values(), key=lambda p: p.id):
        if product.sill is not None:
            entry = by_id.get(product.sill)
            if entry is None:
                report.unknown.append((product.id, product.sill))
            elif _same_software(product.name, product.id, product.wikidata, entry):
                report.linked.append((product.id, entry))
            else:
                report.doubtful.append((product.id, entry))
            continue
        if product.wikidata is not None and product.wikidata in by_wikidata:
            report.candidates.append((product.id, by_wikidata[product.wikidata], "wikidata"))
            continue
        for key in (normalised(product.name), normalised(product.id)):
            if key in by_name:
                report.candidates.append((product.id, by_name[key], "nom / name"))
                break
    return report
