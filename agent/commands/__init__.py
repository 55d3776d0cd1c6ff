"""Command groups of the `tiebreak` command line, one module each."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.i18n import t


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """The `--config` option shared by commands that read the agent configuration."""
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        help=t(
            "fichier TOML (défaut : ./tiebreak.toml puis /etc/tiebreak/agent.toml)",
            "TOML file (default: ./tiebreak.toml then /etc/tiebreak/agent.toml)",
        ),
    )


def catalog_ready() -> bool:
    """Compile the catalog now; print why and return False when it is malformed.

    A scan refuses to start with a broken catalog rather than silently skip products.
    """
    from agent.cli import error
    from fingerprints.catalog import CatalogError
    from fingerprints.engine import default_engine

    try:
        default_engine()
    except CatalogError as exc:
        error(t("catalogue invalide :", "malformed catalog:") + "\n" + str(exc))
        return False
    return True
