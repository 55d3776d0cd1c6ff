"""Measure the catalog on real-world names: recall and false positives per channel.

The corpus (`fingerprints/corpus/*.csv`, described in its README) lists names as products really
carry them, gathered from public sources, each row labelled with the catalog product it is (or
several, `a|b`, when the name alone cannot tell them apart: `winword.exe` is Office 2021 or
Microsoft 365 Apps), `none` for a look-alike that must not match, or `unlisted:<name>` for a
product the catalog does not list.
Each row becomes one observation at a locus of its own; the real engine (`fingerprints.engine`)
analyses them all, and each row's findings are compared with its label:

- a row of a listed product is *found* when a finding at its locus is that product (one of them),
  else a *miss*;
- a *false positive* is a look-alike with any finding, or a listed row whose findings name another
  catalog product and not its own; a vendor-level finding alone (a product id the catalog does not
  list, such as a finding drawn from a known publisher) on a listed row is a miss, not a false
  positive;
- an unlisted row with findings is reported apart (`unlisted_matched`), for a person to judge:
  either the catalog claims a product it should not, or the label is wrong.

Findings implied by another (`implies`) are not matches: they say what a product brings along.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue

from fingerprints.catalog import Catalog, default_catalog
from fingerprints.engine import Engine
from inventory import Observation
from inventory.channels import MATCHABLE

CORPUS_DIR = Path(__file__).with_name("corpus")
"""The corpus shipped with tiebreak."""

NONE = "none"
"""Label of a look-alike: a name no catalog product may claim."""

UNLISTED = "unlisted:"
"""Prefix of the label of a real product that the catalog does not list."""

FIXED_COLUMNS = ("channel", "value", "expected", "provenance")
"""Columns every corpus file has; any other non-empty column becomes an observation attribute."""

PROBE = "corpus"
"""The probe name the corpus observations carry."""


class CorpusError(ValueError):
    """A corpus file is malformed; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class Row:
    """One corpus entry: a name on a channel, its attributes, its label and where it was read."""

    file: str
    line: int
    channel: str
    value: str
    expected: str
    attributes: Mapping[str, JsonValue]
    provenance: str

    @property
    def listed(self) -> bool:
        """Whether the row names a catalog product (neither a look-alike nor unlisted)."""
        return self.expected != NONE and not self.expected.startswith(UNLISTED)

    @property
    def products(self) -> frozenset[str]:
        """The catalog products the row may be (empty for look-alikes and unlisted rows)."""
        return frozenset(self.expected.split("|")) if self.listed else frozenset()

    @property
    def where(self) -> str:
        """`file:line`, for messages."""
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class ChannelFigures:
    """What the evaluation measured on one channel."""

    rows: int = 0
    listed: int = 0
    found: int = 0
    lookalikes: int = 0
    unlisted: int = 0
    misses: list[Row] = field(default_factory=list)
    false_positives: list[tuple[Row, list[str]]] = field(default_factory=list)
    unlisted_matched: list[tuple[Row, list[str]]] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        """Share of listed rows found, None without listed rows."""
        return self.found / self.listed if self.listed else None

    def add(self, other: ChannelFigures) -> None:
        """Add another channel's figures to these (for totals)."""
        self.rows += other.rows
        self.listed += other.listed
        self.found += other.found
        self.lookalikes += other.lookalikes
        self.unlisted += other.unlisted
        self.misses.extend(other.misses)
        self.false_positives.extend(other.false_positives)
        self.unlisted_matched.extend(other.unlisted_matched)


@dataclass(slots=True)
class Evaluation:
    """Figures per channel, and their totals."""

    channels: dict[str, ChannelFigures]

    def total(self) -> ChannelFigures:
        """All channels together."""
        total = ChannelFigures()
        for figures in self.channels.values():
            total.add(figures)
        return total


def read_corpus(directory: Path | None = None, catalog: Catalog | None = None) -> list[Row]:
    """Every row of the `*.csv` files of `directory` (default: the shipped corpus), checked
    against the catalog; raises CorpusError naming the file and line of the first problem."""
    directory = CORPUS_DIR if directory is None else directory
    catalog = default_catalog() if catalog is None else catalog
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise CorpusError(f"{directory}: aucun fichier .csv / no .csv file")
    rows: list[Row] = []
    for path in files:
        rows.extend(read_file(path, catalog))
    return rows


