"""Every package name of a whole distribution archive through the catalog: precision at scale.

The corpus (`fingerprints.evaluate`) measures recall and false positives on a few hundred chosen
names. This measures the other side on all of them: the 63,681 binary package names of Debian 12
"bookworm" (main, amd64, with bookworm-updates and bookworm-security), each observed as a dpkg
package. Almost none is a catalog product; the few the catalog claims are listed, reviewed, in
`corpus/debian/claims.csv` (`value,expected`): Debian's `slack` claimed as Salesforce Slack, or a
new matcher that swallows `zoom-player`, shows up as a claim that is not in the list.

`python -m fingerprints.sweep` prints the claims that differ from the reviewed list;
`--names FILE` reads another list of names (one per line, or a Debian `Packages` file, plain or
gzip); `--update-names` rebuilds the shipped list from this machine's apt lists
(`/var/lib/apt/lists/*bookworm*_main_binary-amd64_Packages*`, lz4 through `lz4cat`).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fingerprints.catalog import Catalog, default_catalog
from fingerprints.engine import Engine
from inventory import Observation

DEBIAN_DIR = Path(__file__).with_name("corpus") / "debian"
NAMES = DEBIAN_DIR / "bookworm-names.txt.gz"
"""Package names of Debian 12 (one per line, sorted, gzip); provenance in the folder's README."""
CLAIMS = DEBIAN_DIR / "claims.csv"
"""The reviewed claims: `value,expected` (product id) for every name the catalog recognises."""

APT_LISTS = Path("/var/lib/apt/lists")
SUITES = ("bookworm", "bookworm-updates", "bookworm-security")


@dataclass(frozen=True, slots=True)
class Difference:
    """Claims the catalog makes that the list lacks, and listed claims it no longer makes."""

    new: list[tuple[str, str]]
    lost: list[tuple[str, str]]
    names: int
    claims: int

    @property
    def clean(self) -> bool:
        return not self.new and not self.lost


def read_names(path: Path) -> list[str]:
    """Names from a list (one per line) or a Debian `Packages` file; gzip is read too."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    if "\nPackage: " in text or text.startswith("Package: "):
        return sorted(_packages(text))
    return sorted({line.strip() for line in text.splitlines() if line.strip()})


def _packages(text: str) -> set[str]:
    """The `Package:` fields of a Debian `Packages` file."""
    return {line[9:].strip() for line in text.splitlines() if line.startswith("Package: ")}


def read_claims(path: Path = CLAIMS) -> set[tuple[str, str]]:
    """The reviewed `(name, product)` claims."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [line for line in handle if not line.startswith("#")]
    return {(row["value"], row["expected"]) for row in csv.DictReader(rows)}


def claims(names: Sequence[str], catalog: Catalog | None = None) -> set[tuple[str, str]]:
    """`(name, product)` for every name a catalog product claims, as a dpkg package; findings
    implied by another product are not claims."""
    engine = Engine(default_catalog() if catalog is None else catalog)
    observations = [
        Observation.make("sweep", "package", f"n{number}", name, {"source": "dpkg"})
        for number, name in enumerate(names)
    ]
    found: set[tuple[str, str]] = set()
    for finding in engine.analyse(observations).findings:
        if finding.implied_by is None:
            found.add((names[int(finding.locus[1:])], finding.product))
    return found


def compare(
    names: Sequence[str], reviewed: set[tuple[str, str]], catalog: Catalog | None = None
) -> Difference:
    """What the catalog claims among `names`, against the reviewed claims."""
    made = claims(names, catalog)
    listed = {claim for claim in reviewed if claim[0] in set(names)}
    return Difference(sorted(made - listed), sorted(listed - made), len(names), len(made))


def apt_names(lists: Path = APT_LISTS, suites: Iterable[str] = SUITES) -> list[str]:
    """Package names of the Debian `suites` in this machine's apt lists (main, amd64)."""
    found: set[str] = set()
    for suite in suites:
        for path in sorted(lists.glob(f"*_dists_{suite}_main_binary-amd64_Packages*")):
            if path.suffix == ".lz4":
                text = subprocess.run(
                    ["lz4cat", str(path)], capture_output=True, text=True, check=True
                ).stdout
            elif path.suffix == ".gz":
                text = gzip.decompress(path.read_bytes()).decode("utf-8")
            else:
                text = path.read_text(encoding="utf-8")
            found.update(_packages(text))
    return sorted(found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fingerprints.sweep",
        description="Noms de paquets d'une archive entière passés au catalogue / "
        "a whole archive's package names through the catalog",
    )
    parser.add_argument("--names", type=Path, default=NAMES, help="liste de noms / names")
    parser.add_argument("--claims", type=Path, default=CLAIMS, help="revendications revues")
    parser.add_argument(
        "--update-names",
        action="store_true",
        help="reconstruire la liste livrée depuis les listes apt / rebuild from apt lists",
    )
    args = parser.parse_args(argv)
    if args.update_names:
        names = apt_names()
        if not names:
            print(f"aucune liste apt bookworm dans {APT_LISTS} / no apt lists", file=sys.stderr)
            return 2
        data = ("\n".join(names) + "\n").encode("utf-8")
        NAMES.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))  # same bytes each run
        print(f"{NAMES}: {len(names)} noms / names")
    if not args.names.is_file() or not args.claims.is_file():
        # The archive's names (300 kB) stay in the source tree: agents don't need them.
        missing = args.names if not args.names.is_file() else args.claims
        print(f"{missing} absent (dépôt source seulement / source tree only)", file=sys.stderr)
        return 2
    names = read_names(args.names)
    result = compare(names, read_claims(args.claims))
    print(f"{result.names} noms, {result.claims} revendiqués / names, claimed")
    for name, product in result.new:
        print(f"+ {name},{product}")
    for name, product in result.lost:
        print(f"- {name},{product}")
    return 0 if result.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
