"""`tiebreak catalog`: list, show, check and explain the fingerprint catalog; link it to the SILL;
read the providers' published IP ranges (`update-ranges`) and show them (`ranges`).

Exit codes: 0 fine, 1 examples fail (`check`) or a ranges file was refused (`update-ranges`), 2 the
catalog or the input is malformed.
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
    check.add_argument(
        "--corpus",
        nargs="?",
        const="",
        metavar="DOSSIER",
        help=t(
            "mesurer rappel et faux positifs sur un corpus de noms réels "
            "(défaut : corpus livré, fingerprints/corpus)",
            "measure recall and false positives on a corpus of real-world names "
            "(default: the shipped corpus, fingerprints/corpus)",
        ),
    )
    check.add_argument(
        "--min-recall",
        type=float,
        metavar="PART",
        help=t(
            "avec --corpus : code 1 si le rappel total est sous ce seuil (0.95 par exemple)",
            "with --corpus: exit 1 when the total recall is below this threshold (e.g. 0.95)",
        ),
    )
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

    _register_ranges(actions)


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
    if args.corpus is None:
        if args.min_recall is not None:
            error(t("--min-recall demande --corpus", "--min-recall needs --corpus"))
            return EXIT_CONFIG
        return 0
    from agent.commands.corpus import check_corpus

    return check_corpus(catalog, Path(args.corpus) if args.corpus else None, args.min_recall)


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
        in_range = engine.range_evidence(observation.channel, observation.value, hits)
        if not hits and in_range is None:
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
        if in_range is not None:
            product_id, _, hit = in_range
            print(
                f"  → {product_id} ({catalog.vendor(product_id).name}) : "
                f"{t('plages', 'ranges')} {hit.provider} {shown(hit.service)} "
                f"{shown(hit.region)} [strong]"
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


# -- provider IP ranges (docs/ranges.md) -------------------------------------------------------


def _register_ranges(actions: Any) -> None:
    """`update-ranges` and `ranges`."""
    from fingerprints.ranges import NO_OFFICIAL_FILE, PROVIDERS

    update = actions.add_parser(
        "update-ranges",
        help=t(
            "lire les plages IP publiées par les fournisseurs (AWS, Azure, Google…)",
            "read the IP ranges the providers publish (AWS, Azure, Google…)",
        ),
        description=t(
            "Lit le fichier officiel des plages IP d'un fournisseur (depuis une adresse https:// "
            "ou un fichier local), le vérifie et remplace atomiquement les plages de ce "
            "fournisseur dans le dossier des plages ; un fichier endommagé est refusé et les "
            "plages en place sont gardées. Codes de sortie : 0 tout est à jour, 1 un fichier au "
            "moins a été refusé, 2 erreur d'usage.",
            "Reads a provider's official IP ranges file (from an https:// address or a local "
            "file), checks it and atomically replaces that provider's ranges in the ranges "
            "folder; a damaged file is refused and the ranges in place are kept. Exit codes: 0 "
            "all up to date, 1 at least one file refused, 2 usage error.",
        ),
    )
    update.add_argument(
        "--provider",
        choices=sorted([*PROVIDERS, *NO_OFFICIAL_FILE]),
        help=t(
            "fournisseur (deviné depuis le nom du fichier sinon)",
            "provider (else guessed from the file name)",
        ),
    )
    update.add_argument(
        "--file",
        action="append",
        type=Path,
        default=[],
        metavar="FICHIER",
        help=t(
            "fichier publié, copié localement (répétable pour Cloudflare : ips-v4 et ips-v6)",
            "published file, copied locally (repeatable for Cloudflare: ips-v4 and ips-v6)",
        ),
    )
    update.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="URL",
        help=t(
            "adresse https:// du fichier publié (répétable pour Cloudflare)",
            "https:// address of the published file (repeatable for Cloudflare)",
        ),
    )
    update.add_argument(
        "--all-from",
        type=Path,
        metavar="DOSSIER",
        help=t(
            "lire tous les fichiers publiés reconnus dans ce dossier et ses sous-dossiers",
            "read every recognised published file in this folder and its subfolders",
        ),
    )
    update.add_argument(
        "--output",
        type=Path,
        metavar="DOSSIER",
        help=t(
            "dossier des plages (défaut : $TIEBREAK_RANGES, /var/lib/tiebreak/ranges pour root, "
            "sinon ~/.local/state/tiebreak/ranges)",
            "ranges folder (default: $TIEBREAK_RANGES, /var/lib/tiebreak/ranges for root, "
            "else ~/.local/state/tiebreak/ranges)",
        ),
    )
    update.add_argument(
        "--published",
        metavar="AAAA-MM-JJ",
        help=t(
            "date de publication, pour un fichier qui n'en porte pas (Azure, Cloudflare, Fastly)",
            "publication date, for a file that carries none (Azure, Cloudflare, Fastly)",
        ),
    )
    update.add_argument(
        "--origin",
        metavar="TEXTE",
        help=t(
            "provenance à consigner (miroir, commit) quand le fichier n'est pas pris à la source",
            "provenance to record (mirror, commit) when the file does not come from the source",
        ),
    )
    update.add_argument(
        "--force",
        action="store_true",
        help=t(
            "accepter un fichier plus ancien ou bien plus petit que les plages en place "
            "(jamais un fichier endommagé)",
            "accept a file older or much smaller than the ranges in place (never a damaged one)",
        ),
    )
    update.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDES",
        help=t("délai par téléchargement", "timeout per download"),
    )
    update.set_defaults(handler=_update_ranges)

    show = actions.add_parser(
        "ranges",
        help=t(
            "montrer les plages IP des fournisseurs en usage, chercher des adresses",
            "show the providers' IP ranges in use, look addresses up",
        ),
    )
    show.add_argument(
        "addresses",
        nargs="*",
        metavar="ADRESSE",
        help=t("adresses à chercher", "addresses to look up"),
    )
    show.add_argument(
        "--ranges-dir",
        type=Path,
        metavar="DOSSIER",
        help=t(
            "dossier des plages (défaut : celui des analyses)",
            "ranges folder (default: the one scans use)",
        ),
    )
    show.set_defaults(handler=_show_ranges)


def _date_argument(text: str | None) -> Any:
    import datetime

    if text is None:
        return None
    return datetime.date.fromisoformat(text)


def _update_ranges(args: argparse.Namespace) -> int:
    import datetime

    from agent.cli import EXIT_CONFIG, EXIT_PARTIAL, error
    from fingerprints.ranges import NO_OFFICIAL_FILE, PROVIDERS, discover, ranges_directory

    try:
        published = _date_argument(args.published)
    except ValueError:
        error(t("--published : date AAAA-MM-JJ attendue", "--published: expected YYYY-MM-DD"))
        return EXIT_CONFIG
    if args.provider in NO_OFFICIAL_FILE:
        error(f"{args.provider}: {NO_OFFICIAL_FILE[args.provider]}")
        return EXIT_CONFIG
    if args.timeout <= 0:
        error(t("--timeout : nombre positif attendu", "--timeout: expected a positive number"))
        return EXIT_CONFIG
    # One job per provider: (provider, [(source name, path or URL, is URL)]).
    jobs: list[tuple[str, list[tuple[str, str, bool]]]] = []
    if args.all_from is not None:
        if args.provider or args.file or args.url or args.published or args.origin:
            error(
                t(
                    "--all-from s'emploie sans --provider, --file, --url, --published ni --origin",
                    "--all-from takes no --provider, --file, --url, --published nor --origin",
                )
            )
            return EXIT_CONFIG
        if not args.all_from.is_dir():
            error(t(f"{args.all_from} : pas un dossier", f"{args.all_from}: not a folder"))
            return EXIT_CONFIG
        found = discover(args.all_from)
        if not found:
            error(
                t(
                    f"{args.all_from} : aucun fichier publié reconnu (voir docs/ranges.md)",
                    f"{args.all_from}: no recognised published file (see docs/ranges.md)",
                )
            )
            return EXIT_CONFIG
        for provider in PROVIDERS:
            if provider in found:
                jobs.append(
                    (
                        provider,
                        [
                            (path.relative_to(args.all_from).as_posix(), str(path), False)
                            for path in found[provider]
                        ],
                    )
                )
    else:
        if not args.file and not args.url:
            error(
                t(
                    "donnez --file, --url ou --all-from (voir docs/ranges.md)",
                    "give --file, --url or --all-from (see docs/ranges.md)",
                )
            )
            return EXIT_CONFIG
        sources = [(path.name, str(path), False) for path in args.file]
        sources += [(url, url, True) for url in args.url]
        guessed: str | None = args.provider or _guess_provider([name for name, _, _ in sources])
        if guessed is None:
            error(
                t(
                    "fournisseur inconnu d'après le nom du fichier : donnez --provider",
                    "provider unknown from the file name: give --provider",
                )
            )
            return EXIT_CONFIG
        if len(sources) > 1 and not PROVIDERS[guessed].multiple:
            error(
                t(
                    f"{guessed} : un seul fichier ou une seule adresse",
                    f"{guessed}: a single file or address",
                )
            )
            return EXIT_CONFIG
        for path in args.file:
            if not path.is_file():
                error(t(f"{path} : fichier introuvable", f"{path}: no such file"))
                return EXIT_CONFIG
        jobs.append((guessed, sources))
    output: Path = args.output or ranges_directory()
    try:
        output.mkdir(parents=True, exist_ok=True, mode=0o755)
    except OSError as exc:
        error(f"{output}: {exc.strerror or exc}")
        return EXIT_CONFIG
    now = datetime.datetime.now(datetime.UTC)
    refused = 0
    for provider, job_sources in jobs:
        if not _update_provider(provider, job_sources, output, published, args, now):
            refused += 1
    if args.all_from is not None:
        missing = [provider for provider in PROVIDERS if provider not in {p for p, _ in jobs}]
        if missing:
            print(
                t(
                    f"sans fichier dans {args.all_from} (plages en place gardées) : "
                    f"{', '.join(missing)}",
                    f"no file in {args.all_from} (ranges in place kept): {', '.join(missing)}",
                )
            )
        print(
            t(
                f"sans fichier officiel lisible par machine : {', '.join(NO_OFFICIAL_FILE)}",
                f"no official machine-readable file: {', '.join(NO_OFFICIAL_FILE)}",
            )
        )
    return EXIT_PARTIAL if refused else 0


def _guess_provider(names: list[str]) -> str | None:
    from urllib.parse import urlsplit

    from fingerprints.ranges import provider_for_name

    guesses = set()
    for name in names:
        base = urlsplit(name).path.rstrip("/").rsplit("/", 1)[-1] if "://" in name else name
        guesses.add(provider_for_name(base))
    return guesses.pop() if len(guesses) == 1 else None


def _update_provider(
    provider: str,
    sources: list[tuple[str, str, bool]],
    output: Path,
    published: Any,
    args: argparse.Namespace,
    now: Any,
) -> bool:
    """Read, check and write one provider's ranges; False (after saying why) when refused."""
    from agent.atomic import write_atomically
    from agent.cli import error, warn
    from fingerprints.ranges import (
        RangesError,
        build,
        check_replacement,
        download,
        encode,
        file_name,
        read_file,
    )

    kept = t("plages en place gardées", "ranges in place kept")
    contents: list[tuple[str, bytes]] = []
    for name, where, is_url in sources:
        try:
            data = download(where, timeout=args.timeout) if is_url else Path(where).read_bytes()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            error(f"{t('refusé', 'refused')}: {provider}: {shown(name)}: {reason} ({kept})")
            return False
        contents.append((name, data))
    target = output / file_name(provider)
    try:
        ranges = build(provider, contents, retrieved=now, published=published, origin=args.origin)
        previous = None
        if target.exists():
            try:
                previous = read_file(target, provider)
            except RangesError as exc:
                warn(
                    t(
                        f"plages en place illisibles, remplacées : {exc}",
                        f"unreadable ranges in place, replaced: {exc}",
                    )
                )
        check_replacement(ranges, previous, force=args.force)
    except RangesError as exc:
        error(f"{t('refusé', 'refused')}: {shown(str(exc), 600)} ({kept})")
        return False
    try:
        write_atomically(target, encode(ranges), mode=0o644)
    except OSError as exc:
        error(f"{target}: {exc.strerror or exc} ({kept})")
        return False
    counts = ranges.counts()
    when = ranges.published
    dated = t(f"daté {when}", f"dated {when}") if when else t("non daté", "undated")
    version = f", version {ranges.version}" if ranges.version else ""
    print(
        t(
            f"{provider} : {shown(', '.join(name for name, _ in contents))} → {target} : "
            f"{counts['ipv4']} réseaux IPv4, {counts['ipv6']} IPv6 "
            f"({ranges.source_entries} entrées publiées), {dated}{version}",
            f"{provider}: {shown(', '.join(name for name, _ in contents))} → {target}: "
            f"{counts['ipv4']} IPv4 networks, {counts['ipv6']} IPv6 "
            f"({ranges.source_entries} published entries), {dated}{version}",
        )
    )
    return True


