"""Options and handler of `tiebreak scan --external`: scans of many domains from outside.

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
    from agent.config import ServerConfig
    from agent.external import ExternalReport, ExternalSettings, SendReport, SendSettings, Target

DEFAULT_OUTPUT = Path("tiebreak-external")
LISTED = 10
"""Organisations or inventories named one by one in a message before `…`."""


def add_arguments(scan: argparse.ArgumentParser) -> None:
    """Add the external-mode options to the `scan` parser."""
    group = scan.add_argument_group(
        t(
            "mode externe (DNS et sites web, pour une équipe centrale)",
            "external mode (DNS and web sites, for a central team)",
        ),
        t(
            "Scanne de l'extérieur les domaines d'un fichier (un domaine par ligne, ou CSV : "
            "domaine, organisation, SIREN ; lignes vides et # ignorées) avec les sondes dns et "
            "http (celles qui existent ; --probe pour choisir) et écrit un inventaire par "
            "organisation dans --output (un dossier, défaut : tiebreak-external) et summary.csv. "
            "Un nouveau lancement reprend là où le précédent s'est arrêté. Le fichier de "
            "configuration est facultatif : seules ses sections [dns], [http] et [server] "
            "(--send) servent ; --nameserver/--port remplacent [dns] ; sans l'un ni l'autre, le "
            "résolveur "
            "du système (/etc/resolv.conf). Avec --send, chaque inventaire part avec le jeton de "
            "son organisation, lu dans le dossier --tokens.",
            "Scans the domains of a file from outside (one domain per line, or CSV: domain, "
            "organisation, SIREN; blank and # lines skipped) with the dns and http probes (those "
            "that exist; --probe to choose) and writes one inventory per organisation into "
            "--output (a folder, default: tiebreak-external) and summary.csv. A rerun resumes "
            "where the last one stopped. The configuration file is optional: only its [dns], "
            "[http] and [server] (--send) sections are used; --nameserver/--port override [dns]; "
            "with "
            "neither, the system resolver (/etc/resolv.conf). With --send, each inventory goes "
            "with its organisation's token, read from the --tokens folder.",
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
        help=t(
            "requêtes DNS simultanées, et organisations scannées à la fois (défaut : 50)",
            "DNS queries in flight, and organisations scanned at once (default: 50)",
        ),
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
    group.add_argument(
        "--tokens",
        type=Path,
        metavar="DOSSIER",
        help=t(
            "avec --send : dossier des jetons d'agent, un fichier par organisation "
            "(<SIREN>.token, ou <nom de l'inventaire>.token sans SIREN) ; sans lui, "
            "[server] token_file, pour une seule organisation",
            "with --send: folder of agent tokens, one file per organisation (<SIREN>.token, "
            "or <inventory name>.token without SIREN); without it, [server] token_file, for a "
            "single organisation",
        ),
    )


def _settings(
    args: argparse.Namespace,
) -> tuple[ExternalSettings | None, ServerConfig | None, list[str]]:
    """ExternalSettings and `[server]` from the options and the optional configuration, or the
    problems."""
    from agent.config import ConfigError, find_config, load_config
    from agent.external import ExternalSettings

    problems: list[str] = []
    nameservers: list[str] = []
    port, timeout, retries = 53, 2.0, 1
    selectors: tuple[str, ...] = ()
    server = None
    http = None
    try:
        path = find_config(args.config)
    except ConfigError:
        path = None  # the configuration is optional in external mode
    if path is not None:
        try:
            _path, config = load_config(path)
        except ConfigError as exc:
            return None, None, [str(exc)]
        nameservers = list(config.dns.nameservers)
        port, timeout, retries = config.dns.port, config.dns.timeout, config.dns.retries
        selectors = tuple(config.dns.dkim_selectors)
        server = config.server
        http = config.http
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
    )
    from dataclasses import replace

    if selectors:
        settings = replace(settings, dkim_selectors=selectors)
    if http is not None:
        from probes.http.settings import HttpSettings

        settings = replace(
            settings,
            http=HttpSettings(
                ca_file=http.ca_file, site_timeout=http.timeout, concurrency=http.concurrency
            ),
        )
    return settings, server, problems


def _send_settings(
    args: argparse.Namespace, server: ServerConfig | None, targets: list[Target]
) -> SendSettings:
    """Where `--send` sends and with which tokens; OSError (SpoolError) saying why it cannot."""
    from agent.external import SendSettings, external_spool
    from agent.sender import open_spool

    if server is None:
        raise OSError(
            t(
                "--send demande une section [server] (url) dans la configuration (--config)",
                "--send needs a [server] section (url) in the configuration (--config)",
            )
        )
    tokens: Path | None = args.tokens
    if tokens is not None and not tokens.is_dir():
        raise OSError(t(f"--tokens {tokens} : pas un dossier", f"--tokens {tokens}: not a folder"))
    if tokens is None:
        organisations = {target.key for target in targets}
        if server.token_file is None or len(organisations) > 1:
            raise OSError(
                t(
                    "--send en mode externe : donnez --tokens DOSSIER (un fichier de jeton par "
                    "organisation ; le serveur refuse l'inventaire d'une organisation envoyé avec "
                    "le jeton d'une autre)",
                    "--send in external mode: give --tokens FOLDER (one token file per "
                    "organisation; the server refuses an organisation's inventory sent with "
                    "another's token)",
                )
            )
    # The spool must be trustworthy before anything is scanned (SpoolError, exit 2).
    open_spool(external_spool()).close()
    return SendSettings(server, tokens)


def run(args: argparse.Namespace) -> int:
    """Handler of `tiebreak scan --external`."""
    from agent.cli import EXIT_COMPLETE, EXIT_CONFIG, EXIT_PARTIAL, error, warn
    from agent.external import ExternalPlanError, external_plan, read_domain_file, run_external
    from probes.registry import UnknownProbeError

    if not args.external or args.domains is None:
        error(t("--external et --domains vont ensemble", "--external needs --domains"))
        return EXIT_CONFIG
    settings, server, problems = _settings(args)
    for problem in problems:
        error(problem)
    if problems or settings is None:
        return EXIT_CONFIG
    try:
        plan = external_plan(args.probe)
    except ExternalPlanError as exc:
        error(str(exc))
        return EXIT_CONFIG
    except UnknownProbeError as exc:
        error(t(f"--probe : sonde ou étiquette inconnue {exc}", f"--probe: unknown probe {exc}"))
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
    if args.tokens is not None and not args.send:
        error(t("--tokens va avec --send", "--tokens goes with --send"))
        return EXIT_CONFIG
    send = None
    if args.send:
        try:
            send = _send_settings(args, server, domains.targets)
        except OSError as exc:
            error(str(exc))
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
            send=send,
            plan=plan,
        )
    if report.unreachable or report.stopped:
        error(report.unreachable or report.stopped or "")
        return EXIT_CONFIG
    for failure in report.failed_domains:
        error(failure)
    from agent.build import unknown_channels_warning

    unknown = unknown_channels_warning(report.unknown_channels)
    if unknown is not None:
        warn(unknown)
    if not args.quiet:
        _print_report(report, output, [p.probe.name for p in plan])
    if report.sending is not None:
        _print_sending(report.sending, args.quiet)
        if not report.sending.complete:
            from agent.sender import EXIT_NOT_SENT

            return EXIT_NOT_SENT
    partial = bool(domains.problems or report.failed_domains)
    return EXIT_PARTIAL if partial else EXIT_COMPLETE


def _print_report(report: ExternalReport, output: Path, probes: list[str]) -> None:
    names = ", ".join(probes)
    print(
        t(
            f"{report.domains_scanned} domaines scannés ({names}), {len(report.written)} "
            f"inventaires écrits, {report.skipped} organisations déjà faites ; résumé : "
            f"{output / 'summary.csv'}",
            f"{report.domains_scanned} domains scanned ({names}), {len(report.written)} "
            f"inventories written, {report.skipped} organisations already done; summary: "
            f"{output / 'summary.csv'}",
        ),
        file=sys.stdout,
    )


def _listed(items: list[str]) -> str:
    more = f", … (+{len(items) - LISTED})" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more


def _print_sending(sending: SendReport, quiet: bool) -> None:
    """One line of what was sent and what waits; errors for what needs someone's attention."""
    from agent.cli import error

    spool = sending.spool
    if sending.stopped:
        error(
            t(
                f"envoi interrompu ({sending.stopped}) : les inventaires suivants attendent dans "
                f"{spool}",
                f"sending stopped ({sending.stopped}): the next inventories wait in {spool}",
            )
        )
    for rejected in sending.rejected:
        error(
            t(
                f"inventaire refusé par le serveur, gardé dans {spool}/<organisation>/rejected : "
                f"{rejected}",
                f"inventory refused by the server, kept in {spool}/<organisation>/rejected: "
                f"{rejected}",
            )
        )
    if sending.no_token:
        error(
            t(
                f"{len(sending.no_token)} organisations sans fichier de jeton, inventaires en "
                f"attente dans {spool} : {_listed(sending.no_token)}",
                f"{len(sending.no_token)} organisations without a token file, inventories waiting "
                f"in {spool}: {_listed(sending.no_token)}",
            )
        )
    if sending.queued and not sending.stopped:
        error(
            t(
                f"non envoyés, en attente : {_listed(sending.queued)}",
                f"not sent, waiting: {_listed(sending.queued)}",
            )
        )
    line = t(
        f"Envoi : {sending.sent} inventaires envoyés, {len(sending.queued)} en attente dans "
        f"{spool} (renvoyés au prochain --send), {len(sending.rejected)} refusés, "
        f"{len(sending.no_token)} organisations sans jeton",
        f"Sending: {sending.sent} inventories sent, {len(sending.queued)} waiting in {spool} "
        f"(sent again by the next --send), {len(sending.rejected)} refused, "
        f"{len(sending.no_token)} organisations without a token",
    )
    if not quiet:
        print(line, file=sys.stdout)
    elif not sending.complete:
        error(line)
