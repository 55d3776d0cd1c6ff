"""The whole Debian 12 archive through the catalog (`fingerprints.sweep`): precision at scale.

The shipped catalog must claim exactly the reviewed names of `fingerprints/corpus/debian/
claims.csv` among the 63,681 package names of bookworm: a new claim is a possible false positive
(Debian's `slack` taken for Salesforce Slack), a lost one a lost detection. The comparison itself
is checked on the sample catalog (conftest), with a matcher written to swallow look-alikes.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from fingerprints.catalog import Catalog, load_catalog
from fingerprints.sweep import CLAIMS, NAMES, compare, main, read_claims, read_names


def test_shipped_names_are_the_debian_archive() -> None:
    names = read_names(NAMES)
    assert len(names) > 60_000
    # Well-known packages of bookworm main are there, and the list is sorted and unique.
    assert {"slack", "libreoffice-core", "openssh-server", "zoom-player", "firefox-esr"} <= set(
        names
    )
    assert names == sorted(set(names))


def test_the_catalog_claims_exactly_the_reviewed_debian_names() -> None:
    difference = compare(read_names(NAMES), read_claims())
    new = "\n".join(f"+ {name},{product}" for name, product in difference.new)
    lost = "\n".join(f"- {name},{product}" for name, product in difference.lost)
    assert difference.clean, (
        f"the catalog's claims on Debian's package names changed; review them and update "
        f"{CLAIMS} (python -m fingerprints.sweep):\n{new}\n{lost}"
    )
    # Debian's `slack` (a configuration tool) is not Salesforce Slack.
    assert not any(name == "slack" for name, _ in read_claims())


def test_a_swallowing_matcher_shows_as_new_claims(catalog_dir, samples, tmp_path: Path) -> None:
    reviewed = {("libreoffice-core", "libreoffice")}
    names = ["libreoffice-core", "libreoffice-core-nogui", "zoom-player", "slack"]
    sample: Catalog = load_catalog(catalog_dir(samples.files))
    assert compare(names, reviewed, sample).clean
    exact = 'kind = "exact"\npattern = "libreoffice-core"\n'
    assert exact in samples.tdf
    greedy = samples.tdf.replace(exact, 'kind = "prefix"\npattern = "libreoffice-core"\n')
    greedy = greedy.replace('no_match = ["libreoffice-core-nogui"]', 'no_match = ["zoom-player"]')
    swallowing = load_catalog(catalog_dir({**samples.files, "the-document-foundation": greedy}))
    difference = compare(names, reviewed, swallowing)
    assert difference.new == [("libreoffice-core-nogui", "libreoffice")]
    assert difference.lost == []
    # A reviewed claim the catalog stops making is reported as lost.
    lost = compare(names, reviewed | {("slack", "slack")}, sample)
    assert lost.lost == [("slack", "slack")] and lost.new == []


def test_names_are_read_from_a_packages_file_and_the_command_reports(
    tmp_path: Path, capsys
) -> None:
    packages = tmp_path / "Packages.gz"
    packages.write_bytes(
        gzip.compress(b"Package: slack\nVersion: 0.15\n\nPackage: openssh-server\nVersion: 9\n")
    )
    assert read_names(packages) == ["openssh-server", "slack"]
    claims = tmp_path / "claims.csv"
    claims.write_text("value,expected\n", encoding="utf-8")
    assert main(["--names", str(packages), "--claims", str(claims)]) == 1
    out = capsys.readouterr().out
    assert "+ openssh-server,openssh" in out and "slack" not in out.replace("openssh", "")
    claims.write_text("value,expected\nopenssh-server,openssh\n", encoding="utf-8")
    assert main(["--names", str(packages), "--claims", str(claims)]) == 0
