"""Who controls a vendor: its jurisdiction class, resolved along the parent chain.

A vendor is `eu` only when its own seat and the seat of every company above it, up to the ultimate
parent, are in the EU or the EEA: a French subsidiary of a US group is `non-eu`, and so is the US
subsidiary of a French group (it answers to US law where it operates). The class is the most exposed
one met along the chain, in the order non-eu > unknown > europe-other > eu. `community` is for an
open-source project without a controlling firm (`community = true` and no parent, or only community
parents); community members of a chain that also holds firms are skipped: the firms decide.

Exposure to extraterritorial law follows the same chain, by one rule: each firm along the chain
brings the laws of its country (`LAWS_BY_COUNTRY`), so every vendor controlled from the United
States, or holding a US company between it and its parent, carries the CLOUD Act and FISA section
702. A catalog file lists `exposures` only for vendor-specific facts the rule cannot derive.

Two axes are kept apart: where the vendor is registered (its own `country`) and who controls it (the
ultimate parent and its country). `control_text` says both, for findings and score explanations.
"""

from __future__ import annotations

from collections.abc import Sequence
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

LAWS_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    # CLOUD Act, 18 U.S.C. 2713 (2018): a provider under US jurisdiction discloses data in its
    # "possession, custody, or control", wherever stored. FISA section 702, 50 U.S.C. 1881a:
    # directives to US electronic communication service providers about non-US persons abroad.
    "US": ("us-cloud-act", "us-fisa-702"),
    # National Intelligence Law of the PRC (2017), art. 7: organisations support, assist and
    # cooperate with state intelligence work.
    "CN": ("cn-national-intelligence-law",),
    # Federal Law No. 40-FZ "On the Federal Security Service" (1995), art. 15: legal entities
    # assist the FSB.
    "RU": ("ru-fsb-law",),
}
"""Extraterritorial laws that reach a firm registered in a country, whatever it sells."""

COUNTRY_NAMES: dict[str, tuple[str, str, str]] = {
    # code: (French name, English name, French "in the country")
    "AT": ("Autriche", "Austria", "en Autriche"), "AU": ("Australie", "Australia", "en Australie"),
    "BE": ("Belgique", "Belgium", "en Belgique"), "CA": ("Canada", "Canada", "au Canada"),
    "CH": ("Suisse", "Switzerland", "en Suisse"), "CN": ("Chine", "China", "en Chine"),
    "CY": ("Chypre", "Cyprus", "à Chypre"), "CZ": ("Tchéquie", "Czechia", "en Tchéquie"),
    "DE": ("Allemagne", "Germany", "en Allemagne"), "DK": ("Danemark", "Denmark", "au Danemark"),
    "ES": ("Espagne", "Spain", "en Espagne"), "FI": ("Finlande", "Finland", "en Finlande"),
    "FR": ("France", "France", "en France"),
    "GB": ("Royaume-Uni", "United Kingdom", "au Royaume-Uni"),
    "GR": ("Grèce", "Greece", "en Grèce"), "IE": ("Irlande", "Ireland", "en Irlande"),
    "IL": ("Israël", "Israel", "en Israël"), "IN": ("Inde", "India", "en Inde"),
    "IT": ("Italie", "Italy", "en Italie"), "JP": ("Japon", "Japan", "au Japon"),
    "LU": ("Luxembourg", "Luxembourg", "au Luxembourg"),
    "LV": ("Lettonie", "Latvia", "en Lettonie"),
    "NL": ("Pays-Bas", "Netherlands", "aux Pays-Bas"), "NO": ("Norvège", "Norway", "en Norvège"),
    "NZ": ("Nouvelle-Zélande", "New Zealand", "en Nouvelle-Zélande"),
    "RO": ("Roumanie", "Romania", "en Roumanie"), "RU": ("Russie", "Russia", "en Russie"),
    "SE": ("Suède", "Sweden", "en Suède"), "SI": ("Slovénie", "Slovenia", "en Slovénie"),
    "SK": ("Slovaquie", "Slovakia", "en Slovaquie"), "TW": ("Taïwan", "Taiwan", "à Taïwan"),
    "US": ("États-Unis", "United States", "aux États-Unis"),
}  # fmt: skip
"""Country names for people (French, English); other codes are shown as they are."""

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
    listed = {law for vendor in chain for law in vendor.exposures}
    exposures = tuple(sorted(listed.union(derived_exposures(chain))))
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


