"""One machine as a fleet inventory describes it, normalised onto the host probe's channels.

Every source (FusionInventory / GLPI XML, GLPI Agent JSON, OCS Inventory XML, the GLPI API) fills
a `Machine`; `os_observation` and `software_channel` then say what the host probe would have
emitted on that machine, so the same catalog entries apply:

- Windows: `os` value "Windows 10 Pro 10.0 (19045)", the shape Active Directory gives
  (`operatingSystem operatingSystemVersion`), whose build number the catalog's end-of-support
  entries read; programs on `package.windows` (Uninstall `DisplayName`), and so are the enabled
  antivirus products Windows Security Center names ("Windows Defender");
- Linux: `os` value the os-release ID ("debian"), programs (dpkg, rpm… package names) on
  `package`, with the package manager the inventory names (`FROM`: deb, rpm, snap, flatpak) as
  the host probe's `source` (dpkg, rpm, snap, flatpak), so a catalog entry that requires a snap
  holds on a fleet too;
- macOS: `os` value "macos"; its applications are named by display name, not by the bundle
  identifier `package.macos` holds, so they are not emitted (a note counts them).

Identifiers (UUID, serial number, device id, host name) only feed the pseudonym and are never
kept in an observation. Every text is bounded (`MAX_TEXT`) and every list (`MAX_SOFTWARE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from inventory.channels import Channel
from probes.host.windows import parse_windows_version

MAX_TEXT: Final = 256
"""Characters kept of a name, version or publisher; a longer value is cut (hostile files)."""
MAX_SOFTWARE: Final = 20_000
"""Programs kept per machine; beyond, the machine is marked `truncated`."""
MAX_ANTIVIRUS: Final = 16

PACKAGE_MANAGERS: Final = {"deb": "dpkg", "rpm": "rpm", "snap": "snap", "flatpak": "flatpak"}
"""A program's `FROM` in FusionInventory, GLPI Agent and OCS Inventory files (`FROM => 'deb'` in
their Linux packaging modules) -> the `source` the host probe gives the same package. Windows
values (registry, WMI, uwp) and unknown ones map to nothing."""

_DEVICE_ID_STAMP = re.compile(r"-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$")
_KERNEL = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
_KB_UPDATE = re.compile(r"^KB\d{6,8}$|\(KB\d{6,8}\)", re.IGNORECASE)
_UPDATE_TYPES: Final = frozenset({"update", "hotfix", "security update", "service pack"})
_PLACEHOLDER_UUIDS: Final = frozenset(
    {
        # Firmware placeholders shared by many boards: never one machine's identity.
        "03000200-0400-0500-0006-000700080009",
        "00020003-0004-0005-0006-000700080009",
    }
)
_PLACEHOLDER_SERIALS: Final = frozenset(
    {
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "not specified",
        "not applicable",
        "none",
        "n/a",
        "0",
        "00000000",
        "123456789",
        "chassis serial number",
    }
)

LINUX_IDS: Final = (
    # (words in the OS name, os-release ID the catalog's `os` matchers know)
    ("red hat enterprise", "rhel"),
    ("rocky", "rocky"),
    ("almalinux", "almalinux"),
    ("centos", "centos"),
    ("fedora", "fedora"),
    ("ubuntu", "ubuntu"),
    ("debian", "debian"),
    ("opensuse", "opensuse-leap"),
    ("suse linux enterprise desktop", "sled"),
    ("suse linux enterprise", "sles"),
    ("alpine", "alpine"),
)

VIRTUAL_HINTS: Final = (
    # (word in the manufacturer or model, hypervisor): when the inventory names none
    ("vmware", "VMware"),
    ("virtualbox", "VirtualBox"),
    ("innotek", "VirtualBox"),
    ("qemu", "QEMU/KVM"),
    ("kvm", "QEMU/KVM"),
    ("xen", "Xen"),
    ("parallels", "Parallels"),
    ("amazon ec2", "Amazon EC2"),
    ("google compute engine", "Google Compute Engine"),
    ("openstack", "OpenStack"),
    ("proxmox", "QEMU/KVM"),
)


def text(value: object) -> str:
    """A bounded, single-spaced, printable text of an inventory value ("" for none)."""
    if value is None or isinstance(value, dict | list):
        return ""
    return printable(" ".join(str(value)[: MAX_TEXT * 4].split())[:MAX_TEXT])


def printable(value: str) -> str:
    """`value` with control and format characters (escape sequences, right-to-left overrides)
    replaced by U+FFFD; the common case costs one check."""
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() or char == " " else "\ufffd" for char in value)


class Software(NamedTuple):
    """One installed program (a tuple: a workstation has hundreds)."""

    name: str
    version: str = ""
    publisher: str = ""
    manager: str = ""
    """The host probe's `source` for a Linux package (`PACKAGE_MANAGERS`), "" when unknown."""


