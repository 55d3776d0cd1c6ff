"""macOS applications (bundle id and version from each bundle's Info.plist, the signing Team ID
of its executable) and macOS version.

Applications are looked for where the Finder puts them: `/Applications` (and one folder deeper,
as in `/Applications/Utilities`), `/System/Applications` and each user's `~/Applications`.
Info.plist files are XML or binary; plistlib reads both. A damaged one becomes a note.

The Team ID names the Apple developer account that signed the app (`UBF8T346G9`: Microsoft), as a
Windows program's Publisher names its vendor; it comes from the code signature of the executable
that `CFBundleExecutable` names in `Contents/MacOS` (`probes.host.macho`, a few small reads). An
unsigned or ad-hoc signed app has none; a damaged executable, or one that is a symbolic link or
lies outside its bundle, becomes a note and the app is kept without it.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inventory.channels import Channel
from probes.base import Emitter
from probes.host.common import Package
from probes.host.macho import MachOError, descriptor_signature

SYSTEM_VERSION = "System/Library/CoreServices/SystemVersion.plist"
APPLICATION_GLOBS = (
    "Applications/*.app",
    "Applications/*/*.app",
    "System/Applications/*.app",
    "Users/*/Applications/*.app",
)


def is_macos(root: Path) -> bool:
    """Whether `root` looks like a macOS system (cheap: two stats)."""
    return (root / SYSTEM_VERSION).is_file() or (root / "Applications").is_dir()


def parse_plist(data: bytes) -> dict[str, Any]:
    """Top-level dictionary of an XML or binary property list; raises ValueError when damaged."""
    import plistlib  # only macOS trees pay for it (expat, datetime)

    try:
        parsed = plistlib.loads(data)
    except Exception as exc:  # noqa: BLE001 - plistlib raises many kinds on damaged input
        raise ValueError(f"plist illisible / unreadable plist ({type(exc).__name__})") from None
    if not isinstance(parsed, dict):
        raise ValueError("plist sans dictionnaire / plist without a dictionary")
    return parsed


def parse_info_plist(info: dict[str, Any]) -> Package | None:
    """The application an Info.plist describes, None without a bundle identifier."""
    bundle_id = info.get("CFBundleIdentifier")
    if not isinstance(bundle_id, str) or not bundle_id:
        return None
    name = info.get("CFBundleDisplayName") or info.get("CFBundleName") or ""
    version = info.get("CFBundleShortVersionString") or info.get("CFBundleVersion") or ""
    return Package(
        channel=Channel.PACKAGE_MACOS,
        name=bundle_id,
        version=str(version),
        source="info-plist",
        extra=(("name", str(name)),),
    )


def team_id(bundle: Path, info: dict[str, Any], out: Emitter) -> str | None:
    """The Team ID signing the bundle's executable; None when unsigned, ad-hoc or unreadable
    (a note names the bundle when the executable is damaged or refused)."""
    name = info.get("CFBundleExecutable")
    if not isinstance(name, str) or not name:
        return None
    try:
        fd = open_executable(bundle, name)
        try:
            signature = descriptor_signature(fd)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # MachOError is a ValueError
        reason = getattr(exc, "strerror", None) or exc
        out.note(f"{bundle}: signature illisible / unreadable signature ({reason})")
        return None
    return signature.team_id if signature is not None else None


def open_executable(bundle: Path, name: str) -> int:
    """A descriptor of `Contents/MacOS/<name>` in the bundle, opened one folder at a time so
    that nothing leaves the bundle: a name with a path in it and a symbolic link on the way are
    refused (cheaper than comparing real paths, and no race between a check and the open)."""
    if name in (".", "..") or "/" in name or "\0" in name:
        raise MachOError(f"CFBundleExecutable {name[:80]!r} hors du paquet / outside the bundle")
    fd = os.open(bundle, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for folder in ("Contents", "MacOS"):
            inner = _open_in(fd, folder, os.O_DIRECTORY)
            os.close(fd)
            fd = inner
        # O_NONBLOCK: a FIFO planted in a bundle must not hang the probe (fstat refuses it).
        return _open_in(fd, name, os.O_NONBLOCK)
    finally:
        os.close(fd)


def _open_in(directory: int, name: str, flags: int) -> int:
    """`name` in the open folder `directory`, never through a symbolic link."""
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | flags, dir_fd=directory)
    except OSError as exc:
        # A symbolic link gives ELOOP, or ENOTDIR where O_DIRECTORY is checked first (Linux).
        if exc.errno == errno.ELOOP:
            raise MachOError(f"{name} : lien symbolique refusé / symbolic link refused") from None
        if exc.errno == errno.ENOTDIR:
            raise MachOError(
                f"{name} : lien symbolique ou pas un dossier / symbolic link or not a folder"
            ) from None
        raise


def parse_system_version(info: dict[str, Any]) -> dict[str, str]:
    """`os` attributes from SystemVersion.plist."""
    return {
        "name": str(info.get("ProductName", "macOS")),
        "version": str(info.get("ProductVersion", "")),
        "build": str(info.get("ProductBuildVersion", "")),
    }


def read_plist(path: Path, out: Emitter) -> dict[str, Any] | None:
    """Parsed plist at `path`, None (with a note naming the file) when unreadable or damaged."""
    try:
        return parse_plist(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        out.note(f"{path}: {getattr(exc, 'strerror', None) or exc}")
        return None


def applications(root: Path) -> Iterator[Path]:
    """Info.plist of every application bundle under `root`."""
    for pattern in APPLICATION_GLOBS:
        for bundle in sorted(root.glob(pattern)):
            yield bundle / "Contents" / "Info.plist"


def collect(root: Path, out: Emitter) -> tuple[list[Package], dict[str, str] | None]:
    """Applications and macOS version (None when SystemVersion.plist is absent) under `root`."""
    packages = []
    for path in applications(root):
        info = read_plist(path, out)
        package = parse_info_plist(info) if info is not None else None
        if info is None or package is None:
            continue
        team = team_id(path.parent.parent, info, out)
        if team is not None:
            package = dataclasses.replace(package, extra=(*package.extra, ("team_id", team)))
        packages.append(package)
    version = read_plist(root / SYSTEM_VERSION, out)
    return packages, parse_system_version(version) if version is not None else None
