"""Small catalogs written to temporary directories, for tests that must not depend on the data.

Tests get the sample texts through the `samples` fixture (pytest imports test modules with
`importlib`, so they cannot import this module).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fingerprints.catalog import Catalog, load_catalog

MICROSOFT = """
[vendor]
id = "microsoft"
name = "Microsoft"
legal_name = "Microsoft Corporation"
country = "US"
website = "https://www.microsoft.com"

[vendor.sources]
country = "test fixture"

[[products]]
id = "microsoft-365"
name = "Microsoft 365"
category = "logiciel"
domain = "collaboration"
licence = "proprietary"
open_source = false
deployment = "saas"
criticality = "high"
replaceability = "hard"
alternatives = ["libreoffice"]

[[products.matchers]]
channel = "dns.txt"
kind = "prefix"
pattern = "MS="
confidence = "weak"
match = ["MS=ms12345678"]
no_match = ["v=spf1 -all"]

[[products.matchers]]
channel = "dns.dkim"
kind = "regex"
pattern = 'selector[12]-[a-z0-9-]+\\._domainkey\\.(?P<tenant>[a-z0-9-]+)\\.onmicrosoft\\.com'
match = ["selector1-commune-fr._domainkey.communefr.onmicrosoft.com"]
no_match = ["selector1._domainkey.example.com"]

[[products]]
id = "exchange-online"
name = "Exchange Online"
category = "infrastructure"
domain = "messagerie"
licence = "proprietary"
open_source = false
deployment = "saas"
criticality = "critical"
replaceability = "hard"
implies = ["microsoft-365"]
alternatives = ["libreoffice"]

[[products.matchers]]
channel = "dns.mx"
kind = "suffix"
pattern = "mail.protection.outlook.com"
match = ["commune-fr.mail.protection.outlook.com"]
no_match = ["evil-outlook.com", "mail.protection.outlook.com.attacker.fr"]

[[products.matchers]]
channel = "dns.txt"
kind = "exact"
pattern = "v=verifydomain MS=old"
confidence = "weak"
usage = "former"
match = ["v=verifydomain MS=old"]
no_match = ["v=verifydomain"]

[[products.matchers]]
channel = "dns.a"
kind = "cidr"
pattern = "40.92.0.0/15"
match = ["40.93.1.2"]
no_match = ["40.94.0.1"]

[[products]]
id = "microsoft-iis"
name = "Internet Information Services"
category = "infrastructure"
domain = "web"
licence = "proprietary"
open_source = false
deployment = "on-premise"

[[products.matchers]]
channel = "nmap.service"
kind = "regex"
pattern = 'Microsoft IIS httpd(?: (?P<version>[0-9.]+))?'
match = ["Microsoft IIS httpd", "Microsoft IIS httpd 10.0"]
no_match = ["Apache httpd"]

[[products.matchers]]
channel = "nmap.cpe"
kind = "cpe"
pattern = "microsoft:internet_information_services"
match = ["cpe:/a:microsoft:internet_information_services:10.0"]
no_match = ["cpe:/a:apache:http_server:2.4"]
"""

TDF = """
[vendor]
id = "the-document-foundation"
name = "The Document Foundation"
legal_name = "The Document Foundation"
country = "DE"
website = "https://www.documentfoundation.org"

[vendor.sources]
country = "test fixture"

[[products]]
id = "libreoffice"
name = "LibreOffice"
category = "poste-de-travail"
domain = "bureautique"
licence = "MPL-2.0"
open_source = true
deployment = "on-premise"
sill = "78"
wikidata = "Q10135"
criticality = "high"
replaceability = "easy"

[[products.matchers]]
channel = "package"
kind = "exact"
pattern = "libreoffice-core"
match = ["libreoffice-core"]
no_match = ["libreoffice-core-nogui"]

[[products.matchers]]
channel = "package.windows"
kind = "regex"
pattern = 'LibreOffice (?P<version>[0-9][0-9.]*)'
match = ["LibreOffice 24.8.4.2"]
no_match = ["LibreOffice 24.8 Help Pack (French)"]
"""

SAMPLE = {"microsoft": MICROSOFT, "the-document-foundation": TDF}


def vendor_file(
    vendor_id: str,
    country: str = "FR",
    parent: str | None = None,
    community: bool = False,
    extra: str = "",
) -> str:
    """A catalog file holding one vendor without products."""
    lines = [
        "[vendor]",
        f'id = "{vendor_id}"',
        f'name = "{vendor_id.title()}"',
        f'legal_name = "{vendor_id.title()} SA"',
        f'website = "https://{vendor_id}.example"',
        f"community = {'true' if community else 'false'}",
        f'country = "{country}"',
    ]
    if parent:
        lines.append(f'parent = "{parent}"')
    lines.append(extra)
    lines += ["[vendor.sources]", 'country = "test fixture"']
    if parent:
        lines.append('parent = "test fixture"')
    return "\n".join(lines) + "\n"


CatalogFactory = Callable[[dict[str, str]], Path]


@pytest.fixture
def catalog_dir(tmp_path: Path) -> CatalogFactory:
    """Write `{vendor id: TOML text}` as catalog files; return the directory."""

    def write(files: dict[str, str]) -> Path:
        directory = tmp_path / "catalog"
        directory.mkdir(exist_ok=True)
        for name, text in files.items():
            (directory / f"{name}.toml").write_text(textwrap.dedent(text), encoding="utf-8")
        return directory

    return write


@pytest.fixture
def sample(catalog_dir: CatalogFactory) -> Catalog:
    """Microsoft (three products) and The Document Foundation (LibreOffice)."""
    return load_catalog(catalog_dir(SAMPLE))


@dataclass(frozen=True)
class Samples:
    """The sample catalog texts and the bare-vendor builder."""

    microsoft: str = MICROSOFT
    tdf: str = TDF
    files: dict[str, str] = field(default_factory=lambda: dict(SAMPLE))

    def vendor(
        self, vendor_id: str, country: str = "FR", parent: str | None = None, **more: Any
    ) -> str:
        """A catalog file holding one vendor without products."""
        return vendor_file(vendor_id, country, parent, **more)


@pytest.fixture
def samples() -> Samples:
    """The sample catalog texts."""
    return Samples()
