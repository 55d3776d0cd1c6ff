"""The xcyclopedia replay: recorded Windows executables observed as running processes, each
finding compared with the file's maker. Pages trimmed from strontic/strontic.github.io@c7fd71fd
(`xcyclopedia/library/`): path, company name and signer as recorded there."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingerprints.engine import default_engine
from fingerprints.xcyclopedia import claims, main, read_directory, read_record, summary

PAGES = {
    # Known by its name: TeamViewer's service.
    "TeamViewer_Service.exe-2DB0780E64459956EF08F84776DE1DC6.md": (
        r"C:\Program Files (x86)\TeamViewer\TeamViewer_Service.exe",
        "TeamViewer Germany GmbH",
        "CN=TeamViewer Germany GmbH, O=TeamViewer Germany GmbH, C=DE",
    ),
    # Known by its folder only: a Zoom executable no matcher names.
    "Installer.exe-zoom.md": (
        r"C:\Program Files (x86)\Zoom\bin\Installer.exe",
        "Zoom Video Communications, Inc.",
        'CN="Zoom Video Communications, Inc.", O="Zoom Video Communications, Inc.", C=US',
    ),
    # Chromium's helper in Opera's folder: not Chrome's.
    "notification_helper.exe-opera.md": (
        r"C:\Program Files\Opera\70.0.3728.133\notification_helper.exe",
        "The Chromium Authors",
        "CN=Opera Software AS, O=Opera Software AS, L=Oslo, C=NO",
    ),
    # An OpenJDK build by Amazon: the product is right, its maker is not the catalog's vendor.
    "jabswitch.exe-corretto.md": (
        r"C:\Program Files\Amazon Corretto\jdk1.8.0_265\bin\jabswitch.exe",
        "Amazon.com Inc.",
        "CN=Amazon.com Services LLC, O=Amazon.com Services LLC, C=US",
    ),
}


def page(path: str, company: str, signer: str) -> str:
    return (
        "\ufeff---\ntitle: x\n---\n\n"
        f"* File Path: `{path}`\n* Description: x\n\n## Signature\n\n"
        f"* Status: Signature verified.\n* Subject: {signer}\n\n## File Metadata\n\n"
        f"* Company Name: {company}\n* File Version: 1.0\n"
    )


@pytest.fixture
def library(tmp_path: Path) -> Path:
    for name, fields in PAGES.items():
        (tmp_path / name).write_text(page(*fields), encoding="utf-8")
    (tmp_path / "msvcp140.dll-0.md").write_text(
        page(r"C:\Windows\System32\msvcp140.dll", "Microsoft Corporation", "CN=Microsoft"),
        encoding="utf-8",
    )
    return tmp_path


def test_records_are_read_and_only_executables_kept(library: Path) -> None:
    executables = read_directory(library)
    assert [e.name for e in executables] == [
        "installer.exe",
        "teamviewer_service.exe",
        "jabswitch.exe",
        "notification_helper.exe",
    ]
    assert executables[1].company == "TeamViewer Germany GmbH"
    assert read_record("no path here") is None


def test_claims_compare_each_finding_with_the_maker(library: Path) -> None:
    found = {c.executable.name: c for c in claims(read_directory(library), default_engine())}
    assert set(found) == {"installer.exe", "teamviewer_service.exe", "jabswitch.exe"}
    assert found["teamviewer_service.exe"].product == "teamviewer"
    assert found["teamviewer_service.exe"].agrees is True
    assert found["installer.exe"].product == "vendor:zoom"
    assert found["installer.exe"].vendor_level and found["installer.exe"].agrees is True
    assert found["jabswitch.exe"].agrees is False
    assert summary(found.values()) == {
        ("product", "agrees"): 1,
        ("vendor-level", "agrees"): 1,
        ("product", "differs"): 1,
    }


def test_the_command_prints_counts_and_differences(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(library)]) == 0
    printed = capsys.readouterr().out
    assert "4 exécutables, 4 dans un dossier d'éditeur" in printed
    assert "product differs: 1" in printed
    assert "≠ openjdk (weak) C:\\Program Files\\Amazon Corretto" in printed
