"""Where command output comes from: the live system, or files captured from another machine.

`rpm`, the Windows registry and PowerShell are reached through this small interface so that one
set of parsers serves both: `LiveExports` runs the commands (`rpm -qa`, `reg export`,
`Get-AppxPackage`, `Get-Service`), `CapturedExports` reads what an administrator (or a test
fixture) saved from the same commands. Each export is raw bytes; decoding and parsing happen
in the parsers, so a badly encoded capture and a live answer are handled alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from probes.base import Emitter
from probes.host import rpm

COMMAND_TIMEOUT = 60.0
POSIX_SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
"""Where system programs are looked for on Linux: never the caller's PATH (a root cron job, or a
sysadmin's shell, may have a directory someone else can write in it)."""
UNINSTALL_KEY = "Microsoft\\Windows\\CurrentVersion\\Uninstall"
POWERSHELL = {
    "appx": "Get-AppxPackage -AllUsers | ConvertTo-Json -Depth 2",
    "services": "Get-Service | Select-Object Name,DisplayName,Status,StartType | ConvertTo-Json",
    "version": "Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' | "
    "Select-Object ProductName,DisplayVersion,ReleaseId,CurrentBuild,UBR,EditionID,"
    "InstallationType | ConvertTo-Json",
}


@dataclass(frozen=True, slots=True)
class Export:
    """Raw output of one command, or one captured file; `name` says which, for notes."""

    name: str
    data: bytes


class Exports(Protocol):
    """Outputs of the commands the host probe cannot replace by reading files."""

    def rpm_query(self, out: Emitter) -> Export | None:
        """`rpm -qa --queryformat rpm.QUERY_FORMAT`, None without an rpm database."""

    def registry(self, out: Emitter) -> list[Export]:
        """`.reg` exports of the Uninstall keys: HKLM 64-bit, 32-bit and each loaded user hive."""

    def powershell(self, what: str, out: Emitter) -> Export | None:
        """JSON output of the POWERSHELL command `what` (appx, services, version)."""


class CapturedExports:
    """Captured files in one directory: rpm-qa.txt, *.reg, appx, services and version .json."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _read(self, path: Path, out: Emitter) -> Export | None:
        try:
            return Export(str(path), path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            out.note(f"{path}: illisible / unreadable ({exc.strerror or exc})")
            return None

    def rpm_query(self, out: Emitter) -> Export | None:
        """The captured `rpm -qa` output, if any."""
        return self._read(self.directory / "rpm-qa.txt", out)

    def registry(self, out: Emitter) -> list[Export]:
        """Every captured `.reg` export."""
        exports = (self._read(path, out) for path in sorted(self.directory.glob("*.reg")))
        return [export for export in exports if export is not None]

    def powershell(self, what: str, out: Emitter) -> Export | None:
        """The captured `<what>.json`, if any."""
        return self._read(self.directory / f"{what}.json", out)


def windows_system_directory() -> Path:
    """C:\\Windows\\System32 as Windows reports it (GetSystemDirectoryW), not from the
    environment, which the caller controls."""
    import ctypes

    buffer = ctypes.create_unicode_buffer(260)
    length = ctypes.windll.kernel32.GetSystemDirectoryW(buffer, 260)  # type: ignore[attr-defined]
    if not 0 < length < 260:
        raise OSError("GetSystemDirectoryW failed")
    return Path(buffer.value)


def system_program(name: str) -> str | None:
    """The full path of a system program, never found through PATH: on Windows in the system
    directory (`reg` → `…\\System32\\reg.exe`), elsewhere in the system's bin directories."""
    if sys.platform == "win32":
        system = windows_system_directory()
        found = {
            "reg": system / "reg.exe",
            "powershell": system / "WindowsPowerShell" / "v1.0" / "powershell.exe",
        }.get(name)
        return str(found) if found is not None and found.is_file() else None
    return shutil.which(name, path=POSIX_SYSTEM_PATH)


class LiveExports:
    """The commands of this machine: rpm on Linux, reg and PowerShell on Windows."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _run(self, command: list[str], out: Emitter, quiet: bool = False) -> bytes | None:
        program = system_program(command[0])
        if program is None:
            if not quiet:
                out.note(f"{command[0]} : introuvable / not found")
            return None
        command = [program, *command[1:]]
        try:
            done = subprocess.run(command, capture_output=True, timeout=COMMAND_TIMEOUT, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            if not quiet:  # a hive without an Uninstall key is normal, not worth a note
                out.note(f"{command[0]} {command[1]}: échec / failed ({type(exc).__name__})")
            return None
        return done.stdout

    def rpm_query(self, out: Emitter) -> Export | None:
        """Ask rpm when it is installed and a database exists under the root."""
        binary = system_program("rpm")
        databases = [path for path in rpm.DATABASE_PATHS if any((self.root / path).glob("*"))]
        if binary is None or not databases:
            return None
        # The database path is explicit: Debian's rpm, for one, defaults to ~/.rpmdb.
        command = ["rpm", "-qa", "--root", str(self.root), "--dbpath", f"/{databases[0]}"]
        command += ["--queryformat", rpm.QUERY_FORMAT]
        data = self._run(command, out)
        return Export("rpm -qa", data) if data is not None else None

    def registry(self, out: Emitter) -> list[Export]:
        """`reg export` each Uninstall key; nothing outside Windows."""
        if sys.platform != "win32":
            return []
        keys = [f"HKLM\\Software\\{UNINSTALL_KEY}", f"HKLM\\Software\\WOW6432Node\\{UNINSTALL_KEY}"]
        # Hive names (HKEY_USERS\S-1-5-21-…) are ASCII whatever the console code page.
        hives = (self._run(["reg", "query", "HKU"], out) or b"").decode("ascii", "replace")
        keys += [
            f"{line.strip()}\\Software\\{UNINSTALL_KEY}"
            for line in hives.splitlines()
            if line.strip().startswith("HKEY_USERS\\S-") and not line.strip().endswith("_Classes")
        ]
        exports = []
        with tempfile.TemporaryDirectory(prefix="tiebreak-reg-") as directory:
            for number, key in enumerate(keys):
                target = os.path.join(directory, f"{number}.reg")
                command = ["reg", "export", key, target, "/y", "/reg:64"]
                user = key.startswith("HKEY_USERS")
                if self._run(command, out, quiet=user) is not None:
                    # Notes name the hive by number: a SID would point at a person.
                    name = f"HKEY_USERS\\<{number - 1}>\\…\\Uninstall" if user else key
                    exports.append(Export(name, Path(target).read_bytes()))
        return exports

    def powershell(self, what: str, out: Emitter) -> Export | None:
        """Run one PowerShell query; nothing outside Windows."""
        if sys.platform != "win32":
            return None
        # UTF-8 output whatever the console code page, for accented names.
        script = f"[Console]::OutputEncoding = [Text.Encoding]::UTF8; {POWERSHELL[what]}"
        data = self._run(["powershell", "-NoProfile", "-Command", script], out)
        return Export(f"PowerShell {what}", data) if data is not None else None
