"""`tiebreak catalog`: list, show, check and explain the fingerprint catalog; link it to the SILL.

Exit codes: 0 fine, 1 examples fail (`check`), 2 the catalog or the input is malformed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.i18n import t

if TYPE_CHECKING:
    from fingerprints.catalog import Catalog
    from fingerprints.engine import Engine
    from fingerprints.schema import Price


def register(commands: Any) -> None:
    """Add the `catalog` command group."""
    catalog = commands.add_parser(
        "catalog",
        help=t("consulter et vérifier le catalogue d'empreintes", "browse and check the catalog"),
        description=t(
            "Catalogue d'empreintes : produits, fournisseurs, juridictions et correspondances. "
            "Codes de sortie : 0 correct, 1 exemples en échec, 2 catalogue ou entrée invalide.",
            "Fingerprint catalog: products, vendors, jurisdictions and matchers. "
            "Exit codes: 0 fine, 1 failing examples, 2 malformed catalog or input.",
        ),
    )
    actions = catalog.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help=t("lister les produits", "list the products"))
    listing.add_argument("--format", choices=("table", "json"), default="table")
    _dir_option(listing)
    listing.set_defaults(handler=_list)

    show = actions.add_parser(
        "show", help=t("détailler un produit ou un fournisseur", "show a product or a vendor")
    )
    show.add_argument("id", metavar="ID")
    _dir_option(show)
    show.set_defaults(handler=_show)

    check = actions.add_parser(
        "check",
        help=t("vérifier schéma, références et exemples", "check schema, references and examples"),
    )
    _dir_option(check)
    check.set_defaults(handler=_check)

    explain = actions.add_parser(
        "explain",
        help=t(
            "expliquer quelles correspondances reconnaissent des observations",
            "explain which matchers recognise observations",
        ),
    )
    explain.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FICHIER|-",
        help=t(
            "observations en JSON (liste, ou inventaire) ; « - » : entrée standard",
            "observations as JSON (a list, or an inventory); '-': standard input",
        ),
    )
    _dir_option(explain)
    explain.set_defaults(handler=_explain)

    sill = actions.add_parser(
        "import-sill",
        help=t(
            "rapprocher le catalogue du SILL (fichier JSON)",
            "link the catalog with the SILL (JSON file)",
        ),
    )
    sill.add_argument("file", type=Path, metavar="FICHIER")
    _dir_option(sill)
    sill.set_defaults(handler=_import_sill)


def _dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        help=t(
            "dossier de catalogue (défaut : catalogue livré)",
            "catalog directory (default: the shipped catalog)",
        ),
    )


def _load(args: argparse.Namespace) -> Catalog | None:
    """The catalog, or None after printing every problem."""
    from agent.cli import error
    from fingerprints.catalog import CatalogError, load_catalog

    try:
        return load_catalog(args.dir)
    except CatalogError as exc:
        error(t("catalogue invalide :", "malformed catalog:"))
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def shown(text: str, limit: int = 200) -> str:
    """A value from outside, safe to print: control characters escaped, long values cut."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)


_UNITS = {
    "user": ("utilisateur", "user"),
    "device": ("appareil", "device"),
    "server": ("serveur", "server"),
    "organisation": ("organisation", "organisation"),
}


def price_lines(price: Price) -> list[str]:
    """The reference price, or why there is none, then its source, date and address."""
    if price.eur_per_year is None or price.unit is None:
        what = t(f"non estimable : {price.not_estimable}", f"not estimable: {price.not_estimable}")
    else:
        unit = t(*_UNITS[price.unit])
        amount = t(
            f"{price.eur_per_year:.2f}".replace(".", ",") + " €", f"€{price.eur_per_year:.2f}"
        )
        what = t(f"{amount} HT par {unit} et par an", f"{amount} excl. VAT per {unit} per year")
        if price.offer:
            what += f" ({price.offer})"
    lines = [f"{t('prix de référence', 'reference price')}: {what}"]
    lines.append(f"    source ({price.date.isoformat()}): {price.source}")
    if price.url:
        lines.append(f"    url: {price.url}")
    return lines