def _show_ranges(args: argparse.Namespace) -> int:
    from fingerprints.catalog import default_catalog
    from fingerprints.ranges import PROVIDERS, SNAPSHOT_DIR, load_index, ranges_directory

    directory = args.ranges_dir or ranges_directory()
    index = load_index(directory)
    for problem in index.problems:
        print(f"{t('ignoré', 'ignored')}: {problem}", file=sys.stderr)
    print(t(f"dossier des plages : {directory}", f"ranges folder: {directory}"))
    for ranges in index.files.values():
        counts = ranges.counts()
        where = (
            t("instantané livré", "shipped snapshot")
            if ranges.path and Path(ranges.path).parent.resolve() == SNAPSHOT_DIR.resolve()
            else ranges.path
        )
        print(
            f"  {ranges.provider:<16} {counts['ipv4']:>6} IPv4 {counts['ipv6']:>6} IPv6  "
            f"{t('publié', 'published')} {ranges.published or '-'}  "
            f"{t('lu', 'retrieved')} {ranges.retrieved}  ({where})"
        )
        for info in ranges.sources:
            print(f"      {shown(info.name)} sha256 {info.sha256[:16]}…")
    products = default_catalog().products
    for address in args.addresses:
        located = index.locate(address.strip())
        if located is None:
            print(f"{shown(address)}: {t('dans aucune plage', 'in no range')}")
            continue
        hit, network = located
        provider = PROVIDERS[hit.provider]
        product = provider.product_for(hit.service)
        if product not in products:
            product = provider.product if provider.product in products else None
        print(
            f"{shown(address)}: {hit.provider} {hit.service or '-'} {hit.region or '-'} "
            f"({network}) → {product or t('aucun produit du catalogue', 'no catalog product')}"
        )
    return 0
