"""Load the catalog files (`fingerprints/catalog/*.toml`) into one validated `Catalog`.

Loading checks each file against the schema, then the catalog as a whole: duplicate ids, references
to vendors or products that do not exist (parent, alternatives, implies), parent cycles, and a
vendor's `exposures` that the country rule of `fingerprints/jurisdiction.py` already derives from
its chain (listing them again file by file is how they drift apart). Every
problem is reported with the file, the entry (`products[3] (exchange-online).matchers[1]`) and the
key, all problems at once, in a `CatalogError`. The agent refuses to scan with such a catalog rather
than silently skip products.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fingerprints.schema import CatalogFile, Product, Vendor

CATALOG_DIR = Path(__file__).with_name("catalog")
"""The catalog shipped with tiebreak (package data)."""


def both(french: str, english: str) -> str:
    """French then English: the server shares the catalog and has no locale of its own."""
    return f"{french} / {english}"


class CatalogError(Exception):
    """The catalog is malformed; `problems` lists each one as `file: entry.key: message`."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, eq=False)
class Catalog:
    """All vendors and products, cross-checked; `files` tells where each vendor was defined."""

    vendors: Mapping[str, Vendor]
    products: Mapping[str, Product]
    vendor_of: Mapping[str, str] = field(repr=False)
    files: Mapping[str, Path] = field(repr=False)

    def vendor(self, product_id: str) -> Vendor:
        """The vendor of a product."""
        return self.vendors[self.vendor_of[product_id]]

    def chain(self, vendor_id: str) -> list[Vendor]:
        """The vendor, its parent, its grandparent… up to the ultimate parent."""
        chain = [self.vendors[vendor_id]]
        while chain[-1].parent is not None:
            chain.append(self.vendors[chain[-1].parent])
        return chain


