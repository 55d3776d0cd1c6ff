"""Process names and install folders of real Windows executables through the catalog: precision.

xcyclopedia (strontic/strontic.github.io, `xcyclopedia/library/*.md`) records executables found
on real Windows installs, each with its path, the `Company Name` of its version resource and the
subject of its code signature. Each `.exe` is observed here as the processes probe would see it
running (its lower-case name, and the install `folder` of its path), and every finding is compared
with who made the file: a finding whose vendor's words (name, legal name, declared publishers)
appear in neither the company name nor the signer is listed, for a person to judge. The corpus
(`fingerprints.evaluate`) measures recall on chosen names; this measures what the process
matchers and the declared folders claim on thousands of real files.

The data is not shipped (the repository states no licence): fetch it, then
`python -m fingerprints.xcyclopedia DIR` (DIR holds the `*.md` files), which prints the counts and
the findings whose vendor differs from the file's maker.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import JsonValue

from fingerprints.catalog import Catalog, load_catalog
from fingerprints.engine import VENDOR_PRODUCT_PREFIX, Engine
from inventory import Observation
from inventory.folders import install_folder

_PATH = re.compile(r"^\* File Path: `([^`]+)`", re.MULTILINE)
_COMPANY = re.compile(r"^\* Company Name: (.*)$", re.MULTILINE)
_SUBJECT = re.compile(r"^\* Subject: (.*)$", re.MULTILINE)
_WORD = re.compile(r"[a-z0-9]{3,}")
# Words of company names that tell no vendor from another.
_COMMON = frozenset(
    {
        "inc", "ltd", "llc", "gmbh", "corporation", "corp", "the", "and", "systems", "software",
        "technologies", "group", "company", "limited", "services",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Executable:
    """One recorded file: where it was installed and who made it."""

    path: str
    company: str
    signer: str

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1].lower()


@dataclass(frozen=True, slots=True)
class Claim:
    """A finding on one executable."""

    executable: Executable
    product: str
    vendor: str
    confidence: str
    agrees: bool | None  # None: the file names no maker

    @property
    def vendor_level(self) -> bool:
        return self.product.startswith(VENDOR_PRODUCT_PREFIX)


def read_record(text: str) -> Executable | None:
    """The executable an xcyclopedia page describes; None for another kind of file."""
    path = _PATH.search(text)
    if path is None or not path[1].lower().endswith(".exe"):
        return None
    company = _COMPANY.search(text)
    signer = _SUBJECT.search(text)
    return Executable(
        path[1], company[1].strip() if company else "", signer[1].strip() if signer else ""
    )


def read_directory(directory: Path) -> list[Executable]:
    """Every executable of the `*.md` pages of `directory`, in file name order."""
    found = []
    for page in sorted(directory.glob("*.md")):
        record = read_record(page.read_text(encoding="utf-8-sig", errors="replace"))
        if record is not None:
            found.append(record)
    return found


def _words(catalog: Catalog, vendor_id: str) -> set[str]:
    vendor = catalog.vendors[vendor_id]
    names = (vendor.name, vendor.legal_name or "", *vendor.publishers)
    return {word for name in names for word in _WORD.findall(name.lower())} - _COMMON


def claims(executables: Sequence[Executable], engine: Engine) -> list[Claim]:
    """Every finding (not implied) on the executables, observed as running processes."""
    observations = []
    for number, executable in enumerate(executables):
        attributes: dict[str, JsonValue] = {"count": 1}
        folder = install_folder(executable.path)
        if folder is not None:
            attributes["folder"] = folder
        observations.append(
            Observation.make("processes", "process", f"file-{number}", executable.name, attributes)
        )
    found = []
    words: dict[str, set[str]] = {}
    for finding in engine.analyse(observations).findings:
        if finding.implied_by is not None:
            continue
        executable = executables[int(finding.locus.removeprefix("file-"))]
        vendor = (
            finding.product.removeprefix(VENDOR_PRODUCT_PREFIX)
            if finding.product.startswith(VENDOR_PRODUCT_PREFIX)
            else engine.vendor_of[finding.product]
        )
        if vendor not in words:
            words[vendor] = _words(engine.catalog, vendor)
        maker = f"{executable.company} {executable.signer}".lower()
        agrees = None if not maker.strip() else any(w in maker for w in words[vendor])
        found.append(Claim(executable, finding.product, vendor, finding.confidence.value, agrees))
    return found


def summary(found: Iterable[Claim]) -> Counter[tuple[str, str]]:
    """Claims counted by level (product, vendor-level) and verdict."""
    verdicts = {True: "agrees", False: "differs", None: "no maker"}
    return Counter(
        ("vendor-level" if claim.vendor_level else "product", verdicts[claim.agrees])
        for claim in found
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path, help="xcyclopedia/library of a checkout")
    parser.add_argument("--dir", type=Path, help="catalog directory (default: the shipped one)")
    args = parser.parse_args(argv)
    executables = read_directory(args.directory)
    found = claims(executables, Engine(load_catalog(args.dir)))
    folders = sum(1 for e in executables if install_folder(e.path) is not None)
    print(
        f"{len(executables)} exécutables, {folders} dans un dossier d'éditeur / "
        "executables, in a vendor folder"
    )
    for (level, verdict), count in sorted(summary(found).items()):
        print(f"{level} {verdict}: {count}")
    for claim in found:
        if claim.agrees is False:
            e = claim.executable
            print(
                f"≠ {claim.product} ({claim.confidence}) {e.path} | {e.company} | {e.signer[:80]}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
