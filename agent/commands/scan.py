"""`tiebreak scan`: run the probes on the declared scope and write the draft inventory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands import add_config_option, catalog_ready, external
from agent.commands.delivery import add_jitter_option, wait_jitter
from agent.i18n import t

if TYPE_CHECKING:
    from agent.config import DirectoryConfig
    from inventory import Inventory


def register(commands: Any) -> None:
    """Add the `scan` command."""
    scan = commands.add_parser(
        "scan",
        help=t("lancer un scan et écrire l'inventaire", "run a scan and write the inventory"),
        description=t(
            "Lance les sondes sur le périmètre déclaré et écrit le brouillon d'inventaire (JSON). "
            "Codes de sortie : 0 complet, 1 partiel, 2 erreur de configuration, "
            "3 inventaire écrit mais en attente d'envoi (--send).",
            "Runs the probes on the declared scope and writes the draft inventory (JSON). "
            "Exit codes: 0 complete, 1 partial, 2 configuration error, "
            "3 written but waiting in the spool (--send).",
        ),
    )
    add_config_option(scan)
    scan.add_argument(
        "--output",
        "-o",
        type=Path,
        help=t(
            "fichier d'inventaire (défaut : tiebreak-<organisation>-<horodatage UTC>.json)",
            "inventory file (default: tiebreak-<organisation>-<UTC timestamp>.json)",
        ),
    )
    scan.add_argument(
        "--probe",
        "-p",
        action="append",
        metavar="NOM|ÉTIQUETTE",
        help=t(
            "sonde ou étiquette à lancer (répétable ; défaut : [probes] enable)",
            "probe or tag to run (repeatable; default: [probes] enable)",
        ),
    )
    scan.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help=t("n'afficher que les erreurs (cron)", "print errors only (cron)"),
    )
    scan.add_argument(
        "--send",
        action="store_true",
        help=t(
            "envoyer l'inventaire au serveur de [server] (code 3 s'il reste en attente)",
            "send the inventory to the [server] (exit code 3 if it stays spooled)",
        ),
    )
    add_jitter_option(scan)
    external.add_arguments(scan)
    scan.set_defaults(handler=_scan)


def _check_directory(section: DirectoryConfig) -> None:
    """Read the bind password before scanning (a bad secret stops the scan, naming the key) and
    warn about an unverified certificate."""
    from agent.cli import warn

    try:
        section.password()
    except OSError as exc:
        key = "password_file" if section.password_file is not None else "password_env"
        raise OSError(f"[directory] {key}: {exc}") from None
    if section.insecure:
        warn(
            t(
                "[directory] insecure = true : le certificat de l'annuaire ne sera pas vérifié ; "
                "c'est noté dans l'inventaire",
                "[directory] insecure = true: the directory's certificate will not be verified; "
                "the inventory records it",
            )
        )


def _record(inventory: Inventory, output: Path) -> None:
    """Add this scan to the machine's history (`tiebreak status`, the TUI's history screen); a
    failure is only a warning."""
    from agent.cli import warn
    from agent.history import record_scan

    try:
        record_scan(inventory, output)
    except OSError as exc:
        warn(
            t(
                f"scan non inscrit dans l'historique ({exc})",
                f"scan not recorded in history ({exc})",
            )
        )


def _scan(args: argparse.Namespace) -> int:
    if args.external or args.domains is not None:
        wait_jitter(args.jitter, args.quiet)
        return external.run(args)
    from agent.cli import EXIT_COMPLETE, EXIT_CONFIG, EXIT_PARTIAL, error
    from agent.config import ConfigError, load_config
    from agent.scan import check_writable, default_output, plan_probes, run_scan, write_inventory

    try:
        _path, config = load_config(args.config)
        plan = plan_probes(config, args.probe)
    except ConfigError as exc:
        error(str(exc))
        return EXIT_CONFIG
    output: Path = args.output or default_output(config)
    try:
        check_writable(output)
        if config.directory is not None and any(p.probe.name == "directory" for p in plan):
            _check_directory(config.directory)
        if args.send:
            from agent.sender import check_ready

            check_ready(config.server)
    except OSError as exc:
        error(str(exc))
        return EXIT_CONFIG
    if not catalog_ready():
        return EXIT_CONFIG

    wait_jitter(args.jitter, args.quiet)
    if args.quiet:
        outcome = run_scan(config, plan)
    else:
        from agent.display import ScanDisplay

        with ScanDisplay([p.probe.name for p in plan]) as display:
            outcome = run_scan(config, plan, display.update)

    try:
        write_inventory(outcome.inventory, output)
    except OSError as exc:
        error(t(f"écriture de {output} impossible : {exc}", f"cannot write {output}: {exc}"))
        return EXIT_CONFIG
    _record(outcome.inventory, output)
    for run in outcome.inventory.probes:
        if run.status in ("failed", "timeout"):
            error(f"{run.name}: {run.status}: {run.error}")
    for channel, count in sorted(outcome.unknown_channels.items()):
        error(
            t(
                f"{count} observation(s) sur le canal {channel}, inconnu de cette version : "
                "listées comme non identifiées",
                f"{count} observation(s) on channel {channel}, unknown to this version: listed "
                "as unidentified",
            )
        )
    if not args.quiet:
        from agent.display import print_summary

        print_summary(outcome.inventory, output)
    if args.send and config.server is not None:
        from agent.sender import EXIT_NOT_SENT, SpoolError, send_inventory

        document = outcome.inventory.to_json_bytes()
        try:
            sent = send_inventory(
                document, str(outcome.inventory.id), config.server, args.quiet, output
            )
        except SpoolError as exc:
            # The spool became untrustworthy during the scan: nothing was sent.
            error(str(exc))
            return EXIT_CONFIG
        if not sent:
            return EXIT_NOT_SENT
    return EXIT_COMPLETE if outcome.complete else EXIT_PARTIAL
