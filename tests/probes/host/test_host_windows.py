"""The `host` probe on Windows exports: registry Uninstall keys, AppX, services and edition.

No Windows machine runs here: the probe reads exports in the formats Windows writes them
(`reg export`: UTF-16 LE with BOM; PowerShell `ConvertTo-Json`), see tests/fixtures/host/README.md.
"""

from __future__ import annotations

import codecs
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from inventory import Observation
from probes.base import Emitter
from probes.host.pwsh import json_objects
from probes.host.regfile import parse_reg_export
from probes.host.windows import parse_windows_version, uninstall_source, windows_os_value

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "host"
WINDOWS = FIXTURES / "windows-workstation"
RunHost = Callable[..., Emitter]


def by_value(out: Emitter, channel: str) -> dict[str, Observation]:
    """Observations of one channel, by value."""
    return {o.value: o for o in out.observations if o.channel == channel}


@pytest.fixture
def windows(tmp_path: Path, run_host: RunHost) -> Emitter:
    """The probe run on an empty root with the Windows workstation's captured exports."""
    return run_host(tmp_path, captured=WINDOWS, hostname="PC-ACCUEIL")


def test_reg_export_values_escapes_and_continued_hex() -> None:
    text = (WINDOWS / "uninstall-hklm.reg").read_bytes().decode("utf-16")
    export = parse_reg_export(text)
    teams = export.keys[
        "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\"
        "{731F6BAA-A986-45A4-8936-7C3AAAAA760B}"
    ]
    assert teams["ModifyPath"] == "MsiExec.exe /I{731F6BAA-A986-45A4-8936-7C3AAAAA760B}"
    assert teams["Language"] == 0x409
    assert teams["AuthorizedCDFPrefix"] == ""
    office = export.keys[
        "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\"
        "O365ProPlusRetail - fr-fr"
    ]
    uninstall = office["UninstallString"]
    assert isinstance(uninstall, str)
    assert uninstall.startswith('"C:\\Program Files\\Common Files\\Microsoft Shared\\')
    assert export.bad_lines == []


def test_uninstall_source_by_key_path() -> None:
    base = "\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\X"
    assert uninstall_source("HKEY_LOCAL_MACHINE\\SOFTWARE" + base) == ("registry-hklm", "")
    assert uninstall_source("HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node" + base) == (
        "registry-hklm-wow64",
        "x86",
    )
    assert uninstall_source("HKEY_USERS\\S-1-5-21-1-2-3-1001\\Software" + base) == (
        "registry-user",
        "",
    )
    assert uninstall_source("HKEY_LOCAL_MACHINE\\SOFTWARE" + base + "\\Sub") is None
    assert uninstall_source("HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\Run") is None


def test_installed_programs_from_every_view_and_user_hive(windows: Emitter) -> None:
    packages = by_value(windows, "package.windows")
    office = packages["Microsoft 365 Apps for enterprise - fr-fr"]
    assert office.attributes == {
        "source": "registry-hklm",
        "version": "16.0.17928.20156",
        "publisher": "Microsoft Corporation",
    }
    assert packages["Adobe Acrobat Reader DC - Français"].attributes["source"] == (
        "registry-hklm-wow64"
    )
    assert packages["Adobe Acrobat Reader DC - Français"].attributes["arch"] == "x86"
    # Per-user installs: only in the users' hives, counted, never named.
    assert packages["Zoom"].attributes["source"] == "registry-user"
    assert packages["Zoom"].attributes["users"] == 2
    assert packages["Dropbox"].attributes["users"] == 1
    # Chrome machine-wide and per user: one observation, machine-wide first.
    assert packages["Google Chrome"].attributes["source"] == "registry-hklm-wow64"
    assert packages["Google Chrome"].attributes["users"] == 1
    # Updates are not programs; hidden components are flagged.
    assert not any("KB5002623" in name for name in packages)
    component = packages["Office 16 Click-to-Run Extensibility Component"]
    assert component.attributes["system_component"] is True
    assert "system_component" not in packages["Microsoft Edge"].attributes


def test_appx_services_and_edition(windows: Emitter) -> None:
    packages = by_value(windows, "package.windows")
    assert packages["MSTeams"].attributes == {
        "source": "appx",
        "version": "24295.605.3225.8804",
        "publisher": "Microsoft Corporation",
        "arch": "x64",
    }
    assert "Microsoft.VCLibs.140.00.UWPDesktop" not in packages  # a framework
    services = by_value(windows, "service")
    assert services["ekrn"].attributes == {
        "source": "windows",
        "display_name": "ESET Service",
        "status": "running",
        "start_type": "automatic",
    }
    assert services["WinDefend"].attributes["start_type"] == "disabled"
    os_obs = by_value(windows, "os")["windows"]
    assert os_obs.attributes["name"] == "Windows 11 Pro"  # ProductName says Windows 10
    assert os_obs.attributes["build"] == "22631.4602"
    assert os_obs.attributes["version"] == "23H2"
    assert windows.notes == []


