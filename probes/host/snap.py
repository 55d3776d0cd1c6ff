"""Snap packages, from each snap's `meta/snap.yaml` under `/snap/<name>/current`.

snap.yaml is read with a few regular expressions: the keys needed (name, version) are plain
top-level scalars, which spares a YAML dependency.
"""

from __future__ import annotations

import re
from pathlib import Path

from inventory.channels import Channel
from probes.base import Emitter
from probes.host.common import Package, emit_packages, read_text

SNAP_DIR = "snap"
_TOP_LEVEL = re.compile(r"^(name|version|summary):[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def parse_snap_yaml(text: str) -> dict[str, str]:
    """Top-level `name`, `version` and `summary` of a snap.yaml, unquoted."""
    fields: dict[str, str] = {}
    for key, value in _TOP_LEVEL.findall(text):
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        fields.setdefault(key, value)
    return fields


def collect(root: Path, locus: str, out: Emitter) -> int:
    """Observe every snap mounted under `root/snap`; return how many."""
    packages = []
    for meta in sorted((root / SNAP_DIR).glob("*/current/meta/snap.yaml")):
        text = read_text(meta, out)
        if text is None:
            continue
        fields = parse_snap_yaml(text)
        name = fields.get("name")
        if not name:
            out.note(f"{meta}: pas de champ name / no name field")
            continue
        revision = meta.parent.parent.resolve().name
        packages.append(
            Package(
                channel=Channel.PACKAGE,
                name=name,
                version=fields.get("version", ""),
                source="snap",
                extra=(("revision", revision),),
            )
        )
    return emit_packages(out, locus, packages)