def _list(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_CONFIG
    from fingerprints.jurisdiction import resolve

    catalog = _load(args)
    if catalog is None:
        return EXIT_CONFIG
    rows = []
    for product in sorted(catalog.products.values(), key=lambda p: p.id):
        vendor = catalog.vendor(product.id)
        rows.append(
            {
                "id": product.id,
                "name": product.name,
                "vendor": vendor.id,
                "vendor_name": vendor.name,
                "vendor_country": vendor.country,
                "jurisdiction": resolve(catalog, vendor.id).jurisdiction.value,
                "category": product.category.value,
                "domain": product.domain,
                "open_source": product.open_source,
            }
        )
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        print(
            f"{row['id']:<36} {row['vendor']:<28} {row['vendor_country'] or '??':<3}"
            f"{row['jurisdiction']:<13} {row['category']:<17} {row['domain']}"
        )
    print(
        t(
            f"{len(rows)} produits, {len(catalog.vendors)} fournisseurs",
            f"{len(rows)} products, {len(catalog.vendors)} vendors",
        )
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_CONFIG, error
    from fingerprints.catalog import display_path
    from fingerprints.index import label
    from fingerprints.jurisdiction import resolve

    catalog = _load(args)
    if catalog is None:
        return EXIT_CONFIG
    product = catalog.products.get(args.id)
    vendor = catalog.vendors.get(args.id)
    if product is None and vendor is None:
        error(t(f"identifiant inconnu : {args.id}", f"unknown id: {args.id}"))
        return EXIT_CONFIG
    if product is not None:
        owner = catalog.vendor(product.id)
        control = resolve(catalog, owner.id)
        openness = (
            t("libre", "open source") if product.open_source else t("propriétaire", "proprietary")
        )
        print(f"{product.name} ({product.id}) — {display_path(catalog.files[owner.id])}")
        print(f"  {t('fournisseur', 'vendor')}: {owner.name} ({owner.id}, {owner.country})")
        print(
            f"  {t('juridiction', 'jurisdiction')}: {control.jurisdiction.value} ({control.reason})"
        )
        if control.exposures:
            print(f"  {t('expositions', 'exposures')}: {', '.join(control.exposures)}")
        print(f"  {t('catégorie', 'category')}: {product.category.value} / {product.domain}")
        print(
            f"  licence: {product.licence} ({openness}), "
            f"{product.deployment}, {t('criticité', 'criticality')} {product.criticality.value}, "
            f"{t('remplaçabilité', 'replaceability')} {product.replaceability}"
        )
        for key in ("cpe", "sill", "wikidata"):
            if getattr(product, key):
                print(f"  {key}: {getattr(product, key)}")
        if product.alternatives:
            print(f"  alternatives: {', '.join(product.alternatives)}")
        if product.implies:
            print(f"  {t('implique', 'implies')}: {', '.join(product.implies)}")
        if product.price is not None:
            for line in price_lines(product.price):
                print(f"  {line}")
        for number, matcher in enumerate(product.matchers):
            print(f"  matchers[{number}] {label(matcher)} ({matcher.confidence.value})")
            print(f"      match: {', '.join(map(repr, matcher.match))}")
            print(f"      no_match: {', '.join(map(repr, matcher.no_match))}")
    if vendor is not None:
        control = resolve(catalog, vendor.id)
        print(f"{vendor.name} ({vendor.id}) — {display_path(catalog.files[vendor.id])}")
        print(f"  {t('raison sociale', 'legal name')}: {vendor.legal_name}")
        print(
            f"  {t('juridiction', 'jurisdiction')}: {control.jurisdiction.value} ({control.reason})"
        )
        for fact, note in vendor.sources.items():
            print(f"  source {fact}: {note}")
        owned = [p for p, v in catalog.vendor_of.items() if v == vendor.id]
        print(f"  {t('produits', 'products')}: {', '.join(owned) or '-'}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_CONFIG, EXIT_PARTIAL, error
    from fingerprints.catalog import CatalogError
    from fingerprints.index import MatchIndex, check_examples
    from fingerprints.scoring import load_scoring

    catalog = _load(args)
    if catalog is None:
        return EXIT_CONFIG
    try:
        load_scoring()
    except CatalogError as exc:
        error("\n".join(exc.problems))
        return EXIT_CONFIG
    index = MatchIndex.from_catalog(catalog)
    problems = check_examples(catalog, index)
    if problems:
        error(t("exemples en échec :", "failing examples:"))
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_PARTIAL
    examples = sum(len(r.matcher.match) + len(r.matcher.no_match) for r in index.refs)
    print(
        t(
            f"catalogue valide : {len(catalog.vendors)} fournisseurs, {len(catalog.products)} "
            f"produits, {len(index.refs)} correspondances, {examples} exemples vérifiés",
            f"catalog valid: {len(catalog.vendors)} vendors, {len(catalog.products)} products, "
            f"{len(index.refs)} matchers, {examples} examples checked",
        )
    )
    return 0


def _read_observations(source: str) -> list[Any]:
    """Observations from a JSON list or an inventory; ValueError naming what is wrong."""
    from pydantic import ValidationError

    from inventory import Observation

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{source}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("observations"), list):
        data = data["observations"]
    if not isinstance(data, list):
        raise ValueError(
            t(
                f"{source} : liste d'observations ou inventaire attendu",
                f"{source}: expected a list of observations or an inventory",
            )
        )
    observations = []
    for number, item in enumerate(data):
        try:
            if isinstance(item, dict) and "id" not in item:
                observations.append(
                    Observation.make(
                        str(item.get("probe", "explain")),
                        str(item.get("channel", "")),
                        str(item.get("locus", "")),
                        str(item.get("value", "")),
                        item.get("attributes"),
                    )
                )
            else:
                observations.append(Observation.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise ValueError(f"{source}: [{number}].{where}: {first['msg']}") from None
    return observations


def _explain(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_CONFIG, error
    from fingerprints.catalog import CatalogError
    from fingerprints.engine import Engine

    catalog = _load(args)
    if catalog is None:
        return EXIT_CONFIG
    try:
        observations = _read_observations(args.file)
        engine: Engine = Engine(catalog)
    except (ValueError, CatalogError) as exc:
        error(str(exc))
        return EXIT_CONFIG
    unmatched = []
    for observation in observations:
        hits = engine.index.lookup(observation.channel, observation.value)
        if not hits:
            unmatched.append(observation)
            continue
        print(
            f"{observation.id} {observation.channel} {shown(observation.value)!s} "
            f"@ {shown(observation.locus)}"
        )
        for ref, captured in hits:
            product = catalog.products[ref.product]
            why = f" {captured}" if captured else ""
            print(
                f"  → {product.id} ({catalog.vendor(product.id).name}) : {ref.label} "
                f"[{ref.matcher.confidence.value}]{why}"
            )
    analysis = engine.analyse(observations)
    print(
        t(
            f"{len(analysis.findings)} constat(s) depuis {len(observations)} observation(s)",
            f"{len(analysis.findings)} finding(s) from {len(observations)} observation(s)",
        )
    )
    for finding in analysis.findings:
        implied = (
            f", {t('impliqué par', 'implied by')} {finding.implied_by}"
            if finding.implied_by
            else ""
        )
        print(
            f"  {finding.product} @ {shown(finding.locus)}: {finding.jurisdiction.value}, "
            f"{finding.confidence.value}, {finding.usage.value}{implied}"
        )
    for channel, count in sorted(analysis.unknown_channels.items()):
        print(
            t(
                f"canal inconnu de cette version : {shown(channel)} ({count} observation(s))",
                f"channel unknown to this version: {shown(channel)} ({count} observation(s))",
            )
        )
    if unmatched:
        print(t("non reconnues :", "unidentified:"))
        for observation in unmatched:
            print(
                f"  {observation.id} {observation.channel} {shown(observation.value)} "
                f"@ {shown(observation.locus)}"
            )
    return 0


def _import_sill(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_CONFIG, error
    from fingerprints.sill import SillError, link_report, read_sill

    catalog = _load(args)
    if catalog is None:
        return EXIT_CONFIG
    try:
        entries = read_sill(args.file)
    except SillError as exc:
        error(str(exc))
        return EXIT_CONFIG
    report = link_report(catalog, entries)
    print(
        t(
            f"SILL : {len(entries)} logiciels ; {len(report.linked)} reliés au catalogue",
            f"SILL: {len(entries)} software; {len(report.linked)} linked to the catalog",
        )
    )
    for product_id, entry in report.linked:
        print(f"  {product_id} → SILL {entry.id} {shown(entry.name)}")
    if report.doubtful:
        print(
            t(
                "liens douteux (Wikidata ou nom diffèrent) :",
                "doubtful links (Wikidata or name differ):",
            )
        )
        for product_id, entry in report.doubtful:
            print(f"  {product_id} → SILL {entry.id} {shown(entry.name)}")
    if report.unknown:
        print(t("identifiants SILL absents du fichier :", "SILL ids missing from the file:"))
        for product_id, sill_id in report.unknown:
            print(f"  {product_id} → SILL {sill_id}")
    if report.candidates:
        print(t("produits qui pourraient être reliés :", "products that could be linked:"))
        for product_id, entry, reason in report.candidates:
            print(f"  {product_id} → SILL {entry.id} {shown(entry.name)} ({reason})")
    return 0
