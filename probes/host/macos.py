"""macOS applications (bundle id and version from each bundle's Info.plist) and macOS version.

Applications are looked for where the Finder puts them: `/Applications` (and one folder deeper,
as in `/Applications/Utilities`), `/System/Applications` and each user's `~/Applications`.
Info.plist files are XML or binary; plistlib reads both. A damaged one becomes a note.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inventory.channels import Channel
from probes.base import Emitter
from probes.host.common import Package

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
        if package is not None:
            packages.append(package)
    version = read_plist(root / SYSTEM_VERSION, out)
    return packages, parse_system_version(version) if version is not None else None
