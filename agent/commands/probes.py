"""`tiebreak probes`: list the registered probes with their tags."""

from __future__ import annotations

import argparse
from typing import Any

from agent.i18n import t


def register(commands: Any) -> None:
    """Add the `probes` command."""
    probes = commands.add_parser("probes", help=t("lister les sondes", "list the probes"))
    probes.set_defaults(handler=_list)


def _list(_args: argparse.Namespace) -> int:
    from probes.registry import REGISTRY

    for entry in REGISTRY:
        probe = entry.load()
        print(f"{entry.name:<12} {','.join(sorted(entry.tags)):<24} {probe.summary}")
    return 0
