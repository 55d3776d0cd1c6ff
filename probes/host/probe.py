"""The `host` probe: operating system and installed software of the machine under `ctx.root`.

Every source is tried and each one that finds nothing costs a stat or two, so the same probe
serves Debian, Red Hat, Alpine, Windows and macOS, and runs on a fixture tree in the tests.
Commands (rpm, reg, PowerShell) go through `Exports`: `HostProbe(CapturedExports(dir))` feeds
captured outputs instead. A damaged source gives a note and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext
from probes.host import apk, dpkg, flatpak, macos, rpm, snap, windows
from probes.host.common import Package, decode, emit_packages, read_text
from probes.host.exports import Export, Exports, LiveExports
from probes.host.pwsh import json_objects
from probes.host.regfile import parse_reg_export
from probes.system import OS_RELEASE_PATHS, os_release_observation, parse_os_release

LinuxSource = Callable[[Path, str, Emitter], int]
LINUX_SOURCES: tuple[LinuxSource, ...] = (dpkg.collect, apk.collect, flatpak.collect, snap.collect)


def _text(export: Export, out: Emitter) -> str:
    text, clean = decode(export.data)
    if not clean:
        out.note(
            f"{export.name}: encodage invalide, caractères remplacés / invalid encoding, "
            "characters replaced"
        )
    return text


def merge_user_installs(packages: list[Package]) -> list[Package]:
    """One package per name: machine-wide first, with how many user hives also hold it."""
    merged: dict[str, Package] = {}
    users: dict[str, int] = {}
    for package in sorted(packages, key=lambda p: p.source == "registry-user"):
        if package.source == "registry-user":
            users[package.name] = users.get(package.name, 0) + 1
        merged.setdefault(package.name, package)
    return [
        replace(p, extra=(*p.extra, ("users", users[p.name]))) if p.name in users else p
        for p in merged.values()
    ]


class HostProbe(Probe):
    """Reports the operating system and the installed software."""

    name: ClassVar[str] = "host"
    tags: ClassVar[frozenset[str]] = frozenset({"local", "host"})
    channels: ClassVar[frozenset[Channel]] = frozenset(
        {
            Channel.OS,
            Channel.SERVICE,
            Channel.PACKAGE,
            Channel.PACKAGE_WINDOWS,
            Channel.PACKAGE_MACOS,
        }
    )
    summary: ClassVar[str] = "Système et logiciels installés / OS and installed software"
    default_timeout: ClassVar[float] = 120.0

    def __init__(self, exports: Exports | None = None) -> None:
        self.exports = exports

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        """Observe the OS, then every package source found under the root."""
        exports = self.exports or LiveExports(ctx.root)
        locus = ctx.hostname
        self._linux_os(ctx.root, locus, out)
        for collect in LINUX_SOURCES:
            collect(ctx.root, locus, out)
        export = exports.rpm_query(out)
        if export is not None:
            result = rpm.parse_rpm_query(_text(export, out))
            if problem := result.problem():
                out.note(f"{export.name}: {problem}")
            emit_packages(out, locus, result.packages)
        self._windows(exports, locus, out)
        if macos.is_macos(ctx.root):
            packages, version = macos.collect(ctx.root, out)
            emit_packages(out, locus, packages)
            if version is not None:
                out.observe(
                    Channel.OS, locus, "macos", {**version, "source": "SystemVersion.plist"}
                )

    @staticmethod
    def _linux_os(root: Path, locus: str, out: Emitter) -> None:
        for relative in OS_RELEASE_PATHS:
            text = read_text(root / relative, out)
            if text is not None:
                out.observe(Channel.OS, locus, *os_release_observation(parse_os_release(text)))
                return

    @staticmethod
    def _windows(exports: Exports, locus: str, out: Emitter) -> None:
        packages: list[Package] = []
        for export in exports.registry(out):
            parsed = parse_reg_export(_text(export, out))
            if parsed.bad_lines:
                out.note(
                    f"{export.name}: {len(parsed.bad_lines)} ligne(s) illisible(s) / unreadable "
                    f"line(s), 1re / first {parsed.bad_lines[0]}"
                )
            packages.extend(windows.parse_uninstall(parsed))
        for what in ("appx", "services", "version"):
            answer = exports.powershell(what, out)
            if answer is None:
                continue
            items, problem = json_objects(_text(answer, out))
            if problem:
                out.note(f"{answer.name}: JSON illisible / unreadable JSON ({problem})")
            if what == "appx":
                packages.extend(windows.parse_appx(items))
            elif what == "services":
                for name, attributes in windows.parse_services(items):
                    out.observe(Channel.SERVICE, locus, name, dict(attributes))
            elif items:
                version = windows.parse_windows_version(items[0])
                value = windows.windows_os_value(version)
                out.observe(Channel.OS, locus, value, {**version, "source": "registry"})
        emit_packages(out, locus, merge_user_installs(packages))
