"""Dependency scores: per finding, the TIE Break factors and their contributions; per organisation,
an index per category and overall, and euros per jurisdiction class.

Weights and values live in `fingerprints/scoring.toml`; `docs/scoring.md` explains them. A score is
`100 × Σ weight × value` where the weights of the factors that count are scaled to sum to 1, so the
contributions (`100 × weight × value`) add up to the score.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fingerprints.catalog import CatalogError, display_path
from fingerprints.jurisdiction import control_text
from inventory import Category, Criticality, Factor, Finding, Jurisdiction, Score, Usage

SCORING_FILE = Path(__file__).with_name("scoring.toml")

Replaceability = Literal["easy", "moderate", "hard"]
FactorName = Literal["control", "openness", "criticality", "replaceability", "money"]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Weights(_Table):
    """Relative weight of each factor."""

    control: float = Field(ge=0)
    openness: float = Field(ge=0)
    criticality: float = Field(ge=0)
    replaceability: float = Field(ge=0)
    money: float = Field(ge=0)


class ControlValues(_Table):
    """Value of the control factor per jurisdiction class."""

    eu: float = Field(ge=0, le=1)
    community: float = Field(ge=0, le=1)
    europe_other: float = Field(ge=0, le=1, alias="europe-other")
    unknown: float = Field(ge=0, le=1)
    non_eu: float = Field(ge=0, le=1, alias="non-eu")


class OpennessValues(_Table):
    """Value of the openness factor."""

    open_source: float = Field(ge=0, le=1, alias="open-source")
    proprietary: float = Field(ge=0, le=1)
    unknown: float = Field(ge=0, le=1)


class CriticalityValues(_Table):
    """Value of the criticality factor per level."""

    low: float = Field(ge=0, le=1)
    medium: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    critical: float = Field(ge=0, le=1)


class ReplaceabilityValues(_Table):
    """Value of the replaceability factor per migration effort."""

    easy: float = Field(ge=0, le=1)
    moderate: float = Field(ge=0, le=1)
    hard: float = Field(ge=0, le=1)
    no_alternative: float = Field(ge=0, le=1, alias="no-alternative")


class MoneyValues(_Table):
    """Annual cost at which the money factor reaches 1."""

    reference_eur: float = Field(gt=0, alias="reference-eur")


class IndexWeights(_Table):
    """Weight of a finding in the organisation's indexes, by criticality."""

    low: float = Field(ge=0)
    medium: float = Field(ge=0)
    high: float = Field(ge=0)
    critical: float = Field(ge=0)


class ScoringConfig(_Table):
    """The whole `scoring.toml`."""

    weights: Weights
    control: ControlValues
    openness: OpennessValues
    criticality: CriticalityValues
    replaceability: ReplaceabilityValues
    money: MoneyValues
    index: IndexWeights


def load_scoring(path: Path | None = None) -> ScoringConfig:
    """Read and validate a scoring file (default: the shipped one); CatalogError if malformed."""
    path = path or SCORING_FILE
    where = display_path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return ScoringConfig.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError([f"{where}: {exc}"]) from None
    except ValidationError as exc:
        raise CatalogError(
            [
                f"{where}: {'.'.join(map(str, error['loc']))}: {error['msg']}"
                for error in exc.errors()
            ]
        ) from None


@lru_cache(maxsize=1)
def default_scoring() -> ScoringConfig:
    """The shipped scoring file, read once per process."""
    return load_scoring()


_CONTROL_FIELD = {
    Jurisdiction.EU: "eu",
    Jurisdiction.COMMUNITY: "community",
    Jurisdiction.EUROPE_OTHER: "europe_other",
    Jurisdiction.UNKNOWN: "unknown",
    Jurisdiction.NON_EU: "non_eu",
}

_CONTROL_REASON = {
    Jurisdiction.EU: "contrôle européen (UE/EEE) / European control (EU/EEA)",
    Jurisdiction.COMMUNITY: "projet communautaire / community project",
    Jurisdiction.EUROPE_OTHER: "contrôle européen hors UE / European control outside the EU",
    Jurisdiction.UNKNOWN: "contrôle inconnu / unknown control",
    Jurisdiction.NON_EU: "contrôle non européen / non-European control",
}


