"""Options and handler of `tiebreak scan --external`: DNS-only scans of many domains.

`agent/commands/scan.py` adds these options to `scan` and hands over when `--external` is given;
the work itself is in `agent.external`.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.commands import catalog_ready
from agent.i18n import t

if TYPE_CHECKING:
    from agent.external import ExternalSettings

DEFAULT_OUTPUT = Path("tiebreak-external")


def add_arguments(scan: argparse.ArgumentParser) -> None:
    """Add the external-mode options to the `scan` parser."""
    group = scan.add_argument_group(
        t("mode externe (DNS seul, pour une équipe centrale)", "external mode (DNS only)"),
        t(
            "Scanne par le DNS seul les domaines d'un fichier (un domaine par ligne, ou CSV : "
            "domaine, organisation, SIREN ; lignes vides et # ignorées) et écrit un inventaire "
            "par organisation dans --output (un dossier, défaut : tiebreak-external) et "
            "summary.csv. Un nouveau lancement reprend là où le précédent s'est arrêté. Le "
            "fichier de configuration est facultatif : seule sa section [dns] sert ; "
            "--nameserver/--port la remplacent ; sans l'un ni l'autre, le résolveur du système "
            "(/etc/resolv.conf).",
            "Scans the domains of a file through DNS only (one domain per line, or CSV: domain, "
            "organisation, SIREN; blank and # lines skipped) and writes one inventory per "
            "organisation into --output (a folder, default: tiebreak-external) and summary.csv. "
            "A rerun resumes where the last one stopped. The configuration file is optional: "
            "only its [dns] section is used; --nameserver/--port override it; with neither, the "
            "system resolver (/etc/resolv.conf).",
        ),
    )
    group.add_argument(
        "--external",
        action="store_true",
        help=t("activer le mode externe", "enable external mode"),
    )
    group.add_argument(
        "--domains",
        type=Path,
        metavar="FICHIER",
        help=t("fichier des domaines (obligatoire)", "domain file (required)"),
    )
    group.add_argument(
        "--concurrency",
        type=int,
        default=50,
        metavar="N",
        help=t("requêtes DNS simultanées (défaut : 50)", "DNS queries in flight (default: 50)"),
    )
    group.add_argument(
        "--nameserver",
        action="append",
        metavar="IP",
        help=t("résolveur à interroger (répétable)", "resolver to ask (repeatable)"),
    )
    group.add_argument(
        "--port", type=int, help=t("port du résolveur (défaut : 53)", "resolver port (default: 53)")
    )
    group.add_argument(
        "--force",
        action="store_true",
        help=t(
            "rescanner aussi les organisations déjà faites", "rescan organisations already done"
        ),
    )


def _settings(args: argparse.Namespace) -> tuple[ExternalSettings | None, list[str]]:
    """ExternalSettings from the options and the optional configuration, or the problems."""
    from agent.config import ConfigError, find_config, load_config
    from agent.external import ExternalSettings

    problems: list[str] = []
    nameservers: list[str] = []
    port, timeout, retries = 53, 2.0, 1
    selectors: tuple[str, ...] = ()
    try:
        path = find_config(args.config)
    except ConfigError:
        path = None  # the configuration is optional in external mode
    if path is not None:
        try:
            _path, config = load_config(path)
        except ConfigError as exc:
            return None, [str(exc)]
        nameservers = list(config.dns.nameservers)
        port, timeout, retries = config.dns.port, config.dns.timeout, config.dns.retries
        selectors = tuple(config.dns.dkim_selectors)
    for value in args.nameserver or []:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            problems.append(f"--nameserver: adresse IP invalide / invalid IP address {value!r}")
    nameservers = args.nameserver or nameservers
    port = args.port if args.port is not None else port
    if not 1 <= port <= 65535:
        problems.append(f"--port: {port} hors de / out of 1..65535")
    if args.concurrency < 1:
        problems.append(f"--concurrency: {args.concurrency} < 1")
    settings = ExternalSettings(
        nameservers=tuple(nameservers),
        port=port,
        timeout=timeout,
        retries=retries,
        concurrency=args.concurrency,
        **({"dkim_selectors": selectors} if selectors else {}),
    )
    return settings, problems


def run(args: argparse.Namespace) -> int:
    """Handler of `tiebreak scan --external`."""
    from agent.cli import EXIT_COMPLETE, EXIT_CONFIG, EXIT_PARTIAL, error
    from agent.external import read_domain_file, run_external

    if not args.external or args.domains is None:
        error(t("--external et --domains vont ensemble", "--external needs --domains"))
        return EXIT_CONFIG
    if getattr(args, "send", False) or args.probe:
        error(
            t(
                "--send et --probe ne s'appliquent pas au mode externe",
                "--send and --probe do not apply to external mode",
            )
        )
        return EXIT_CONFIG
    settings, problems = _settings(args)
    for problem in problems:
        error(problem)
    if problems or settings is None:
        return EXIT_CONFIG
    try:
        domains = read_domain_file(args.domains)
    except OSError as exc:
        error(f"{args.domains}: {t('illisible', 'unreadable')} ({exc.strerror})")
        return EXIT_CONFIG
    for problem in domains.problems:
        error(problem)
    if not domains.targets:
        error(t(f"{args.domains} : aucun domaine valide", f"{args.domains}: no valid domain"))
        return EXIT_CONFIG
    if not catalog_ready():
        return EXIT_CONFIG
    output: Path = args.output or DEFAULT_OUTPUT
    if output.exists() and not output.is_dir():
        error(t(f"{output} : n'est pas un dossier", f"{output}: not a directory"))
        return EXIT_CONFIG

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    show = console.is_terminal and not args.quiet
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
        transient=True,
    ) as bar:
        task = bar.add_task(t("domaines", "domains"), total=None)
        report = run_external(
            domains.targets,
            settings,
            output,
            force=args.force,
            progress=lambda _domain: bar.advance(task),
            plan_hook=lambda total: bar.update(task, total=total),
        )
    if report.unreachable:
        error(report.unreachable)
        return EXIT_CONFIG
    for failure in report.failed_domains:
        error(failure)
    if not args.quiet:
        print(
            t(
                f"{report.domains_scanned} domaines scannés, {len(report.written)} inventaires "
                f"écrits, {report.skipped} organisations déjà faites ; résumé : "
                f"{output / 'summary.csv'}",
                f"{report.domains_scanned} domains scanned, {len(report.written)} inventories "
                f"written, {report.skipped} organisations already done; summary: "
                f"{output / 'summary.csv'}",
            ),
            file=sys.stdout,
        )
    partial = bool(domains.problems or report.failed_domains)
    return EXIT_PARTIAL if partial else EXIT_COMPLETE