def derived_exposures(chain: list[Vendor]) -> tuple[str, ...]:
    """The laws the firms along a chain bring by their country (community projects bring none)."""
    laws = {
        law
        for vendor in chain
        if not vendor.community and vendor.country is not None
        for law in LAWS_BY_COUNTRY.get(vendor.country, ())
    }
    return tuple(sorted(laws))


def country_name(country: str | None, english: bool = False) -> str:
    """A country as people read it: "France (FR)"; "?" when unknown."""
    if country is None:
        return "?"
    names = COUNTRY_NAMES.get(country)
    if names is None:
        return country
    return f"{names[1] if english else names[0]} ({country})"


def _registered_in(country: str | None, english: bool) -> str:
    names = COUNTRY_NAMES.get(country or "")
    if english:
        the = "the " if country in {"US", "GB", "NL"} else ""
        return f"registered in {the}{country_name(country, english=True)}"
    if country is None:
        return "immatriculé dans un pays inconnu"
    if names is None:
        return f"immatriculé au pays {country}"
    return f"immatriculé {names[2]} ({country})"


def control_text(
    vendor: str,
    vendor_country: str | None,
    controller: str | None,
    controller_country: str | None,
    english: bool = False,
    through: Sequence[tuple[str, str | None]] = (),
) -> str:
    """Both axes in one sentence: where the vendor is registered, who controls it from where,
    and through which companies (`through`: name and country of each, vendor side first)."""
    seat = _registered_in(vendor_country, english)
    separator = ":" if english else " :"
    if not controller or controller == vendor:
        above = "no company above it" if english else "sans société au-dessus"
        return f"{vendor}{separator} {seat}, {above}"
    controlled = "controlled by" if english else "contrôlé par"
    boss = _firm(controller, controller_country, english)
    text = f"{vendor}{separator} {seat}, {controlled} {boss}"
    if through:
        firms = ", ".join(_firm(name, country, english) for name, country in through)
        text += f" {'through' if english else 'via'} {firms}"
    return text


def _firm(name: str, country: str | None, english: bool) -> str:
    """ "Silver Lake (États-Unis, US)" """
    if country is None or country not in COUNTRY_NAMES:
        return f"{name} ({country or '?'})"
    return f"{name} ({COUNTRY_NAMES[country][1 if english else 0]}, {country})"


def _worst(chain: list[Vendor]) -> tuple[Jurisdiction, str]:
    firms = [vendor for vendor in chain if not vendor.community]
    worst = max(firms, key=lambda vendor: _RANK[country_class(vendor.country)])
    jurisdiction = country_class(worst.country)
    path = " → ".join(f"{vendor.name} ({vendor.country or '?'})" for vendor in chain)
    return jurisdiction, path


DISTRIBUTIONS: dict[str, str] = {
    # Lower-case word of a package's publisher (dpkg Maintainer, rpm Vendor, apk maintainer)
    # → the distribution that builds it.
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "fedora": "Fedora",
    "red hat": "Red Hat",
    "centos": "CentOS",
    "rocky": "Rocky Linux",
    "almalinux": "AlmaLinux",
    "alpine": "Alpine Linux",
    "opensuse": "openSUSE",
    "suse": "SUSE",
}
"""Distributions recognised in a Linux package's publisher, first match wins."""

DISTRIBUTION_SOURCES = frozenset({"dpkg", "rpm", "apk"})
"""Package managers whose packages a distribution builds (snaps and flatpaks are often the
vendor's own)."""


def distributor(source: object, publisher: object) -> str | None:
    """The distribution that built a Linux package, from its manager and publisher; None when the
    package is not a distribution's (the vendor's own repository, a snap, an unknown packager)."""
    if source not in DISTRIBUTION_SOURCES or not isinstance(publisher, str):
        return None
    text = publisher.lower()
    return next((name for word, name in DISTRIBUTIONS.items() if word in text), None)


def dependency_note(developer: str, country: str | None, distributors: list[str]) -> str:
    """What a collectivité depends on when a distribution builds a firm's open-source software."""
    where = f" ({country})" if country else ""
    names = ", ".join(distributors)
    return (
        f"logiciel libre développé par {developer}{where}, distribué par {names} : la dépendance "
        f"est au projet, pas à un contrat / open-source software developed by {developer}{where}, "
        f"distributed by {names}: the dependency is on the project, not on a contract"
    )
