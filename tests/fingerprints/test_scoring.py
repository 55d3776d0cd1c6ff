"""Dependency scores explain themselves; organisation indexes and euros per jurisdiction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingerprints.catalog import CatalogError
from fingerprints.scoring import (
    SCORING_FILE,
    default_scoring,
    load_scoring,
    organisation_indexes,
    score,
)
from inventory import Category, Confidence, Criticality, Finding, Jurisdiction, Usage


@given(
    jurisdiction=st.sampled_from(Jurisdiction),
    open_source=st.sampled_from([True, False, None]),
    criticality=st.sampled_from(Criticality),
    replaceability=st.sampled_from(["easy", "moderate", "hard"]),
    alternatives=st.integers(0, 3),
    cost=st.one_of(st.none(), st.floats(0, 10_000_000)),
)
def test_contributions_sum_to_the_score(
    jurisdiction, open_source, criticality, replaceability, alternatives, cost
) -> None:
    result = score(
        default_scoring(),
        jurisdiction=jurisdiction,
        open_source=open_source,
        criticality=criticality,
        replaceability=replaceability,
        alternatives=alternatives,
        annual_cost_eur=cost,
    )
    assert [f.name for f in result.factors] == [
        "control", "openness", "criticality", "replaceability", "money",
    ]  # fmt: skip
    assert result.value == pytest.approx(sum(f.contribution for f in result.factors), abs=0.011)
    for factor in result.factors:
        assert factor.contribution == pytest.approx(100 * factor.weight * factor.value, abs=0.01)
        assert factor.reason
    assert sum(f.weight for f in result.factors) == pytest.approx(1, abs=0.001)
    assert 0 <= result.value <= 100


def test_money_counts_only_when_the_cost_is_known() -> None:
    config = default_scoring()
    common = dict(
        jurisdiction=Jurisdiction.NON_EU,
        open_source=False,
        criticality=Criticality.CRITICAL,
        replaceability="hard",
        alternatives=1,
    )
    unknown = score(config, annual_cost_eur=None, **common)  # type: ignore[arg-type]
    money = unknown.factors[-1]
    assert money.weight == 0 and money.contribution == 0 and "inconnu" in money.reason
    cheap = score(config, annual_cost_eur=1000, **common)  # type: ignore[arg-type]
    assert cheap.value < unknown.value  # a known small cost dilutes the other factors
    costly = score(config, annual_cost_eur=1_000_000, **common)  # type: ignore[arg-type]
    assert costly.factors[-1].value == 1 and costly.value == pytest.approx(98.5, abs=0.05)


def test_european_open_source_scores_lower_than_us_proprietary() -> None:
    config = default_scoring()
    eu = score(
        config, jurisdiction=Jurisdiction.EU, open_source=True, criticality=Criticality.HIGH,
        replaceability="easy", alternatives=2, annual_cost_eur=None,
    )  # fmt: skip
    us = score(
        config, jurisdiction=Jurisdiction.NON_EU, open_source=False,
        criticality=Criticality.HIGH, replaceability="hard", alternatives=2, annual_cost_eur=None,
    )  # fmt: skip
    assert eu.factors[0].value == 0 and us.factors[0].value == 1
    assert eu.value < 30 < 80 < us.value


def finding(category: Category, value: float, criticality: Criticality, **more: object) -> Finding:
    from inventory import Score

    return Finding(
        id=f"f-{category.value}-{value}",
        product="p",
        product_name="P",
        vendor="v",
        vendor_name="V",
        jurisdiction=more.pop("jurisdiction", Jurisdiction.NON_EU),  # type: ignore[arg-type]
        category=category,
        domain="d",
        locus="l",
        confidence=Confidence.STRONG,
        criticality=criticality,
        evidence=[],
        score=Score(value=value, factors=[]),
        **more,  # type: ignore[arg-type]
    )


def test_organisation_indexes_weight_by_criticality_and_skip_former() -> None:
    findings = [
        finding(Category.INFRASTRUCTURE, 90, Criticality.CRITICAL, annual_cost_eur=1000),
        finding(Category.INFRASTRUCTURE, 10, Criticality.LOW, jurisdiction=Jurisdiction.EU,
                annual_cost_eur=500),
        finding(Category.LOGICIEL, 50, Criticality.MEDIUM, usage=Usage.FORMER, annual_cost_eur=7),
    ]  # fmt: skip
    index, euros = organisation_indexes(findings, default_scoring())
    # (4 × 90 + 1 × 10) / 5 = 74
    assert index == {"infrastructure": 74.0, "overall": 74.0}
    assert euros == {"eu": 500.0, "non-eu": 1000.0}


def test_scoring_file_rejects_unknown_keys(tmp_path: Path) -> None:
    broken = tmp_path / "scoring.toml"
    broken.write_text(SCORING_FILE.read_text().replace("[money]", "[money]\ncurrency = 'EUR'"))
    with pytest.raises(CatalogError, match=r"scoring.toml: money.currency: Extra inputs"):
        load_scoring(broken)


def test_examples_of_docs_scoring_md() -> None:
    config = default_scoring()
    exchange = score(
        config, jurisdiction=Jurisdiction.NON_EU, open_source=False,
        criticality=Criticality.CRITICAL, replaceability="hard", alternatives=3,
        annual_cost_eur=None,
    )  # fmt: skip
    assert [f.contribution for f in exchange.factors] == [38.89, 22.22, 22.22, 15.0, 0.0]
    assert exchange.value == 98.33
    libreoffice = score(
        config, jurisdiction=Jurisdiction.EU, open_source=True, criticality=Criticality.HIGH,
        replaceability="easy", alternatives=1, annual_cost_eur=None,
    )  # fmt: skip
    assert libreoffice.value == 20.0
