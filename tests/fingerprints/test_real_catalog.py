"""The shipped catalog: every file is valid, every example holds, the whole loads and covers enough.

`test_examples` runs every `match` / `no_match` example of every matcher, one test per file, so a
failure names the file, the product and the matcher.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fingerprints.catalog import CATALOG_DIR, load_catalog, parse_file
from fingerprints.engine import analyse
from fingerprints.index import MatcherRef, MatchIndex, check_examples, fires, label
from inventory import Confidence, Observation

FILES = sorted(CATALOG_DIR.glob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_examples(path: Path) -> None:
    content, problems = parse_file(path)
    assert problems == []
    assert content is not None
    refs = [
        MatcherRef(product.id, number, matcher, label(matcher))
        for product in content.products
        for number, matcher in enumerate(product.matchers)
    ]
    index = MatchIndex(refs)
    failures = []
    for ref in refs:
        where = f"{path.name}: {ref.product} matchers[{ref.position}] ({ref.label})"
        for example in ref.matcher.match:
            if not fires(index, ref, example):
                failures.append(f"{where}: match {example!r} does not match")
        for example in ref.matcher.no_match:
            if fires(index, ref, example):
                failures.append(f"{where}: no_match {example!r} matches")
    assert failures == []


def test_whole_catalog_loads_and_examples_hold_together() -> None:
    """References across files resolve, and examples still hold once all regexes are combined."""
    catalog = load_catalog()
    assert check_examples(catalog) == []


@pytest.mark.coverage_target
def test_coverage_targets() -> None:
    """Issue 3 asks for at least 250 products from at least 100 vendors."""
    catalog = load_catalog()
    assert len(catalog.products) >= 250
    assert len(catalog.vendors) >= 100


@pytest.mark.parametrize(
    ("channel", "value", "product", "confidence"),
    [
        # The bare Click-to-Run name: a business subscription, a consumer one or an OEM trial.
        ("package.windows", "Microsoft 365 - fr-fr", "microsoft-365-apps", Confidence.WEAK),
        (
            "package.windows",
            "Microsoft 365 Apps for enterprise - fr-fr",
            "microsoft-365-apps",
            Confidence.STRONG,
        ),
        # Consumer Defender and Defender for Endpoint are the same Mac app.
        ("package.macos", "com.microsoft.wdav", "microsoft-defender", Confidence.WEAK),
        # The 64-bit Reader runs Acrobat.exe and AcroCEF.exe too.
        ("process", "Acrobat.exe", "adobe-acrobat", Confidence.WEAK),
        ("process", "AcroCEF.exe", "adobe-acrobat", Confidence.WEAK),
        ("package.windows", "Adobe Acrobat (64-bit)", "adobe-acrobat", Confidence.STRONG),
    ],
)
def test_names_shared_by_several_offers_are_weak_evidence(
    channel: str, value: str, product: str, confidence: Confidence
) -> None:
    """A name that several offers carry is a finding to confirm, not a certainty, and so is the
    product it implies (the Microsoft 365 tenant behind the desktop apps)."""
    found = analyse([Observation.make("host", channel, "poste-1", value, {})])
    by_product = {finding.product: finding for finding in found.findings}
    assert by_product[product].confidence is confidence
    for implied in by_product.values():
        if implied.implied_by == product:
            assert implied.confidence is confidence