def test_no_user_name_or_sid_reaches_the_observations(windows: Emitter) -> None:
    dumped = str([o.model_dump() for o in windows.observations])
    assert "j.martin" not in dumped and "c.bernard" not in dumped
    assert "S-1-5-21" not in dumped and "AppData" not in dumped


def test_windows_findings(windows: Emitter) -> None:
    from fingerprints.engine import analyse

    products = {f.product: f for f in analyse(windows.observations).findings}
    expected = {
        "microsoft-windows",
        "microsoft-365-apps",
        "microsoft-teams",
        "google-chrome",
        "zoom",
        "adobe-acrobat-reader",
        "eset-endpoint",
        "microsoft-edge",
        "firefox",
        "dropbox",
    }
    assert expected <= set(products), expected - set(products)
    assert products["zoom"].jurisdiction.value == "non-eu"
    assert products["eset-endpoint"].jurisdiction.value == "eu"


def test_windows_version_of_a_server() -> None:
    version = parse_windows_version(
        {
            "ProductName": "Windows Server 2022 Standard",
            "CurrentBuild": "20348",
            "UBR": 2849,
            "EditionID": "ServerStandard",
            "InstallationType": "Server",
        }
    )
    assert version["name"] == "Windows Server 2022 Standard"
    assert version["build"] == "20348.2849"
    assert windows_os_value(version) == "Windows Server 2022 Standard"
    assert windows_os_value(parse_windows_version({"ProductName": "Windows 10 Pro"})) == "windows"


def test_windows_server_finding(tmp_path: Path, run_host: RunHost) -> None:
    from fingerprints.engine import analyse

    captured = tmp_path / "captured"
    captured.mkdir()
    (captured / "version.json").write_text(
        '{"ProductName": "Windows Server 2022 Standard", "CurrentBuild": "20348", '
        '"EditionID": "ServerStandard", "InstallationType": "Server"}',
        encoding="utf-8",
    )
    products = {f.product: f for f in analyse(run_host(tmp_path, captured).observations).findings}
    assert products["microsoft-windows-server"].version == "2022"
    assert "microsoft-windows" not in products


def test_invalid_utf16_keeps_the_readable_entries(tmp_path: Path, run_host: RunHost) -> None:
    captured = tmp_path / "captured"
    captured.mkdir()
    data = (WINDOWS / "uninstall-users.reg").read_bytes()
    middle = data.index('"DisplayVersion"="6.0.2'.encode("utf-16-le"))
    # A lone high surrogate (0xD800) followed by a letter is invalid UTF-16.
    (captured / "users.reg").write_bytes(data[:middle] + b"\x00\xd8A\x00" + data[middle:])
    out = run_host(tmp_path / "root", captured=captured)
    assert {"Zoom", "Dropbox"} <= set(by_value(out, "package.windows"))
    assert any(str(captured / "users.reg") in n and "invalid encoding" in n for n in out.notes)
    assert any(str(captured / "users.reg") in n and "unreadable line" in n for n in out.notes)


def test_truncated_registry_export_and_json(tmp_path: Path, run_host: RunHost) -> None:
    captured = tmp_path / "captured"
    shutil.copytree(WINDOWS, captured)
    hklm = (captured / "uninstall-hklm.reg").read_bytes()
    cut = hklm.index("Mozilla Firefox ESR".encode("utf-16-le"))
    (captured / "uninstall-hklm.reg").write_bytes(hklm[:cut])
    appx = (captured / "appx.json").read_bytes()
    (captured / "appx.json").write_bytes(appx[: appx.index(b"Microsoft.WindowsStore")])
    (captured / "services.json").write_bytes(codecs.BOM_UTF16_LE + "{[".encode("utf-16-le"))
    out = run_host(tmp_path / "root", captured=captured)
    packages = by_value(out, "package.windows")
    assert "ESET Endpoint Antivirus" in packages and "Mozilla Firefox ESR (x64 fr)" not in packages
    assert "MSTeams" in packages and "Microsoft.OutlookForWindows" not in packages
    assert "Zoom" in packages  # the other exports are untouched
    assert not by_value(out, "service")
    assert any("uninstall-hklm.reg" in n and "unreadable line" in n for n in out.notes)
    assert any("appx.json" in n and "JSON" in n for n in out.notes)
    assert any("services.json" in n for n in out.notes)


