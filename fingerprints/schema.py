"""Schema of the catalog files (`fingerprints/catalog/<vendor>.toml`): one vendor and its products.

Unknown keys are refused everywhere. `docs/catalog.md` documents every field and channel.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from inventory import Category, Confidence, Criticality, Usage
from inventory.channels import (
    IP_CHANNELS,
    MATCHABLE,
    MATCHER_ATTRIBUTES,
    Channel,
)
from inventory.domains import DOMAINS
from inventory.folders import SHARED_FOLDERS

KEBAB = r"^[a-z0-9]+(-[a-z0-9]+)*$"
DOMAIN = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
NUMBERED_BACKREFERENCE = re.compile(r"(?<!\\)(\\\\)*\\[1-9]")
GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")
TEAM_ID = re.compile(r"[A-Z0-9]{10}")  # an Apple Developer Team ID, as code signatures hold it


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchKind(StrEnum):
    """How a matcher's pattern is compared with an observation's value."""

    EXACT = "exact"  # equal, case-insensitive
    SUFFIX = "suffix"  # DNS name equal to the pattern or ending with "." + pattern
    PREFIX = "prefix"  # string starting with the pattern, case-insensitive ("MS=")
    CIDR = "cidr"  # IP address inside the network
    CPE = "cpe"  # "vendor:product" of a CPE 2.2 or 2.3 string
    REGEX = "regex"  # Python regex, full match, case-insensitive; named groups are captured


Example = str | dict[str, str]
"""A matcher example: a value alone, or `{ value = "slack", source = "snap" }`: a value with the
attributes of the observation that carries it."""


def example_parts(example: Example) -> tuple[str, dict[str, str]]:
    """`(value, attributes)` of a matcher example."""
    if isinstance(example, str):
        return example, {}
    attributes = dict(example)
    return attributes.pop("value"), attributes


class Matcher(_Strict):
    """One way of recognising a product from one channel, with examples that prove it."""

    channel: Channel
    kind: MatchKind
    pattern: str = Field(min_length=1)
    require: dict[str, str] = Field(
        default_factory=dict,
        description="attribute name -> regex its text must match in full (case-insensitive)",
    )
    confidence: Confidence = Confidence.STRONG
    usage: Usage | None = Field(
        default=None, description="usage this evidence suggests when it stands alone"
    )
    match: list[Example] = Field(min_length=1, description="values that must match")
    no_match: list[Example] = Field(min_length=1, description="values that must not match")
    note: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_is_valid(cls, pattern: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        channel = info.data.get("channel")
        if channel is not None and channel not in MATCHABLE:
            raise ValueError(
                f"channel {channel} is informational: no matcher listens to it "
                f"(matcher channels: {', '.join(sorted(MATCHABLE))})"
            )
        if kind is MatchKind.CIDR:
            if channel not in IP_CHANNELS:
                raise ValueError(f"cidr matchers listen to {', '.join(sorted(IP_CHANNELS))}")
            ipaddress.ip_network(pattern, strict=True)
        elif kind is MatchKind.REGEX:
            check_regex(pattern)
        elif kind is MatchKind.SUFFIX and (
            pattern.startswith(".") or pattern.endswith(".") or not DOMAIN.fullmatch(pattern)
        ):
            raise ValueError("suffix pattern is a bare domain name, without leading dot")
        elif kind is MatchKind.CPE:
            if channel is not Channel.NMAP_CPE:
                raise ValueError("cpe matchers listen to nmap.cpe")
            if pattern.count(":") != 1:
                raise ValueError("cpe pattern is 'vendor:product'")
        return pattern

    @model_validator(mode="after")
    def _attributes_exist(self) -> Matcher:
        carried = MATCHER_ATTRIBUTES.get(self.channel, frozenset())
        listed = ", ".join(sorted(carried)) or "-"
        for name, regex in self.require.items():
            if name not in carried:
                raise ValueError(
                    f"require.{name}: le canal {self.channel.value} ne porte jamais cet attribut "
                    f"(attributs : {listed}) / channel {self.channel.value} never carries this "
                    f"attribute (attributes: {listed})"
                )
            try:
                check_regex(regex)
            except ValueError as exc:
                raise ValueError(f"require.{name}: {exc}") from None
        for key in ("match", "no_match"):
            for position, example in enumerate(getattr(self, key)):
                if isinstance(example, str):
                    continue
                if not isinstance(example.get("value"), str):
                    raise ValueError(
                        f"{key}[{position}]: exemple sans clé value / example without a value key"
                    )
                unknown = sorted(set(example) - {"value"} - carried)
                if unknown:
                    raise ValueError(
                        f"{key}[{position}]: le canal {self.channel.value} ne porte jamais "
                        f"{', '.join(unknown)} (attributs : {listed}) / channel "
                        f"{self.channel.value} never carries {', '.join(unknown)} "
                        f"(attributes: {listed})"
                    )
        return self

    def accepts(self, attributes: Mapping[str, object]) -> bool:
        """Whether an observation's attributes meet `require` (always, without conditions)."""
        for name, regex in self.require.items():
            text = attributes.get(name)
            if not isinstance(text, str) or not re.fullmatch(regex, text.strip(), re.IGNORECASE):
                return False
        return True


