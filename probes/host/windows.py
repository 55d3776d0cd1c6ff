"""Windows software, services and edition, parsed from registry and PowerShell exports.

Installed programs are the `Uninstall` keys of the 64-bit and 32-bit (`WOW6432Node`) views of
HKLM and of every loaded user hive: per-user installs (Teams, Zoom, Chrome…) live only in the
user's hive, which most inventory tools forget. Updates (`ParentKeyName`, `ReleaseType`) and
entries without a `DisplayName` are not programs and are skipped. Which user a program belongs
to is never reported, only how many hives hold it.
"""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue

from inventory.channels import Channel
from probes.host.common import Package
from probes.host.regfile import RegistryExport

UNINSTALL = "\\microsoft\\windows\\currentversion\\uninstall\\"
_UPDATE_TYPES = frozenset({"update", "hotfix", "security update", "service pack"})
APPX_ARCH = {0: "x86", 5: "arm", 9: "x64", 11: "neutral", 12: "arm64"}
SERVICE_STATUS = {1: "stopped", 2: "start-pending", 3: "stop-pending", 4: "running", 7: "paused"}
START_TYPE = {0: "boot", 1: "system", 2: "automatic", 3: "manual", 4: "disabled"}


def uninstall_source(key: str) -> tuple[str, str] | None:
    """(source, arch) of an `Uninstall\\<entry>` key path, None for any other key."""
    lowered = key.lower()
    head, found, entry = lowered.partition(UNINSTALL)
    if not found or not entry or "\\" in entry:
        return None
    arch = "x86" if head.endswith("\\wow6432node") else ""
    if head.startswith(("hkey_users\\", "hkey_current_user\\")):
        return "registry-user", arch
    if head.startswith("hkey_local_machine\\"):
        return ("registry-hklm-wow64" if arch else "registry-hklm"), arch
    return None


def parse_uninstall(export: RegistryExport) -> list[Package]:
    """Installed programs of the `Uninstall` keys of a registry export."""
    packages = []
    for key, values in export.keys.items():
        where = uninstall_source(key)
        name = values.get("DisplayName")
        if where is None or not isinstance(name, str) or not name.strip():
            continue
        release = str(values.get("ReleaseType", "")).lower()
        if values.get("ParentKeyName") or release in _UPDATE_TYPES:
            continue
        hidden = values.get("SystemComponent") == 1
        extra: tuple[tuple[str, JsonValue], ...] = (("system_component", True),) if hidden else ()
        packages.append(
            Package(
                channel=Channel.PACKAGE_WINDOWS,
                name=name.strip(),
                version=str(values.get("DisplayVersion", "")),
                publisher=str(values.get("Publisher", "")),
                arch=where[1],
                source=where[0],
                extra=extra,
            )
        )
    return packages


def _publisher(distinguished_name: str) -> str:
    """`O=` (else `CN=`) of an AppX publisher's distinguished name."""
    parts = dict(
        part.strip().split("=", 1) for part in distinguished_name.split(",") if "=" in part
    )
    return parts.get("O") or parts.get("CN") or distinguished_name


def parse_appx(items: list[dict[str, Any]]) -> list[Package]:
    """AppX/MSIX packages of `Get-AppxPackage | ConvertTo-Json`, without frameworks/resources."""
    packages = []
    for item in items:
        name = item.get("Name")
        if not isinstance(name, str) or item.get("IsFramework") or item.get("IsResourcePackage"):
            continue
        arch = item.get("Architecture", "")
        packages.append(
            Package(
                channel=Channel.PACKAGE_WINDOWS,
                name=name,
                version=str(item.get("Version", "")),
                publisher=_publisher(str(item.get("Publisher", ""))),
                arch=APPX_ARCH.get(arch, "") if isinstance(arch, int) else str(arch).lower(),
                source="appx",
            )
        )
    return packages


def _enum(value: Any, names: dict[int, str]) -> str:
    return names.get(value, str(value)) if isinstance(value, int) else str(value or "").lower()


def parse_services(items: list[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """(name, attributes) of `Get-Service | Select Name,DisplayName,Status,StartType` JSON."""
    services = []
    for item in items:
        name = item.get("Name")
        if isinstance(name, str) and name:
            attributes = {
                "source": "windows",
                "display_name": str(item.get("DisplayName") or ""),
                "status": _enum(item.get("Status"), SERVICE_STATUS),
                "start_type": _enum(item.get("StartType"), START_TYPE),
            }
            services.append((name, attributes))
    return services


def parse_windows_version(item: dict[str, Any]) -> dict[str, str]:
    """`os` attributes from the `Windows NT\\CurrentVersion` values (ProductName, builds…)."""
    name = str(item.get("ProductName", "Windows"))
    build = str(item.get("CurrentBuild") or item.get("CurrentBuildNumber") or "")
    # Windows 11 kept "Windows 10" in ProductName; build 22000 is the first Windows 11 build.
    if build.isdigit() and int(build) >= 22000 and name.startswith("Windows 10"):
        name = "Windows 11" + name[len("Windows 10") :]
    ubr = item.get("UBR")
    return {
        "name": name,
        "version": str(item.get("DisplayVersion") or item.get("ReleaseId") or ""),
        "build": f"{build}.{ubr}" if build and isinstance(ubr, int) else build,
        "edition": str(item.get("EditionID", "")),
        "installation_type": str(item.get("InstallationType", "")),
    }


def windows_os_value(version: dict[str, str]) -> str:
    """`os` value: "windows" for a workstation, the product name for a server edition.

    Servers keep their name ("Windows Server 2022 Standard") because the catalog tells
    Windows Server from Windows by it, with the version in it.
    """
    name = version.get("name", "")
    server = version.get("installation_type", "").startswith("Server")
    return name if server or name.startswith("Windows Server") else "windows"