def read_file(path: Path, catalog: Catalog) -> list[Row]:
    """The rows of one corpus file; raises CorpusError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: {exc}") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or any(column not in header for column in FIXED_COLUMNS):
        raise CorpusError(
            f"{path}:1: en-tête attendu avec / header expected with {', '.join(FIXED_COLUMNS)}"
        )
    rows = []
    for cells in reader:
        line = reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()) or cells[0].startswith("#"):
            continue
        if len(cells) != len(header):
            raise CorpusError(
                f"{path}:{line}: {len(cells)} colonnes au lieu de {len(header)} / "
                f"{len(cells)} columns instead of {len(header)}"
            )
        record = dict(zip(header, cells, strict=True))
        rows.append(_row(path, line, record, catalog))
    return rows


def _row(path: Path, line: int, record: dict[str, str], catalog: Catalog) -> Row:
    where = f"{path}:{line}"
    channel, value = record["channel"].strip(), record["value"]
    expected, provenance = record["expected"].strip(), record["provenance"].strip()
    if channel not in MATCHABLE:
        raise CorpusError(f"{where}: canal inconnu / unknown channel {channel!r}")
    if not value.strip():
        raise CorpusError(f"{where}: valeur vide / empty value")
    if not provenance:
        raise CorpusError(f"{where}: provenance manquante / missing provenance")
    if expected.startswith(UNLISTED):
        if not expected[len(UNLISTED) :].strip():
            raise CorpusError(f"{where}: nom manquant après / name missing after {UNLISTED!r}")
    elif expected != NONE:
        for product in expected.split("|"):
            if product not in catalog.products:
                raise CorpusError(
                    f"{where}: produit inconnu du catalogue / unknown product {product!r}"
                )
    attributes: dict[str, JsonValue] = {
        key: cell for key, cell in record.items() if key not in FIXED_COLUMNS and cell.strip()
    }
    return Row(path.name, line, channel, value, expected, attributes, provenance)


def evaluate(rows: Sequence[Row], engine: Engine) -> Evaluation:
    """Run the engine on one observation per row and compare its findings with the labels."""
    observations = [
        Observation.make(PROBE, row.channel, _locus(number), row.value, dict(row.attributes))
        for number, row in enumerate(rows)
    ]
    matched: dict[str, list[str]] = {}
    for finding in engine.analyse(observations).findings:
        if finding.implied_by is None:
            matched.setdefault(finding.locus, []).append(finding.product)
    channels: dict[str, ChannelFigures] = {}
    known = engine.catalog.products
    for number, row in enumerate(rows):
        figures = channels.setdefault(row.channel, ChannelFigures())
        products = sorted(matched.get(_locus(number), []))
        _count(figures, row, products, [p for p in products if p in known])
    return Evaluation(dict(sorted(channels.items())))


def _locus(number: int) -> str:
    return f"corpus-row-{number}"


def _count(
    figures: ChannelFigures, row: Row, products: list[str], catalog_products: list[str]
) -> None:
    figures.rows += 1
    if row.expected == NONE:
        figures.lookalikes += 1
        if products:
            figures.false_positives.append((row, products))
    elif not row.listed:
        figures.unlisted += 1
        if products:
            figures.unlisted_matched.append((row, products))
    else:
        figures.listed += 1
        if row.products.intersection(products):
            figures.found += 1
        else:
            figures.misses.append(row)
            if catalog_products:
                figures.false_positives.append((row, products))


def evaluate_corpus(directory: Path | None = None, catalog: Catalog | None = None) -> Evaluation:
    """Read the corpus and evaluate the catalog on it (default: shipped corpus and catalog)."""
    catalog = default_catalog() if catalog is None else catalog
    return evaluate(read_corpus(directory, catalog), Engine(catalog))


def misses_by_product(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Missed rows grouped by the product they should have matched, for completing the catalog."""
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.expected, []).append(row)
    return dict(sorted(grouped.items()))