def display_path(path: Path) -> str:
    """The path relative to the current directory when it is below it, for messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _entry(raw: Any, loc: Sequence[int | str]) -> str:
    """`products[3] (exchange-online).matchers[1].pattern` from a pydantic error location."""
    text = ""
    node = raw
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                text += f" ({node['id']})"
        else:
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(fichier)"


_MESSAGES = {
    "extra_forbidden": ("clé inconnue", "unknown key"),
    "missing": ("clé obligatoire absente", "missing required key"),
}


def _message(error: Mapping[str, Any]) -> str:
    french_english = _MESSAGES.get(str(error["type"]))
    if french_english is not None:
        return both(*french_english)
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse_file(path: Path) -> tuple[CatalogFile | None, list[str]]:
    """Read and validate one catalog file; problems are `file: entry.key: message` lines."""
    where = display_path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{where}: {both('lecture impossible', 'cannot read')}: {exc}"]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{where}: {both('TOML invalide', 'invalid TOML')}: {exc}"]
    try:
        parsed = CatalogFile.model_validate(raw)
    except ValidationError as exc:
        return None, [
            f"{where}: {_entry(raw, error['loc'])}: {_message(error)}" for error in exc.errors()
        ]
    if parsed.vendor.id != path.stem:
        return parsed, [
            f"{where}: vendor.id: "
            + both(
                f"le fichier doit s'appeler {parsed.vendor.id}.toml",
                f"the file must be named {parsed.vendor.id}.toml",
            )
        ]
    return parsed, []


def build_catalog(parsed: Iterable[tuple[Path, CatalogFile]]) -> Catalog:
    """Cross-check parsed files into a Catalog, or raise CatalogError listing every problem."""
    problems: list[str] = []
    vendors: dict[str, Vendor] = {}
    products: dict[str, Product] = {}
    vendor_of: dict[str, str] = {}
    files: dict[str, Path] = {}
    product_entry: dict[str, tuple[Path, int]] = {}
    for path, content in parsed:
        vendor = content.vendor
        if vendor.id in vendors:
            problems.append(
                f"{display_path(path)}: vendor.id: "
                + both(
                    f"fournisseur {vendor.id!r} déjà défini dans {display_path(files[vendor.id])}",
                    f"vendor {vendor.id!r} already defined in {display_path(files[vendor.id])}",
                )
            )
            continue
        vendors[vendor.id] = vendor
        files[vendor.id] = path
        for index, product in enumerate(content.products):
            if product.id in products:
                other = display_path(files[vendor_of[product.id]])
                problems.append(
                    f"{display_path(path)}: products[{index}] ({product.id}).id: "
                    + both(
                        f"produit déjà défini dans {other}",
                        f"product already defined in {other}",
                    )
                )
                continue
            products[product.id] = product
            vendor_of[product.id] = vendor.id
            product_entry[product.id] = (path, index)

    for vendor in vendors.values():
        where = display_path(files[vendor.id])
        if vendor.parent is not None and vendor.parent not in vendors:
            problems.append(
                f"{where}: vendor.parent: "
                + both(
                    f"fournisseur inconnu {vendor.parent!r}",
                    f"unknown vendor {vendor.parent!r}",
                )
            )
    cycles = _cycles(vendors, files)
    problems.extend(cycles)
    if not cycles:
        problems.extend(_redundant_exposures(vendors, files))

    for product_id, product in products.items():
        path, index = product_entry[product_id]
        for key in ("alternatives", "implies", "supersedes"):
            for reference in getattr(product, key):
                if reference not in products:
                    problems.append(
                        f"{display_path(path)}: products[{index}] ({product_id}).{key}: "
                        + both(
                            f"produit inconnu {reference!r}",
                            f"unknown product {reference!r}",
                        )
                    )
                elif reference == product_id:
                    problems.append(
                        f"{display_path(path)}: products[{index}] ({product_id}).{key}: "
                        + both("le produit se cite lui-même", "the product refers to itself")
                    )
    if problems:
        raise CatalogError(problems)
    return Catalog(vendors=vendors, products=products, vendor_of=vendor_of, files=files)


def _cycles(vendors: Mapping[str, Vendor], files: Mapping[str, Path]) -> list[str]:
    problems = []
    reported: set[str] = set()
    for start in vendors:
        seen: list[str] = []
        current: str | None = start
        while current is not None and current in vendors and current not in seen:
            seen.append(current)
            current = vendors[current].parent
        if current is not None and current in seen and current not in reported:
            cycle = seen[seen.index(current) :]
            reported.update(cycle)
            problems.append(
                f"{display_path(files[current])}: vendor.parent: "
                + both("cycle de parents", "parent cycle")
                + f" {' → '.join([*cycle, current])}"
            )
    return problems


def _redundant_exposures(vendors: Mapping[str, Vendor], files: Mapping[str, Path]) -> list[str]:
    """Exposures a file lists that its chain's countries already bring (one rule, not per file)."""
    from fingerprints.jurisdiction import derived_exposures  # it imports this module

    problems = []
    for vendor in vendors.values():
        if not vendor.exposures:
            continue
        chain = [vendor]
        while chain[-1].parent is not None and chain[-1].parent in vendors:
            chain.append(vendors[chain[-1].parent])
        redundant = sorted(set(vendor.exposures) & set(derived_exposures(chain)))
        if redundant:
            problems.append(
                f"{display_path(files[vendor.id])}: vendor.exposures: "
                + both(
                    f"{', '.join(redundant)} déjà déduit(s) des pays de la chaîne de contrôle "
                    "(fingerprints/jurisdiction.py) : retirez-les du fichier",
                    f"{', '.join(redundant)} already derived from the countries of the control "
                    "chain (fingerprints/jurisdiction.py): remove them from the file",
                )
            )
    return problems


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load every `*.toml` of `directory` (default: the shipped catalog); CatalogError if broken."""
    directory = directory or CATALOG_DIR
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise CatalogError(
            [
                f"{display_path(directory)}: "
                + both("aucun fichier de catalogue (*.toml)", "no catalog file (*.toml)")
            ]
        )
    problems: list[str] = []
    parsed: list[tuple[Path, CatalogFile]] = []
    for path in paths:
        content, file_problems = parse_file(path)
        problems.extend(file_problems)
        if content is not None and not file_problems:
            parsed.append((path, content))
    if problems:
        # References into a broken file would only add noise: fix the files first.
        raise CatalogError(problems)
    return build_catalog(parsed)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once per process (through the per-user cache)."""
    from fingerprints.cache import cached_catalog

    return cached_catalog(CATALOG_DIR, load_catalog)
