"""Flatpak applications, system-wide (`var/lib/flatpak`) and per user (`~/.local/share/flatpak`).

A deployed application lives in `<installation>/app/<id>/<arch>/<branch>/active/`; its
version is the newest `<release>` of its AppStream metainfo file. Runtimes are shared
libraries, not applications, and are left out. Per-user installations are reported without
the user's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from inventory.channels import Channel
from probes.base import Emitter
from probes.host.common import Package, emit_packages, read_text

SYSTEM_INSTALLATION = "var/lib/flatpak"
USER_INSTALLATION = ".local/share/flatpak"
EXTRA_INSTALLATIONS = "etc/flatpak/installations.d"
METAINFO_DIRS = ("files/share/metainfo", "files/share/appdata")
_RELEASE = re.compile(r"<release\b[^>]*?\bversion=\"([^\"]+)\"")


def parse_metainfo_version(text: str) -> str:
    """Version of the first (newest) `<release>` of an AppStream file, or ''."""
    match = _RELEASE.search(text)
    return match.group(1) if match else ""


def parse_installation_paths(text: str) -> list[str]:
    """`Path=` values of an `/etc/flatpak/installations.d/*.conf` file (extra installations)."""
    return [
        line.partition("=")[2].strip()
        for line in text.splitlines()
        if line.strip().startswith("Path=")
    ]


def installations(root: Path, out: Emitter) -> Iterator[tuple[str, Path]]:
    """(`system` or `user`, path) of every Flatpak installation under `root`."""
    yield "system", root / SYSTEM_INSTALLATION
    for conf in sorted((root / EXTRA_INSTALLATIONS).glob("*.conf")):
        for path in parse_installation_paths(read_text(conf, out) or ""):
            yield "system", root / path.lstrip("/")
    for home in (root / "root", *sorted((root / "home").glob("*"))):
        yield "user", home / USER_INSTALLATION


def _version(active: Path, app_id: str, out: Emitter) -> str:
    for directory in METAINFO_DIRS:
        for suffix in (".metainfo.xml", ".appdata.xml"):
            text = read_text(active / directory / f"{app_id}{suffix}", out)
            if text is not None:
                return parse_metainfo_version(text)
    return ""


def collect(root: Path, locus: str, out: Emitter) -> int:
    """Observe every deployed Flatpak application under `root`; return how many."""
    packages = []
    unreadable = 0
    for scope, installation in installations(root, out):
        try:
            actives = sorted(installation.glob("app/*/*/*/active"))
        except OSError:  # another user's home, as a non-root user: counted, never named
            unreadable += 1
            continue
        for active in actives:
            branch_dir = active.parent
            app_id, arch, branch = (
                branch_dir.parent.parent.name,
                branch_dir.parent.name,
                branch_dir.name,
            )
            packages.append(
                Package(
                    channel=Channel.PACKAGE,
                    name=app_id,
                    version=_version(active, app_id, out),
                    arch=arch,
                    source="flatpak",
                    extra=(("branch", branch), ("installation", scope)),
                )
            )
    if unreadable:
        out.note(
            f"{unreadable} installation(s) Flatpak illisible(s) (droits) / unreadable Flatpak "
            "installation(s) (permissions)"
        )
    return emit_packages(out, locus, packages)
