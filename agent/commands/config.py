"""`tiebreak config init|check`: write a commented example, validate and show a configuration."""

from __future__ import annotations

import argparse
import errno
import json
import os
from pathlib import Path
from typing import Any

from agent.commands import add_config_option
from agent.i18n import t


def register(commands: Any) -> None:
    """Add the `config` command group."""
    config = commands.add_parser("config", help=t("gérer la configuration", "manage configuration"))
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init", help=t("écrire un exemple commenté", "write a commented example")
    )
    init.add_argument("path", nargs="?", type=Path, default=Path("tiebreak.toml"))
    init.add_argument(
        "--force", action="store_true", help=t("écraser le fichier", "overwrite the file")
    )
    init.set_defaults(handler=_init)
    check = actions.add_parser(
        "check",
        help=t(
            "valider et afficher la configuration effective (secrets masqués)",
            "validate and print the effective configuration (secrets masked)",
        ),
    )
    add_config_option(check)
    check.set_defaults(handler=_check)


def _init(args: argparse.Namespace) -> int:
    from importlib.resources import files

    from agent.cli import EXIT_COMPLETE, EXIT_CONFIG, error

    path: Path = args.path
    if path.exists() and not args.force:
        error(t(f"{path} existe déjà (--force pour l'écraser)", f"{path} exists (use --force)"))
        return EXIT_CONFIG
    example = files("agent").joinpath("tiebreak.example.toml").read_text(encoding="utf-8")
    # Never through a symbolic link, even a dangling one that `exists()` does not see: root
    # running `config init` in a shared directory would write wherever it points.
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if args.force else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o644)
    except FileExistsError:
        error(t(f"{path} existe déjà (--force pour l'écraser)", f"{path} exists (use --force)"))
        return EXIT_CONFIG
    except OSError as exc:
        reason = (
            t("lien symbolique refusé", "symbolic link refused")
            if exc.errno == errno.ELOOP
            else exc.strerror
        )
        error(f"{path}: {reason}")
        return EXIT_CONFIG
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(example)
    except OSError as exc:
        error(f"{path}: {exc.strerror}")
        return EXIT_CONFIG
    print(t(f"Configuration écrite dans {path}", f"Configuration written to {path}"))
    return EXIT_COMPLETE


def _check(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_COMPLETE, EXIT_CONFIG, error
    from agent.config import ConfigError, effective, load_config

    try:
        path, config = load_config(args.config)
    except ConfigError as exc:
        error(str(exc))
        return EXIT_CONFIG
    print(t(f"# {path} : configuration valide", f"# {path}: configuration is valid"))
    print(json.dumps(effective(config), indent=2, ensure_ascii=False))
    return EXIT_COMPLETE