def check_regex(pattern: str) -> None:
    """Refuse what cannot be combined with other patterns in one alternation; compile the rest."""
    if NUMBERED_BACKREFERENCE.search(pattern):
        raise ValueError("numbered back-references (\\1) are not allowed; use (?P=name)")
    if GLOBAL_FLAGS.match(pattern):
        raise ValueError(
            "inline global flags are not allowed: matching is already case-insensitive"
        )
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid regex: {exc}") from None


PriceUnit = Literal["user", "device", "server", "organisation"]


class Price(_Strict):
    """A public reference price: euros per year for one unit, with where and when it was read.

    Either `eur_per_year` (with its `unit`) or `not_estimable` (why no price applies: usage-priced
    clouds, prices negotiated per contract). Both need a `source` and a `date`: nothing is
    estimated without a sourced price, and "not estimable" is a fact with a source too.
    """

    unit: PriceUnit | None = Field(default=None, description="what one price buys")
    eur_per_year: float | None = Field(default=None, gt=0, le=1_000_000)
    not_estimable: str | None = Field(default=None, min_length=10)
    offer: str | None = Field(default=None, description="the offer the price is for")
    source: str = Field(min_length=10, description="who publishes the price, which page")
    url: str | None = Field(default=None, pattern=r"^https://")
    date: datetime.date = Field(description="when the price was read")

    @model_validator(mode="after")
    def _price_or_reason(self) -> Price:
        if self.not_estimable is None:
            if self.eur_per_year is None or self.unit is None:
                raise ValueError(
                    "a price needs eur_per_year and unit, or not_estimable with the reason"
                )
        elif self.eur_per_year is not None or self.unit is not None:
            raise ValueError("not_estimable excludes eur_per_year and unit")
        return self


class SupportEnd(_Strict):
    """When the vendor stops supporting a release: security updates end, the release is at risk.

    `release` is a regex matched in full, case-insensitively, against the value of the counted
    observations of the product (a computer's "operatingSystem operatingSystemVersion" from the
    directory, "Windows 10 Pro 10.0 (19045)"); the first entry that matches gives the date.
    """

    release: str = Field(min_length=1, description="regex over the observed release")
    label: str = Field(min_length=1, description="the release as people name it: Windows 10")
    ends: datetime.date = Field(description="last day of security updates (extended support)")
    source: str = Field(min_length=10, description="who publishes the date, which page")
    url: str | None = Field(default=None, pattern=r"^https://")
    match: list[str] = Field(min_length=1, description="observed releases that must match")
    no_match: list[str] = Field(default_factory=list)

    @field_validator("release")
    @classmethod
    def _release_is_a_regex(cls, release: str) -> str:
        check_regex(release)
        return release

    @model_validator(mode="after")
    def _examples_hold(self) -> SupportEnd:
        pattern = re.compile(self.release, re.IGNORECASE)
        for example in self.match:
            if not pattern.fullmatch(example):
                raise ValueError(f"release {self.release!r} does not match {example!r}")
        for example in self.no_match:
            if pattern.fullmatch(example):
                raise ValueError(f"release {self.release!r} matches {example!r}")
        return self

    def covers(self, observed: str) -> bool:
        """Whether this entry is about the observed release."""
        return re.fullmatch(self.release, observed, re.IGNORECASE) is not None


class Product(_Strict):
    """A product or service, its TIE Break classification and how to recognise it."""

    id: str = Field(pattern=KEBAB)
    name: str
    category: Category
    domain: str = Field(pattern=KEBAB)
    licence: str
    open_source: bool
    deployment: Literal["on-premise", "saas", "hybrid"]
    cpe: str | None = Field(default=None, description="CPE 'vendor:product'")
    sill: str | None = Field(default=None, description="SILL id")
    wikidata: str | None = Field(default=None, pattern=r"^Q[0-9]+$")
    alternatives: list[str] = Field(default_factory=list)
    criticality: Criticality = Criticality.MEDIUM
    replaceability: Literal["easy", "moderate", "hard"] = "moderate"
    implies: list[str] = Field(default_factory=list)
    supersedes: list[str] = Field(
        default_factory=list,
        description="products whose weak-only findings this one replaces at the same locus",
    )
    matchers: list[Matcher] = Field(default_factory=list)
    price: Price | None = Field(default=None, description="public reference price, sourced")
    support: list[SupportEnd] = Field(
        default_factory=list, description="end of support of releases, for counted findings"
    )
    note: str | None = None

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, domain: str) -> str:
        if domain not in DOMAINS:
            raise ValueError(
                f"domaine inconnu {domain!r} : à nommer dans inventory/domains.py / unknown "
                f"domain {domain!r}: name it in inventory/domains.py (known: "
                f"{', '.join(sorted(DOMAINS))})"
            )
        return domain

    def support_end(self, observed: str) -> SupportEnd | None:
        """The end of support of an observed release, when the catalog knows it."""
        return next((entry for entry in self.support if entry.covers(observed)), None)