def test_json_objects_shapes() -> None:
    assert json_objects('{"Name": "a"}') == ([{"Name": "a"}], None)
    assert json_objects("") == ([], None)
    objects, problem = json_objects('[{"Name": "a"}, 3]')
    assert objects == [{"Name": "a"}] and problem


REG = r"""#!/bin/sh
# Stand-in for reg.exe: answers from the captured exports (no Windows here).
case "$1" in
query)
    printf 'HKEY_USERS\\.DEFAULT\r\nHKEY_USERS\\S-1-5-19\r\n'
    printf 'HKEY_USERS\\S-1-5-21-7-8-9-1013\r\nHKEY_USERS\\S-1-5-21-7-8-9-1013_Classes\r\n' ;;
export)
    case "$2" in
    'HKLM\Software\Microsoft\'*) cp "$FIXTURE/uninstall-hklm.reg" "$3" ;;
    'HKLM\Software\WOW6432Node\'*) cp "$FIXTURE/uninstall-hklm-wow64.reg" "$3" ;;
    'HKEY_USERS\S-1-5-21-7-8-9-1013\Software\'*) cp "$FIXTURE/uninstall-users.reg" "$3" ;;
    *) echo "ERREUR : le système n'a pas trouvé la clé" >&2; exit 1 ;;
    esac ;;
esac
"""

POWERSHELL = r"""#!/bin/sh
# Stand-in for powershell.exe: the captured output of the query it is given.
echo "$@" >> "$FIXTURE_LOG"
case "$*" in
*Get-AppxPackage*) cat "$FIXTURE/appx.json" ;;
*Get-Service*) cat "$FIXTURE/services.json" ;;
*CurrentVersion*) cat "$FIXTURE/version.json" ;;
esac
"""


def test_live_exports_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Windows command lines, run against stand-ins of reg.exe and powershell.exe."""
    import sys

    from probes.base import ProbeContext
    from probes.host import exports
    from probes.host.exports import LiveExports
    from probes.host.probe import HostProbe

    # Stand-ins where Windows keeps the real programs (the system directory, never PATH).
    system = tmp_path / "System32"
    for path, script in (
        (system / "reg.exe", REG),
        (system / "WindowsPowerShell" / "v1.0" / "powershell.exe", POWERSHELL),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script, encoding="utf-8")
        path.chmod(0o755)
    monkeypatch.setattr(exports, "windows_system_directory", lambda: system)
    log = tmp_path / "powershell.log"
    monkeypatch.setenv("FIXTURE", str(WINDOWS))
    monkeypatch.setenv("FIXTURE_LOG", str(log))
    monkeypatch.setattr(sys, "platform", "win32")
    out = Emitter("host", HostProbe.channels)
    HostProbe(LiveExports(tmp_path / "root")).run(ProbeContext(root=tmp_path / "root"), out)
    packages = by_value(out, "package.windows")
    assert packages["Zoom"].attributes["users"] == 2  # the one export answered holds two hives
    assert packages["Dropbox"].attributes["source"] == "registry-user"
    assert {"MSTeams", "Microsoft 365 Apps for enterprise - fr-fr", "Google Chrome"} <= set(
        packages
    )
    assert by_value(out, "os")["windows"].attributes["name"] == "Windows 11 Pro"
    assert "ekrn" in by_value(out, "service")
    assert out.notes == []  # S-1-5-19 has no Uninstall key: normal, no note
    assert log.read_text(encoding="utf-8").count("[Text.Encoding]::UTF8") == 3


def test_windows_programs_are_run_by_their_full_system_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A `reg.exe` planted in the current directory or on PATH is never the one run."""
    import subprocess

    from probes.host import exports

    system = tmp_path / "System32"
    (system / "WindowsPowerShell" / "v1.0").mkdir(parents=True)
    (system / "reg.exe").write_bytes(b"")
    (system / "WindowsPowerShell" / "v1.0" / "powershell.exe").write_bytes(b"")
    monkeypatch.setattr(exports.sys, "platform", "win32")
    monkeypatch.setattr(exports, "windows_system_directory", lambda: system)
    monkeypatch.setenv("PATH", str(tmp_path / "planted"))
    ran: list[list[str]] = []

    def record(command: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        ran.append(command)
        if command[1] == "export":
            Path(command[3]).write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, b"", b"")

    monkeypatch.setattr(exports.subprocess, "run", record)
    live = exports.LiveExports(tmp_path)
    notes: list[str] = []
    out = type("Out", (), {"note": lambda self, text: notes.append(text)})()
    live.powershell("services", out)  # type: ignore[arg-type]
    live.registry(out)  # type: ignore[arg-type]  (`reg query HKU`, then exports)
    assert ran, notes
    assert {command[0] for command in ran} == {
        str(system / "WindowsPowerShell" / "v1.0" / "powershell.exe"),
        str(system / "reg.exe"),
    }
