"""The `host` probe on a macOS tree: application bundles' Info.plist, the signing Team ID of their
executables, and SystemVersion.plist."""

from __future__ import annotations

import os
import plistlib
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


NODE = Path(__file__).resolve().parent / "data" / "macho" / "node-arm64-signature.macho"
NODE_TEAM = "HX7739G8FX"  # Developer ID Application: Node.js Foundation (data/macho/README.md)


def add_app(root: Path, name: str, bundle_id: str, executable: str) -> Path:
    """An application bundle whose Info.plist names `executable`; its Contents/MacOS folder."""
    contents = root / "Applications" / f"{name}.app" / "Contents"
    (contents / "MacOS").mkdir(parents=True)
    info = {
        "CFBundleIdentifier": bundle_id,
        "CFBundleName": name,
        "CFBundleExecutable": executable,
        "CFBundleShortVersionString": "1.0",
    }
    (contents / "Info.plist").write_bytes(plistlib.dumps(info))
    return contents / "MacOS"


def test_the_team_id_of_a_signed_application(tmp_path: Path, run_host: RunHost) -> None:
    root = tmp_path / "mac"
    shutil.copytree(MACOS, root)
    # The real Node.js executable's signature (trimmed) as a test bundle's executable.
    shutil.copy(NODE, add_app(root, "Node", "com.example.node", "node") / "node")
    out = run_host(root)
    apps = by_value(out, "package.macos")
    assert apps["com.example.node"].attributes == {
        "source": "info-plist",
        "version": "1.0",
        "name": "Node",
        "team_id": NODE_TEAM,
    }
    # The fixture's other bundles have no executable: no team id, and nothing to note.
    assert all("team_id" not in apps[app].attributes for app in apps if app != "com.example.node")
    assert out.notes == []


def test_refused_or_damaged_executables_are_notes(tmp_path: Path, run_host: RunHost) -> None:
    root = tmp_path / "mac"
    shutil.copytree(MACOS, root)
    outside = tmp_path / "outside"
    shutil.copy(NODE, outside)
    os.symlink(outside, add_app(root, "Linked", "com.example.linked", "linked") / "linked")
    add_app(root, "Escaping", "com.example.escaping", "../../../../outside")
    os.mkfifo(add_app(root, "Fifo", "com.example.fifo", "fifo") / "fifo")
    (add_app(root, "Folder", "com.example.folder", "folder") / "folder").mkdir()
    folder = add_app(root, "LinkedFolder", "com.example.linkedfolder", "node")
    folder.rmdir()
    folder.symlink_to(NODE.parent, target_is_directory=True)  # Contents/MacOS elsewhere
    truncated = add_app(root, "Truncated", "com.example.truncated", "app") / "app"
    truncated.write_bytes(NODE.read_bytes()[:3000])
    unsigned = add_app(root, "Script", "com.example.script", "run") / "run"
    unsigned.write_bytes(b"#!/bin/sh\nexec java -jar app.jar\n")
    out = run_host(root)
    apps = by_value(out, "package.macos")
    refused = {
        "Escaping": "outside the bundle",
        "Fifo": "not a regular file",
        "Folder": "not a regular file",
        "Linked": "symbolic link refused",
        "LinkedFolder": "symbolic link",  # "or not a folder" on Linux (ENOTDIR), macOS: ELOOP
        "Truncated": "signature outside the file",
    }
    for name in [*refused, "Script"]:
        attributes = apps[f"com.example.{name.lower()}"].attributes
        assert attributes["name"] == name and "team_id" not in attributes
    assert {"org.libreoffice.script", "us.zoom.xos", "org.mozilla.firefox"} <= set(apps)
    assert len(out.notes) == len(refused)  # a script is not a Mach-O: nothing to note
    for (name, reason), note in zip(sorted(refused.items()), sorted(out.notes), strict=True):
        assert note.startswith(f"{root / 'Applications' / name}.app: signature illisible / ")
        assert reason in note.rpartition(" (")[2]


def test_a_team_id_names_the_vendor_through_the_engine(tmp_path: Path, run_host: RunHost) -> None:
    from fingerprints.catalog import load_catalog
    from fingerprints.engine import Engine, vendor_product_id

    root = tmp_path / "mac"
    shutil.copytree(MACOS, root)
    shutil.copy(NODE, add_app(root, "Node", "com.example.node", "node") / "node")
    catalog_dir = tmp_path / "catalog"
    catalog_dir.mkdir()
    (catalog_dir / "acme.toml").write_text(
        "[vendor]\n"
        'id = "acme"\nname = "Acme"\nlegal_name = "Acme Corporation"\ncountry = "US"\n'
        f'website = "https://acme.example"\nteam_ids = ["{NODE_TEAM}"]\n'
        "[vendor.sources]\n"
        'country = "test fixture"\nteam_ids = "test fixture"\n'
    )
    out = run_host(root)
    found = Engine(load_catalog(catalog_dir)).analyse(out.observations)
    node = by_value(out, "package.macos")["com.example.node"]
    (finding,) = found.findings
    assert finding.product == vendor_product_id("acme")
    assert finding.evidence == [node.id]
    assert finding.matched == [f"package.macos team_id {NODE_TEAM}"]
    assert node.id not in found.unidentified