class Vendor(_Strict):
    """A vendor, where its legal seat is, who controls it and which laws reach it."""

    id: str = Field(pattern=KEBAB)
    name: str
    legal_name: str
    country: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2; left out: unknown (explain in sources) or community",
    )
    parent: str | None = Field(default=None, pattern=KEBAB)
    community: bool = Field(default=False, description="open-source project, no controlling firm")
    website: str
    exposures: list[str] = Field(default_factory=list)
    secnumcloud: list[str] = Field(
        default_factory=list, description="offers qualified SecNumCloud by ANSSI"
    )
    publishers: list[str] = Field(
        default_factory=list,
        description="Publisher names its Windows programs carry: a program no matcher knows "
        "whose Publisher is one of them is a weak, vendor-level finding",
    )
    team_ids: list[str] = Field(
        default_factory=list,
        description="Apple Team IDs that sign its macOS apps: an app no matcher knows whose "
        "signature names one of them is a weak, vendor-level finding",
    )
    folders: list[str] = Field(
        default_factory=list,
        description="install folders of its programs (`C:\\Program Files\\<folder>`, "
        "`/opt/<folder>`): a process no matcher knows whose executable lives in one of them is a "
        "weak, vendor-level finding",
    )
    sources: dict[str, str] = Field(
        description="one note per fact: country, parent, exposures, secnumcloud, publishers, "
        "team_ids, folders"
    )

    @field_validator("publishers")
    @classmethod
    def _distinct_publishers(cls, values: list[str]) -> list[str]:
        seen: set[str] = set()
        for value in values:
            key = publisher_key(value)
            if not key:
                raise ValueError("publisher vide / empty publisher")
            if key in seen:
                raise ValueError(f"publisher en double / duplicate publisher {value!r}")
            seen.add(key)
        return values

    @field_validator("team_ids")
    @classmethod
    def _team_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not TEAM_ID.fullmatch(value):
                raise ValueError(
                    f"team id {value!r}: 10 lettres majuscules ou chiffres / "
                    "10 upper-case letters or digits"
                )
        if len(set(values)) != len(values):
            raise ValueError("team id en double / duplicate team id")
        return values

    @field_validator("folders")
    @classmethod
    def _folders(cls, values: list[str]) -> list[str]:
        seen: set[str] = set()
        for value in values:
            key = publisher_key(value)
            if not key or any(c in value for c in "/\\") or not value.isprintable():
                raise ValueError(
                    f"dossier {value!r} : un seul nom de dossier, sans / ni \\ / folder "
                    f"{value!r}: one folder name, without / or \\"
                )
            if key in SHARED_FOLDERS:
                raise ValueError(
                    f"dossier partagé {value!r} : il ne désigne aucun fournisseur / shared "
                    f"folder {value!r}: it names no vendor"
                )
            if key in seen:
                raise ValueError(f"dossier en double / duplicate folder {value!r}")
            seen.add(key)
        return values

    @field_validator("exposures")
    @classmethod
    def _known_exposures(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(KEBAB, value):
                raise ValueError(f"exposure {value!r} is not kebab-case")
        return values

    @field_validator("sources")
    @classmethod
    def _facts_have_sources(cls, sources: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        # A left-out country is a fact too ("seat unknown"), except for a community project.
        needed = (
            set() if info.data.get("community") and not info.data.get("country") else {"country"}
        )
        for fact in ("parent", "exposures", "secnumcloud", "publishers", "team_ids", "folders"):
            if info.data.get(fact):
                needed.add(fact)
        missing = needed - set(sources)
        if missing:
            raise ValueError(f"sources lacks a note for {', '.join(sorted(missing))}")
        return sources


def publisher_key(publisher: str) -> str:
    """A Publisher as compared: case-folded, white space collapsed, without a final dot
    ("Cisco Systems, Inc" and "Cisco Systems, Inc." are one publisher)."""
    return " ".join(publisher.split()).casefold().rstrip(".").rstrip()


class CatalogFile(_Strict):
    """One catalog file: a vendor and its products."""

    vendor: Vendor
    products: list[Product] = Field(default_factory=list)
