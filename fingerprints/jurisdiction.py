"""Who controls a vendor: its jurisdiction class, resolved along the parent chain.

A vendor is `eu` only when its own seat and the seat of every company above it, up to the ultimate
parent, are in the EU or the EEA: a French subsidiary of a US group is `non-eu`, and so is the US
subsidiary of a French group (it answers to US law where it operates). The class is the most exposed
one met along the chain, in the order non-eu > unknown > europe-other > eu. `community` is for an
open-source project without a controlling firm (`community = true` and no parent, or only community
parents); community members of a chain that also holds firms are skipped: the firms decide.
"""

from __future__ import annotations

from dataclasses import dataclass

from fingerprints.catalog import Catalog
from fingerprints.schema import Vendor
from inventory import Jurisdiction

EU_EEA = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        # EEA members outside the EU: same data protection rules, no extraterritorial reach.
        "IS", "LI", "NO",
    }
)  # fmt: skip
"""EU member states and the EEA, ISO 3166-1 alpha-2."""

EUROPE_OTHER = frozenset(
    {
        # Geographic Europe outside the EU/EEA, with the Crown Dependencies and Gibraltar.
        # Russia and Belarus are deliberately absent: they count as `non-eu`.
        "GB", "CH", "AD", "MC", "SM", "VA", "AL", "BA", "ME", "MK", "RS", "XK", "MD", "UA",
        "GE", "GI", "JE", "GG", "IM", "FO",
    }
)  # fmt: skip
"""European countries outside the EU/EEA (United Kingdom, Switzerland…)."""

_RANK = {
    Jurisdiction.EU: 0,
    Jurisdiction.EUROPE_OTHER: 1,
    Jurisdiction.UNKNOWN: 2,
    Jurisdiction.NON_EU: 3,
}


def country_class(country: str | None) -> Jurisdiction:
    """The jurisdiction class of one legal seat."""
    if country is None:
        return Jurisdiction.UNKNOWN
    if country in EU_EEA:
        return Jurisdiction.EU
    if country in EUROPE_OTHER:
        return Jurisdiction.EUROPE_OTHER
    return Jurisdiction.NON_EU


@dataclass(frozen=True, slots=True)
class Control:
    """A vendor's jurisdiction class, ultimate parent, and the laws and qualifications beside it."""

    jurisdiction: Jurisdiction
    controller: str
    controller_country: str | None
    exposures: tuple[str, ...]
    secnumcloud: tuple[str, ...]
    reason: str


def resolve(catalog: Catalog, vendor_id: str) -> Control:
    """Resolve a vendor's control through its parent chain (see the module docstring)."""
    chain = catalog.chain(vendor_id)
    top = chain[-1]
    exposures = tuple(sorted({e for vendor in chain for e in vendor.exposures}))
    secnumcloud = tuple(chain[0].secnumcloud)
    if all(vendor.community for vendor in chain):
        jurisdiction = Jurisdiction.COMMUNITY
        reason = f"{top.name}: projet communautaire / community project"
    else:
        jurisdiction, reason = _worst(chain)
    return Control(
        jurisdiction=jurisdiction,
        controller=top.id,
        controller_country=top.country,
        exposures=exposures,
        secnumcloud=secnumcloud,
        reason=reason,
    )


def _worst(chain: list[Vendor]) -> tuple[Jurisdiction, str]:
    firms = [vendor for vendor in chain if not vendor.community]
    worst = max(firms, key=lambda vendor: _RANK[country_class(vendor.country)])
    jurisdiction = country_class(worst.country)
    path = " → ".join(f"{vendor.name} ({vendor.country or '?'})" for vendor in chain)
    return jurisdiction, path