def score(
    config: ScoringConfig,
    *,
    jurisdiction: Jurisdiction,
    open_source: bool | None,
    criticality: Criticality,
    replaceability: Replaceability,
    alternatives: int,
    annual_cost_eur: float | None,
    controller: str | None = None,
    vendor: str | None = None,
    vendor_country: str | None = None,
    controller_country: str | None = None,
    through: tuple[tuple[str, str | None], ...] = (),
) -> Score:
    """The dependency score of one finding, with each factor's value, weight and reason.

    The control factor's reason names both axes when `vendor` is given: where the vendor is
    registered, and who controls it (`controller`, the ultimate parent's name) from where, through
    which companies (`through`).
    """
    terms: list[tuple[FactorName, float, float, str]] = []
    weights = config.weights
    control_reason = _CONTROL_REASON[jurisdiction]
    if vendor:
        french, english = control_reason.split(" / ", 1)
        axes = (vendor, vendor_country, controller, controller_country)
        control_reason = (
            f"{french} — {control_text(*axes, through=through)} / "
            f"{english} — {control_text(*axes, english=True, through=through)}"
        )
    elif controller:
        control_reason += f" — {controller}"
    terms.append(
        (
            "control",
            getattr(config.control, _CONTROL_FIELD[jurisdiction]),
            weights.control,
            control_reason,
        )
    )
    if open_source is None:
        openness = (config.openness.unknown, "licence inconnue / unknown licence")
    elif open_source:
        openness = (config.openness.open_source, "logiciel libre / open source")
    else:
        openness = (config.openness.proprietary, "propriétaire / proprietary")
    terms.append(("openness", openness[0], weights.openness, openness[1]))
    terms.append(
        (
            "criticality",
            getattr(config.criticality, criticality.value),
            weights.criticality,
            f"criticité {criticality.value} / criticality {criticality.value}",
        )
    )
    if alternatives:
        replace_value = getattr(config.replaceability, replaceability)
        replace_reason = (
            f"migration {replaceability}, {alternatives} alternative(s) connue(s) / "
            f"{replaceability} migration, {alternatives} known alternative(s)"
        )
    else:
        replace_value = config.replaceability.no_alternative
        replace_reason = "aucune alternative connue / no known alternative"
    terms.append(("replaceability", replace_value, weights.replaceability, replace_reason))
    if annual_cost_eur is None:
        terms.append(("money", 0.0, 0.0, "coût inconnu, non compté / unknown cost, not counted"))
    else:
        reference = config.money.reference_eur
        terms.append(
            (
                "money",
                min(1.0, annual_cost_eur / reference),
                weights.money,
                f"{annual_cost_eur:.0f} €/an, plein à {reference:.0f} € / "
                f"{annual_cost_eur:.0f} €/year, full at {reference:.0f} €",
            )
        )
    total = sum(weight for _name, _value, weight, _reason in terms) or 1.0
    factors = []
    for name, value, weight, reason in terms:
        share = round(weight / total, 4)
        factors.append(
            Factor(
                name=name,
                value=round(value, 4),
                weight=share,
                contribution=round(100 * share * round(value, 4), 2),
                reason=reason,
            )
        )
    return Score(value=min(100.0, round(sum(f.contribution for f in factors), 2)), factors=factors)


def organisation_indexes(
    findings: Iterable[Finding], config: ScoringConfig
) -> tuple[dict[str, float], dict[str, float]]:
    """Dependency index per category and `overall` (0–100), and euros per jurisdiction class.

    An index is the mean of the findings' scores weighted by their criticality (`[index]`);
    findings used only formerly are left out of both.
    """
    sums: dict[str, float] = defaultdict(float)
    weights: dict[str, float] = defaultdict(float)
    euros: dict[str, float] = defaultdict(float)
    for finding in findings:
        if finding.usage is Usage.FORMER:
            continue
        if finding.annual_cost_eur is not None:
            euros[finding.jurisdiction.value] += finding.annual_cost_eur
        if finding.score is None:
            continue
        weight = getattr(config.index, finding.criticality.value)
        for key in (finding.category.value, "overall"):
            sums[key] += weight * finding.score.value
            weights[key] += weight
    order = [*(c.value for c in Category), "overall"]
    index = {key: round(sums[key] / weights[key], 1) for key in order if weights.get(key)}
    return index, {key: round(value, 2) for key, value in sorted(euros.items())}
