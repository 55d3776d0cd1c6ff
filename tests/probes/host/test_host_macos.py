"""The `host` probe on a macOS tree: application bundles' Info.plist and SystemVersion.plist."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from inventory import Observation
from probes.base import Emitter
from probes.host.macos import parse_info_plist, parse_plist

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "host"
MACOS = FIXTURES / "macos-workstation"
RunHost = Callable[..., Emitter]


def by_value(out: Emitter, channel: str) -> dict[str, Observation]:
    """Observations of one channel, by value."""
    return {o.value: o for o in out.observations if o.channel == channel}


def test_applications_xml_and_binary_plists(run_host: RunHost) -> None:
    out = run_host(MACOS)
    apps = by_value(out, "package.macos")
    assert apps["org.libreoffice.script"].attributes == {
        "source": "info-plist",
        "version": "24.8.4",
        "name": "LibreOffice",
    }
    assert apps["us.zoom.xos"].attributes["version"] == "6.3.1 (45300)"  # binary plist
    assert "org.mozilla.firefox" in apps  # one folder deeper: Applications/Utilities
    os_obs = by_value(out, "os")["macos"]
    assert os_obs.attributes["version"] == "14.4.1"
    assert os_obs.attributes["build"] == "23E224"
    assert out.notes == []


def test_macos_findings(run_host: RunHost) -> None:
    from fingerprints.engine import analyse

    products = {f.product for f in analyse(run_host(MACOS).observations).findings}
    expected = {"apple-macos", "libreoffice", "zoom", "microsoft-teams", "firefox"}
    assert expected <= products, expected - products


def test_damaged_info_plist_is_a_note(tmp_path: Path, run_host: RunHost) -> None:
    root = tmp_path / "mac"
    shutil.copytree(MACOS, root)
    damaged = root / "Applications/Microsoft Teams.app/Contents/Info.plist"
    damaged.write_bytes(damaged.read_bytes()[:200])
    out = run_host(root)
    apps = by_value(out, "package.macos")
    assert "com.microsoft.teams2" not in apps
    assert {"org.libreoffice.script", "us.zoom.xos", "org.mozilla.firefox"} <= set(apps)
    assert len(out.notes) == 1 and str(damaged) in out.notes[0]


def test_info_plist_without_bundle_id() -> None:
    assert parse_info_plist({"CFBundleName": "Sans identifiant"}) is None
    info = parse_plist(
        b'<?xml version="1.0"?><plist><dict><key>CFBundleIdentifier</key>'
        b"<string>com.example.App</string><key>CFBundleVersion</key>"
        b"<string>12</string></dict></plist>"
    )
    package = parse_info_plist(info)
    assert package is not None and package.version == "12"
