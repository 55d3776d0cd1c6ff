"""The `tiebreak` command line.

Each command group lives in its own module with `register(commands)`; registering imports only
argparse, and each handler imports the heavy modules it needs (rich, probes, the catalog), so
a command pays only for what it uses.

Exit codes: 0 complete, 1 partial (a probe failed or timed out), 2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from agent import __version__
from agent.i18n import t

EXIT_COMPLETE = 0
EXIT_PARTIAL = 1
EXIT_CONFIG = 2

COMMAND_MODULES = (
    "agent.commands.scan",
    "agent.commands.delivery",
    "agent.commands.config",
    "agent.commands.probes",
    "agent.commands.catalog",
    "agent.commands.tui",
    "server.cli",
)
"""Modules that each define `register(commands)`; order is the order of `--help`."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line parser."""
    parser = argparse.ArgumentParser(
        prog="tiebreak",
        description=t(
            "Cartographie de la dépendance numérique d'une collectivité aux fournisseurs "
            "non européens (TIE Break).",
            "Maps a French local government's dependency on non-European digital vendors "
            "(TIE Break).",
        ),
        epilog=t(
            "Codes de sortie : 0 complet, 1 partiel (une sonde a échoué ou dépassé son délai), "
            "2 erreur de configuration ou d'usage, 3 inventaire en attente d'envoi (--send).",
            "Exit codes: 0 complete, 1 partial (a probe failed or timed out), "
            "2 configuration or usage error, 3 inventory waiting in the spool (--send).",
        ),
    )
    parser.add_argument("--version", action="version", version=f"tiebreak {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMANDE")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def error(message: str) -> None:
    """Print an error for a person, on standard error."""
    print(f"tiebreak: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """Print a warning on stderr: the command goes on."""
    print(f"tiebreak: {t('attention', 'warning')}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tiebreak` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        code: int = handler(args)
    except BrokenPipeError:
        # `tiebreak catalog list | head`: the reader left; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_COMPLETE
    except KeyboardInterrupt:
        error(t("interrompu", "interrupted"))
        return 130
    except ModuleNotFoundError as exc:
        if args.command != "server":
            raise
        error(
            t(
                f"le serveur central a ses propres dépendances (manque : {exc.name}) : "
                "pip install 'tiebreak[server]'",
                f"the central server has its own dependencies (missing: {exc.name}): "
                "pip install 'tiebreak[server]'",
            )
        )
        return EXIT_CONFIG
    return code