@dataclass(slots=True)
class Machine:
    """A machine read from a fleet source; identifiers only feed the pseudonym."""

    format: str
    identity: dict[str, str] = field(default_factory=dict)
    """Stable identifiers by kind ("uuid", "serial", "name"), the first of each: never emitted."""
    os_name: str = ""
    os_version: str = ""
    kernel_name: str = ""
    kernel_version: str = ""
    manufacturer: str = ""
    model: str = ""
    vmsystem: str = ""
    chassis: str = ""
    date: str = ""
    antivirus: list[str] = field(default_factory=list)
    """Enabled antivirus products, by the name Windows Security Center gives them."""
    software: list[Software] = field(default_factory=list)
    skipped_updates: int = 0
    truncated: bool = False

    def add_software(
        self, name: str, version: str, publisher: str, release_type: str = "", origin: str = ""
    ) -> None:
        """Record a program, unless it is an update or the machine already holds too many;
        `origin` is the inventory's `FROM` (package manager)."""
        if not name:
            return
        if (release_type and release_type.lower() in _UPDATE_TYPES) or (
            ("KB" in name or "kb" in name) and _KB_UPDATE.search(name)
        ):
            self.skipped_updates += 1
            return
        if len(self.software) >= MAX_SOFTWARE:
            self.truncated = True
            return
        manager = PACKAGE_MANAGERS.get(origin.strip().lower(), "") if origin else ""
        self.software.append(Software(name, version, publisher, manager))

    def add_antivirus(self, name: str, enabled: bool = True) -> None:
        """Record an antivirus product; a disabled one (Defender beside another) is not in use."""
        if enabled and name and name not in self.antivirus and len(self.antivirus) < MAX_ANTIVIRUS:
            self.antivirus.append(name)

    def add_identity(self, kind: str, value: str) -> None:
        """Add an identifier if it can tell this machine from the others."""
        value = value.strip()
        lowered = value.lower()
        if not value:
            return
        if kind == "uuid" and (
            lowered in _PLACEHOLDER_UUIDS or len(set(lowered.replace("-", ""))) <= 1
        ):
            return
        if kind == "serial" and (lowered in _PLACEHOLDER_SERIALS or len(set(lowered)) <= 1):
            return
        if kind == "deviceid":
            kind, lowered = "name", _DEVICE_ID_STAMP.sub("", lowered)
        self.identity.setdefault(kind, lowered.upper() if kind == "uuid" else lowered)

    def best_identity(self) -> str | None:
        """The most stable identifier: firmware UUID, else serial number, else name."""
        for kind in ("uuid", "serial", "name"):
            if kind in self.identity:
                return f"{kind}:{self.identity[kind]}"
        return None

    @property
    def platform(self) -> str:
        """windows, linux, macos or "" when the inventory does not say."""
        kernel = self.kernel_name.lower()
        name = self.os_name.lower()
        if kernel.startswith("mswin") or "windows" in name:
            return "windows"
        if kernel == "darwin" or "mac os" in name or "macos" in name:
            return "macos"
        if kernel == "linux" or any(words in name for words, _ in LINUX_IDS) or "linux" in name:
            return "linux"
        return ""

    def virtualisation(self) -> str:
        """The hypervisor the machine runs on, "physical", or "" when nothing says."""
        declared = self.vmsystem.strip()
        if declared:
            return "physical" if declared.lower() == "physical" else declared
        both = f"{self.manufacturer} {self.model}".lower()
        if "microsoft corporation" in both and "virtual machine" in both:
            return "Hyper-V"
        for word, hypervisor in VIRTUAL_HINTS:
            if word in both:
                return hypervisor
        return ""

    def hardware(self) -> str:
        """ "manufacturer model", or "" when neither is known."""
        return " ".join(part for part in (self.manufacturer, self.model) if part)


def windows_release(name: str, kernel_version: str, display_version: str = "") -> str:
    """`os` value of a Windows machine: "Windows 10 Pro 10.0 (19045)".

    The name loses its "Microsoft " prefix (the catalog writes releases as Active Directory
    does); Windows 11 machines whose name still says "Windows 10" are named by their build, as
    the host probe does (`probes.host.windows.parse_windows_version`).
    """
    cleaned = re.sub(r"^Microsoft(®|\(R\))?\s+", "", name.strip())
    cleaned = cleaned or "Windows"
    match = _KERNEL.match(kernel_version.strip()) or _KERNEL.match(display_version.strip())
    if match is None:
        return cleaned
    major, minor, build = match.groups()
    cleaned = parse_windows_version({"ProductName": cleaned, "CurrentBuild": build})["name"]
    return f"{cleaned} {major}.{minor} ({build})"


def os_observation(machine: Machine) -> tuple[str, dict[str, str]] | None:
    """`os` value and attributes of a machine, as the host probe would emit them, or None."""
    platform = machine.platform
    attributes = {"name": machine.os_name, "version": machine.os_version}
    if platform == "windows":
        value = windows_release(machine.os_name, machine.kernel_version, machine.os_version)
    elif platform == "macos":
        value = "macos"
    elif platform == "linux":
        lowered = machine.os_name.lower()
        value = next((os_id for words, os_id in LINUX_IDS if words in lowered), "linux")
    elif machine.os_name:
        value = machine.os_name
    else:
        return None
    return value, {key: item for key, item in attributes.items() if item}


def software_channel(machine: Machine) -> Channel | None:
    """The channel the host probe uses for this machine's programs, None when none fits."""
    platform = machine.platform
    if platform == "windows":
        return Channel.PACKAGE_WINDOWS
    if platform == "linux":
        return Channel.PACKAGE
    return None


def is_server(os_value: str) -> bool:
    """Whether an `os` value names a server edition (Windows Server…)."""
    return "server" in os_value.lower()
