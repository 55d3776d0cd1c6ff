"""`tiebreak tui`: the terminal UI to configure, run, review, save and send a scan."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.commands import add_config_option
from agent.i18n import t


def register(commands: Any) -> None:
    """Add the `tui` command."""
    tui = commands.add_parser(
        "tui",
        help=t("interface en mode texte (configurer, scanner, envoyer)", "terminal UI"),
        description=t(
            "Interface en mode texte : configuration, scan, résultats, historique, envoi. "
            "Sans fichier de configuration, l'exemple commenté est chargé et ctrl+s "
            "l'enregistre dans ./tiebreak.toml (ou le fichier de --config).",
            "Terminal UI: configuration, scan, results, history, send. Without a "
            "configuration file, the commented example is loaded and ctrl+s saves it to "
            "./tiebreak.toml (or the --config file).",
        ),
    )
    add_config_option(tui)
    tui.add_argument(
        "--inventory",
        "-i",
        type=Path,
        help=t(
            "ouvrir un inventaire enregistré (pour le relire ou l'envoyer)",
            "open a saved inventory (to review or send it)",
        ),
    )
    tui.set_defaults(handler=_tui)


def config_path(explicit: Path | None) -> Path:
    """The file to edit: --config, else the first default file that exists, else the first."""
    from agent.config import DEFAULT_PATHS

    if explicit is not None:
        return explicit
    return next((path for path in DEFAULT_PATHS if path.is_file()), DEFAULT_PATHS[0])


def _tui(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_COMPLETE
    from agent.tui.app import TiebreakApp

    app = TiebreakApp(config_path(args.config), inventory_path=args.inventory)
    code = app.run()
    return code if isinstance(code, int) else EXIT_COMPLETE
